// `auto` sensor partitioning: this node is a member of the gale.sensor-owners consumer group on
// the gale.sensor-owners topic (one partition per ownership slot, nothing is ever produced to
// it). The partitions the group assigns to this node are the slots it owns; a ref's slot is
// SlotOf(ref). When a node dies its session times out, the group rebalances and its slots move
// to live nodes. With the eager assignor every member gives up its slots (and stops their
// sensors, inside on_revoked) before any member gets the new assignment, so a sensor never runs
// on two nodes at once, except across a network partition longer than the session timeout.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "host/partition/partitioner.h"

namespace gale::partition {

class SlotOwner : public Partitioner {
 public:
  // `member` names this node in the group (static membership: a node restarted within the
  // session timeout gets its slots back without a rebalance); empty: a dynamic member.
  static Result<std::unique_ptr<SlotOwner>> Start(const bus::BusConfig& bus, int slots,
                                                  OwnershipChanged on_change,
                                                  const std::string& member = "");
  // Stops polling without calling on_change; a static member's slots move only after its
  // session times out (a dynamic one leaves the group at once).
  ~SlotOwner() override;
  SlotOwner(const SlotOwner&) = delete;
  SlotOwner& operator=(const SlotOwner&) = delete;

  std::string_view provider() const override { return "auto"; }
  bool Owns(const std::string& ref) const override;
  std::set<int> slots() const;

 private:
  SlotOwner(int slots, OwnershipChanged on_change)
      : slot_count_(slots), on_change_(std::move(on_change)) {}
  void Loop();
  void Changed(bool revoking);

  const int slot_count_;
  OwnershipChanged on_change_;
  std::unique_ptr<bus::Consumer> consumer_;
  mutable std::mutex mu_;
  std::set<int> owned_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> closing_{false};
  std::thread thread_;
};

}  // namespace gale::partition

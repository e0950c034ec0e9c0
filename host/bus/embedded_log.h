// A mirror of the embedded broker's partition logs, kept from the mock cluster's own debug lines
// ("Log append ...", "committing offset ..."): librdkafka does not expose the mock's logs, and
// the byte size of what a partition retains is known nowhere else. Internal to host/bus.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "host/bus/bus.h"

namespace gale::bus::internal {

class MockLog {
 public:
  // A topic's partitions exist (and are reported) from creation, before any message.
  void AddTopic(const std::string& topic, int partitions);
  // One debug line of the mock cluster (facility MOCK); lines it does not know are ignored.
  void OnDebugLine(std::string_view text);
  // Retained-but-unconsumed use of every partition of the topics `groups` consume: for each,
  // the batches at or after the lowest offset the groups committed (a group with no commit
  // there starts at the oldest retained message, so everything counts).
  std::vector<RetentionUse> Use(const std::vector<GroupTopics>& groups) const;
  // From now on, an append that brings a partition of the topics `groups` consume to `hold_at`
  // calls `hold` with its topic at once, on the mock cluster's thread (no lock of this class
  // held). Empty groups: never.
  void Watch(std::vector<GroupTopics> groups, double hold_at,
             std::function<void(const std::string& topic)> hold);

 private:
  struct Batch {
    int64_t last = 0;  // offset of its last message
    int64_t bytes = 0;
    int64_t total = 0;  // bytes of this batch and every one appended before it
  };
  struct Partition {
    std::deque<Batch> batches;                 // retained, oldest first
    int64_t start = 0;                         // oldest retained offset
    std::map<std::string, int64_t> committed;  // by group
  };
  using Key = std::pair<std::string, int32_t>;

  void Append(const std::string& topic, int32_t partition, int64_t last, int64_t bytes,
              int64_t start);
  // nullopt when no group in `groups` consumes the partition's topic.
  static std::optional<RetentionUse> UseOf(const Key& key, const Partition& p,
                                           const std::vector<GroupTopics>& groups);

  mutable std::mutex mu_;
  std::map<Key, Partition> partitions_;
  std::vector<GroupTopics> watch_groups_;
  double hold_at_ = 1;
  std::function<void(const std::string& topic)> hold_;
};

}  // namespace gale::bus::internal

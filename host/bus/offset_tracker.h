// Which offsets a consumer role may commit (DESIGN.md, Guarantees 1 and 2: a message's offset is
// committed only after its work is durably done). A role takes each message Poll() returns and
// marks it done when its work is; per partition, the committable offset is the one after the
// longest prefix of taken messages that are all done, so work finished out of order never
// commits past a message still in flight. Offsets need not be consecutive (Kafka's have gaps):
// only the order of the taken ones counts.
//
// Plain bookkeeping, no broker: not thread-safe (it belongs to the consumer's thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "host/bus/bus.h"

namespace gale::bus {

class OffsetTracker {
 public:
  // `m` was returned by Poll(): it is in flight until Done(m) or its partition is forgotten.
  void Take(const Message& m);
  // `m`'s work is durably done. A message not taken (or forgotten since) is ignored: its
  // partition belongs to another member now.
  void Done(const Message& m);

  // The next offset to consume of every partition whose done prefix grew since the last
  // Committed(), by topic and partition.
  std::vector<TopicPartition> Committable() const;
  // Committable() was handed to the broker (whatever the outcome: a failed commit only means a
  // redelivery, which the roles' idempotence absorbs).
  void Committed();
  // Messages marked done since the last Committed() (for commit_every).
  size_t done_since_commit() const { return done_since_commit_; }

  // The partitions were revoked: their in-flight messages are the next owner's, and nothing of
  // them is committable any more (commit before forgetting).
  void Forget(const std::vector<TopicPartition>& partitions);
  // Messages taken and not yet done, over every partition.
  size_t in_flight() const;

 private:
  struct Partition {
    std::map<int64_t, bool> open;  // taken, not yet in the committable prefix: offset -> done
    int64_t committable = -1;      // next offset to consume after the done prefix; -1: none new
  };
  std::map<std::pair<std::string, int32_t>, Partition> partitions_;
  size_t done_since_commit_ = 0;
};

}  // namespace gale::bus

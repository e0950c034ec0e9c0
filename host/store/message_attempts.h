// How many times a consumer group has begun processing one bus message, written to the store
// before the processing starts: a process that crashes on a message, restarts and gets it again
// counts every attempt, and sets the message aside instead of crash-looping (issue 17). The
// roles count a partition's first batch after they were given it (a process that crashed is
// gone; its successor starts at the committed offset, where the crash was), not the batches
// after it (bus::ConsumerRole::WorkedSinceAssigned): a crash there is one uncounted attempt.
//
// One record per (group, topic, partition): the key of the message last begun there and its
// count. A partition's messages are processed in order by one member of the group at a time, so
// the message being retried is always the one recorded. Messages are named by their key (Gale's
// messages are keyed by id), not their offset: a node on the embedded bus replays what it had
// pending onto a new bus at start (host/node/recovery.h), at other offsets.
#pragma once

#include <cstdint>
#include <string>

#include "host/common/result.h"
#include "host/store/store.h"

namespace gale::store {

// Attempts after which a message is set aside (to gale.dead-letters) instead of processed.
inline constexpr int kMaxMessageAttempts = 3;

class MessageAttempts {
 public:
  // `store` is not owned and must outlive this.
  MessageAttempts(Store* store, std::string group) : store_(store), group_(std::move(group)) {}

  // Records one more attempt at the message `key` at `offset` of topic/partition; returns how
  // many there have been, this one included (1 for a message not seen before). A message with
  // the key of the one recorded but a later offset is a new one (Gale requests a delayed
  // execution again under its id): only the recorded offset or an earlier one counts again.
  Result<int> Begin(const std::string& topic, int32_t partition, const std::string& key,
                    int64_t offset);

 private:
  Store* store_;
  std::string group_;
};

}  // namespace gale::store

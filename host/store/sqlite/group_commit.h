// Group commit on the one writer connection of a SQLite store: the writes that threads hand in
// while a transaction is being committed go together into the next one, so N concurrent writers
// cost one BEGIN IMMEDIATE ... COMMIT (one WAL fsync under synchronous=FULL) instead of N.
// Nothing is weakened: each caller returns only after the transaction holding its write has
// committed, exactly as durable as a commit of its own.
//
// Leader/follower, no thread of its own: a caller finding no group in progress runs the queued
// writes (its own included) as the next group; the others wait for it. Within a group each write
// runs inside a SAVEPOINT, so one that fails is rolled back alone and the rest commit; writes
// are applied in the order they were handed in, each seeing those before it (a compare-and-set
// stays exact). BEGIN IMMEDIATE holds the database's write lock for the whole group, so other
// processes' writers never interleave with it.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

#include "host/common/result.h"
#include "host/store/sqlite/db.h"

namespace gale::store::sqlite {

class GroupCommit {
 public:
  using Body = std::function<Status(Conn&)>;

  // `writer` is not owned and is used only by the thread running a group. At most `max_group`
  // writes go into one transaction (the rest wait for the next).
  explicit GroupCommit(Conn* writer, size_t max_group = 512)
      : writer_(writer), max_group_(max_group == 0 ? 1 : max_group) {}

  // Runs `body` in a write transaction of the writer connection (with whatever other writes are
  // queued) and returns once that transaction committed: `body`'s own error (its changes rolled
  // back, the others' kept), or the error that made the transaction fail (nothing of it kept;
  // retryable when SQLite says so). Called from inside a body it refuses at once (it would wait
  // for itself): a write inside a batch goes through the batch's own Store.
  Status Run(const Body& body);

 private:
  struct Pending {
    const Body* body;
    Status status = Status::Ok();
    bool done = false;
  };
  // Runs `group` in one transaction; sets each one's status.
  void RunGroup(const std::deque<Pending*>& group);

  Conn* writer_;
  const size_t max_group_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending*> queue_;
  bool leading_ = false;  // a group is being run
};

}  // namespace gale::store::sqlite

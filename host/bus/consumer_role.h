// The consumer side every Gale role that works through a topic shares (the rules engine, the
// runner; later workflows and policies): one member of a consumer group whose offsets are
// committed only after the work of their messages is durably done (DESIGN.md, Guarantees 1
// and 2). It wraps a Consumer with an OffsetTracker:
//  - Poll() takes each message it returns (in flight until Done());
//  - Done() marks a message's work finished, and commits once `commit_every` are done;
//  - CommitDone() commits the done prefix of every partition (see OffsetTracker);
//  - on revocation, done work is committed before the partitions go, and what was in flight
//    on them is forgotten: their next owner starts at the committed offset and does it;
//  - Pause() commits done work and stops fetching (backpressure); Resume() restarts it.
// Poll and resume errors are logged as "<name>: ..." at most every 10 s. The role keeps its
// own counters and commit log lines: every commit is reported to `on_commit`.
//
// Like Consumer: everything but paused() belongs to one thread (callbacks run inside Poll(),
// Done(), CommitDone(), Pause() and Close()).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "host/bus/bus.h"
#include "host/bus/offset_tracker.h"
#include "host/common/result.h"

namespace gale::bus {

class ConsumerRole {
 public:
  // One commit attempt, as the role counts and logs it.
  struct Commit {
    Status status = Status::Ok();
    size_t partitions = 0;  // partition offsets committed
    size_t messages = 0;    // messages done since the previous commit
  };
  struct Options {
    std::string name;  // log prefix, e.g. "runner"
    // The group, topics and start position. Its on_revoked runs after the revoked partitions'
    // done work is committed and they are forgotten (drop what the role holds of them).
    Consumer::Options consumer;
    // Done() commits once this many messages are done since the last commit; 0: only
    // CommitDone(), Pause(), revocation and Close() commit.
    size_t commit_every = 0;
    // Tries of a commit that fails with a retryable error.
    int commit_attempts = 1;
    // How long Poll errors and failed resumes wait before the role polls again.
    std::chrono::milliseconds poll_timeout = std::chrono::milliseconds(100);
    std::function<void(const Commit&)> on_commit;  // after every commit attempt
  };

  static Result<std::unique_ptr<ConsumerRole>> Create(const BusConfig& config, Options options);
  ~ConsumerRole();  // Close()
  ConsumerRole(const ConsumerRole&) = delete;
  ConsumerRole& operator=(const ConsumerRole&) = delete;

  // Consumer::Poll; a message returned is taken (in flight until Done()).
  Result<std::optional<Message>> Poll(std::chrono::milliseconds timeout);
  // After a failed Poll: logs "<name>: poll: <error>" (at most every 10 s) and waits
  // poll_timeout, so a broker that is away is not polled in a busy loop.
  void PollFailed(const Status& error);

  // `m`'s work is durably done: its offset may be committed (see OffsetTracker).
  void Done(const Message& m);
  // Commits every partition's done prefix, if any grew since the last commit.
  void CommitDone();

  // Backpressure: commits done work and pauses fetching. True when it paused now (false when
  // it was paused already or pausing failed).
  bool Pause();
  // Polls once without waiting while paused, which serves rebalances; a message returned
  // anyway is logged and not taken (fetching restarts before it on Resume()).
  void PollWhilePaused();
  // Resumes fetching if paused. False when that failed: logged "<name>: <error> (retrying)" at
  // most every 10 s, rebalances served, poll_timeout waited; call again.
  bool Resume();
  bool paused() const;

  // Leaves the group (done work is committed by the revocation). Idempotent; afterwards Poll()
  // fails and the other calls do nothing.
  Status Close();

  // True once this member has marked a message of m's partition done since it was given the
  // partition. The crash-loop guards count only a partition's first batch after that (a
  // process that crashed on a message is gone, and its successor's first batch starts at the
  // committed offset, where the crash was): a durable write saved on every later batch.
  bool WorkedSinceAssigned(const Message& m) const;

  const OffsetTracker& offsets() const { return offsets_; }

 private:
  explicit ConsumerRole(Options options);
  void OnRevoked(const std::vector<TopicPartition>& revoked);
  // True when `last_error_` is more than 10 s old (and then moves it to now).
  bool ShouldLog();

  Options options_;
  Consumer::PartitionsCallback role_on_revoked_;
  std::unique_ptr<Consumer> consumer_;
  OffsetTracker offsets_;
  std::set<std::pair<std::string, int32_t>> worked_;  // see WorkedSinceAssigned
  std::chrono::steady_clock::time_point last_error_{};
};

// The first message of each partition in `batch` that `role` has not worked on since it was
// given it: what a crash-loop guard counts before it works the batch.
std::vector<const Message*> FirstOfUnworkedPartitions(const ConsumerRole& role,
                                                      const std::vector<Message>& batch);

// "topic[partition]@offset", for log lines.
std::string Where(const Message& m);

// Waits `duration` in short steps, returning early once `stopping` is set (retry backoffs).
void WaitUnlessStopping(std::chrono::milliseconds duration, const std::atomic<bool>& stopping);

}  // namespace gale::bus

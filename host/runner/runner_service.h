// The action runner role (DESIGN.md, "Processes"; Guarantees 2 and 5): a member of consumer group
// `<prefix>runners` on `<prefix>executions`. For each execution request it
//  1. claims it with a compare-and-set (requested -> running, this node, a lease) BEFORE
//     anything runs: of any number of runners that see the request, exactly one starts it; a
//     request whose execution is no longer requested/scheduled (redelivered, claimed by another
//     runner, canceled) is skipped. The requests a poll brings, up to the free slots, are
//     claimed together (Store::ClaimExecutions: one transaction on SQLite), and the claimed
//     records come back from the claim: what runs is the record, never the message;
//  2. marks the message done; offsets are committed after the claim (batched: at most
//     `commit_every` claims or one idle poll later, and always before a pause, a revocation or
//     a stop), so an uncommitted claim can only cause a redelivery that step 1 skips;
//  3. runs the action in the sandbox (host/runner/launch.h), appending its output to the store
//     as it arrives, and records the final status and result with a CAS that requires the
//     execution to still be this node's.
// While an execution runs, its lease is renewed every third of `lease`; a runner that dies
// stops renewing, and any runner's sweep (every `abandon_check`) marks executions whose lease
// expired `abandoned`: visible, never started again. An execution whose status becomes
// `canceling` (the API's cancel) is noticed within `cancel_check` and its process group killed
// (TERM, grace, KILL): `canceled`.
// Backpressure: with `max_concurrency` executions running, the consumer pauses its partitions
// (messages stay in Kafka, unclaimed and uncommitted) and resumes when a slot frees.
// Every status change is also produced to `<prefix>execution-events`.
// The datastore: with `datastore_socket` set, the runner listens there (host/datastore) and gives
// each execution it spawns a token bound to {pack, action, execution, user} while it runs, in
// GALE_DATASTORE_SOCKET and GALE_DATASTORE_TOKEN, whatever its runner type.
//
// Threads: Start() runs the consumer thread, a maintenance thread (leases, cancel checks,
// abandon sweep) and `io_threads` Asio threads for the sandboxed processes. UpdateActions and
// stats() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "host/bus/bus.h"
#include "host/bus/consumer_role.h"
#include "host/common/result.h"
#include "host/datastore/broker.h"
#include "host/policies/runner_policies.h"
#include "host/runner/action_index.h"
#include "host/runner/finish.h"
#include "host/store/key_cipher.h"
#include "host/store/message_attempts.h"
#include "host/store/store.h"

namespace gale::runner {

struct RunnerOptions {
  bus::BusConfig bus;
  store::Store* store = nullptr;  // not owned; outlives the service
  std::string node_name;          // the claim's owner
  std::string gale_binary;        // for the native and http-request runners (`gale exec`)
  std::string python_shim;        // for python-script (LaunchContext::python_shim)
  int max_concurrency = 60;       // StackStorm's action pool size
  std::chrono::milliseconds lease = std::chrono::seconds(30);
  // How long Stop() lets running executions finish before it kills them (they are then
  // recorded `abandoned`, with the reason).
  std::chrono::milliseconds shutdown_grace = std::chrono::seconds(10);
  std::chrono::milliseconds cancel_check = std::chrono::seconds(1);
  std::chrono::milliseconds abandon_check{0};  // 0: a third of `lease`
  std::chrono::milliseconds poll_timeout = std::chrono::milliseconds(100);
  size_t commit_every = 100;
  // Most requests claimed in one store batch (never more than the free slots).
  size_t claim_batch = 64;
  int io_threads = 2;
  std::function<store::TimeMs()> clock;  // default store::NowMs
  // How often every runner sweeps for delayed executions with free slots and due retries.
  std::chrono::milliseconds policy_sweep = std::chrono::seconds(1);
  // Opens the secret parameters sealed in execution records; absent: an execution with one
  // fails with the reason.
  std::optional<store::KeyCipher> cipher;
  // The actions' datastore (host/datastore/protocol.h): the runner listens on this socket and
  // gives each execution a token bound to it while it runs ($GALE_DATASTORE_SOCKET and
  // $GALE_DATASTORE_TOKEN). Empty: no datastore for actions.
  std::string datastore_socket;
  std::optional<gid_t> datastore_group;  // may connect besides the node's user (action group)
  datastore::Dispatcher dispatch;        // the datastore's op dispatch; absent: refused
  // Whose keys an execution's scope "user" is: StackStorm's system user, under whom rules run
  // actions (the execution record names no user of its own yet).
  std::string system_user = "stanley";
  // Workflows (runner types action-chain, ...): a claimed execution of a workflow action is
  // handed to this (host/workflow) instead of the sandbox; it owns the execution from then on.
  // Absent: such an execution fails (no launcher).
  std::function<void(const store::Execution&, const RunnableAction&)> start_workflow;
};

// Counts since Create().
struct RunnerStats {
  uint64_t claimed = 0;    // executions this runner claimed (and started)
  uint64_t skipped = 0;    // requests for executions not (or no longer) requested
  uint64_t malformed = 0;  // messages that were not execution requests
  uint64_t succeeded = 0;
  uint64_t failed = 0;
  uint64_t timed_out = 0;
  uint64_t canceled = 0;
  uint64_t abandoned = 0;      // executions this runner's sweep marked abandoned
  uint64_t lost = 0;           // executions whose result could not be recorded (not ours)
  uint64_t pauses = 0;         // times the consumer paused for lack of a free slot
  uint64_t peak_running = 0;   // most executions running at once
  uint64_t output_chunks = 0;  // chunks appended to the store
  uint64_t commits = 0;
};

class RunnerService {
 public:
  static Result<std::unique_ptr<RunnerService>> Create(RunnerOptions options,
                                                       std::shared_ptr<const ActionIndex> actions);
  ~RunnerService();  // Stop()
  RunnerService(const RunnerService&) = delete;
  RunnerService& operator=(const RunnerService&) = delete;

  Status Start();
  // Stops claiming, commits, leaves the group, lets running executions finish for
  // `shutdown_grace`, then kills the rest (recorded abandoned). Idempotent.
  void Stop();

  // Swaps in the actions of reloaded packs; executions already running are not affected.
  void UpdateActions(std::shared_ptr<const ActionIndex> actions);

  int running() const { return busy_.load(); }
  RunnerStats stats() const;

 private:
  struct Counters;
  struct Running;
  RunnerService(RunnerOptions options, std::shared_ptr<const ActionIndex> actions,
                std::unique_ptr<bus::Producer> producer);
  void ConsumeLoop();
  void MaintenanceLoop();
  // Claims and starts the requests of pending_, behind the crash-loop guard
  // (store/message_attempts.h): a batch begun before (by a process that ended) is handled one
  // request at a time, each counted and committed alone. A retryable error means: what is left
  // in pending_ is tried again later. At most `limit` (the free slots) are handled, and slow
  // paths stop after a slice (kSlice), leaving the rest in pending_ for the next call.
  Status HandleBatch(size_t limit);
  // Claims the first `count` requests of pending_ in one store batch and starts those claimed;
  // removes from pending_ (and marks done) every request dealt with, keeping in order those
  // whose claim failed with a retryable error (which it returns).
  Status ClaimAndStart(size_t count);
  // Hands a claimed workflow action to the workflow engine (options_.start_workflow).
  bool StartedAsWorkflow(const store::Execution& record);
  // The claims of ClaimAndStart: one store batch, or (policies in force) each record admitted
  // by the policies before its own claim.
  Result<std::vector<store::Claim>> ClaimBatch(const std::vector<std::string>& ids);
  // `sliced`: stops after the slice with claims for a prefix of `ids` (at least one).
  Result<std::vector<store::Claim>> ClaimThroughPolicies(const std::vector<std::string>& ids,
                                                         bool sliced);
  // Sends `m` to the dead letters with `reason`.
  void SetAside(const bus::Message& m, const std::string& reason);
  // `unusable`: why the record's parameters cannot be used (a secret that does not open); the
  // execution then fails with it before anything starts.
  void StartExecution(const store::Execution& record, const Json& params, const Status& unusable);
  void Complete(const std::string& id, Finish finish);
  void RenewLeases();
  void CheckCancels();
  void SweepAbandoned();
  // `parent` and `task`: a workflow's task's (store::Execution), empty for other executions.
  void PublishEvent(const std::string& id, store::ExecStatus status, const Json* result,
                    const std::string& parent = "", const std::string& task = "");
  // True once a slot is free (or the runner is stopping), false after `timeout`.
  bool WaitForSlot(std::chrono::milliseconds timeout);

  RunnerOptions options_;
  std::unique_ptr<bus::Producer> producer_;
  std::optional<store::MessageAttempts> attempts_;
  std::string attempts_group_;  // the group attempts_ counts for (batches count through it too)
  // The crash-loop guard's state for pending_ (reset for each new batch). Consumer thread only.
  struct Guard {
    bool counted = false;  // each partition's first request counted
    bool careful = false;  // one of them was begun before: one request at a time
    std::map<std::pair<std::string, int32_t>, int> first;  // counts not yet used
    std::optional<int> front;                              // the count of pending_.front()
  } guard_;
  // How long the consumer thread works on a batch before it polls again: the group's
  // rebalances wait on that poll (the embedded bus gives a member session.timeout - 1 s).
  static constexpr std::chrono::milliseconds kSlice{500};
  std::chrono::steady_clock::time_point slice_end_;  // of the current HandleBatch
  // The consumer and its offset bookkeeping: requests taken and done, commits, pause/resume.
  std::unique_ptr<bus::ConsumerRole> consumer_;
  std::string events_topic_;
  std::string dead_letters_topic_;

  mutable std::mutex actions_mu_;
  std::shared_ptr<const ActionIndex> actions_;

  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::vector<std::thread> io_threads_;
  std::thread consumer_thread_;
  std::thread maintenance_thread_;

  mutable std::mutex running_mu_;
  std::condition_variable slot_freed_;
  std::map<std::string, std::shared_ptr<Running>> running_;
  std::atomic<int> busy_{0};

  // Consumer thread only: the requests returned by Poll() and not yet claimed (at most the free
  // slots; held while the store cannot claim them).
  std::vector<bus::Message> pending_;

  // Answers the executions' datastore calls; started before the consumer, stopped after every
  // execution ended.
  std::unique_ptr<datastore::DatastoreBroker> datastore_;

  std::unique_ptr<Counters> counters_;
  // Pack policies (host/policies): concurrency slots, delays, retries; hooks marked [policies].
  std::unique_ptr<policies::RunnerPolicies> policies_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> stop_maintenance_{false};
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace gale::runner

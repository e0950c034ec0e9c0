// The rules engine role (DESIGN.md, "Processes"; Guarantees 1 and 4): a member of consumer group
// `<prefix>rules` on `<prefix>triggers`. For each trigger instance it
//  1. collapses duplicates: with a `dedupe_key`, only the first instance of
//     (trigger type, key) within `dedupe_window` goes on; later ones are dropped unrecorded;
//  2. records the instance (create-if-absent, so a redelivered instance is harmless);
//  3. matches every enabled rule of the trigger type, and for each match renders the action
//     parameters, refuses overrides of `immutable` parameters, applies the action's defaults and
//     validates the result against its parameter schema;
//  4. creates the execution with the derived id UuidV5(kGaleNamespace, instance id + rule ref)
//     (create-if-absent): `requested`, or `failed` with result {"error": reason} when rendering
//     or validation failed (as StackStorm does; the engine never stops on it);
//  5. produces the execution request to `<prefix>executions` for every execution of this
//     instance that is (still) `requested`, so a run that crashed between creating the
//     execution and flushing the request is repaired by the redelivery.
// A batch (what one poll brought, up to `batch_size`) is worked in three steps: every message is
// decoded, matched and rendered first (no writes); then steps 1, 2 and 4 of the whole batch go
// to the store as ONE batch (Store::Batch: one transaction and one commit on SQLite); only then,
// once it is durable, are the requests of step 5 produced, and flushed. Offsets are committed
// only after that flush. A retryable store or bus error stops the batch, which is retried as a
// whole with backoff (on SQLite nothing of it was written; on MongoDB every step above is
// idempotent). A message that is not a valid trigger instance is logged with its offset and
// set aside to dead letters (committed).
//
// Threads: Start() runs one worker thread that owns the consumer. UpdateRules, SetRuleEnabled,
// rules() and stats() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "host/bus/bus.h"
#include "host/bus/consumer_role.h"
#include "host/common/result.h"
#include "host/expr/template/context.h"
#include "host/rules/engine/rule_set.h"
#include "host/store/key_cipher.h"
#include "host/store/message_attempts.h"
#include "host/store/store.h"

namespace gale::rules::engine {

struct RulesEngineOptions {
  bus::BusConfig bus;
  // Not owned; must outlive the engine. Thread-safe (every Store is).
  store::Store* store = nullptr;
  std::string node_name;  // recorded in execution status logs
  // Trigger instances of one type with the same dedupe_key within this window are one
  // (measured on occurred_at).
  std::chrono::milliseconds dedupe_window = std::chrono::hours(1);
  // Most messages processed between two commits.
  size_t batch_size = 500;
  // How long one Poll waits for the first message of a batch, and how long after it the batch
  // stays open for more (then it takes only what was fetched already). 0: a batch is what has
  // been fetched by the time its first message is taken; under load batches grow by themselves
  // (what arrives while one is committed), and a lone trigger waits for nothing (issue 20).
  std::chrono::milliseconds poll_timeout = std::chrono::milliseconds(100);
  std::chrono::milliseconds fill_timeout = std::chrono::milliseconds(0);
  // Bound for one Flush of the producer (a timeout is a retryable error: the batch is retried).
  std::chrono::milliseconds flush_timeout = std::chrono::seconds(30);
  // Backoff between retries of a failed batch: doubles from min to max.
  std::chrono::milliseconds retry_min = std::chrono::milliseconds(100);
  std::chrono::milliseconds retry_max = std::chrono::seconds(5);
  // requested_at of new executions, and `now` of datastore lookups; default store::NowMs.
  std::function<store::TimeMs()> clock;
  // Whose keys `st2kv.user.<name>` reads: StackStorm renders rule parameters as its system
  // user, `stanley` by default (gale.yaml rules.system_user).
  std::string system_user = "stanley";
  // The `decrypt_kv` filter (the datastore's key cipher); absent: decrypt_kv fails with a reason.
  expr::KvDecrypt decrypt;
  // Seals secret action parameters into execution records; absent: an execution with a secret
  // parameter fails with the reason (its value could not be kept).
  std::optional<store::KeyCipher> cipher;
};

// Counts since Create(). A retried batch or a redelivered message is counted again, except in
// executions_created/executions_failed, which count store inserts (each execution once).
struct RulesEngineStats {
  uint64_t triggers_processed = 0;  // instances evaluated (duplicates and malformed excluded)
  uint64_t duplicates = 0;          // instances collapsed by dedupe_key
  uint64_t malformed = 0;           // messages skipped as not valid trigger instances
  uint64_t rules_matched = 0;       // (instance, rule) matches
  uint64_t executions_created = 0;  // executions inserted as requested
  uint64_t executions_failed = 0;   // executions inserted as failed (render/validation)
  uint64_t requests_produced = 0;   // execution requests produced (re-productions included)
  uint64_t batches_committed = 0;
  uint64_t batch_retries = 0;  // batches retried after a retryable error
};

class RulesEngine {
 public:
  // Creates the producer and joins nothing yet (the consumer subscribes in Start()). Fails on a
  // bad bus configuration or a missing store.
  static Result<std::unique_ptr<RulesEngine>> Create(RulesEngineOptions options,
                                                     std::shared_ptr<const RuleSet> rules);
  ~RulesEngine();  // Stop()
  RulesEngine(const RulesEngine&) = delete;
  RulesEngine& operator=(const RulesEngine&) = delete;

  // Subscribes and starts the worker thread. Fails if the consumer cannot be created or the
  // engine was already started.
  Status Start();
  // Finishes the batch in progress (flushes and commits it unless it fails), leaves the group
  // and joins the worker. Idempotent.
  void Stop();

  // Swaps in a new rule set (a pack reload); the batch in progress finishes with the old one.
  // Overrides made with SetRuleEnabled are carried over to it.
  void UpdateRules(std::shared_ptr<const RuleSet> rules);
  // Enables or disables one rule from the next trigger instance on, also across later
  // UpdateRules. Error when the current rule set has no such rule.
  Status SetRuleEnabled(const std::string& ref, bool enabled);
  std::shared_ptr<const RuleSet> rules() const;

  RulesEngineStats stats() const;

 private:
  struct Counters;
  struct Batch;
  RulesEngine(RulesEngineOptions options, std::shared_ptr<const RuleSet> rules,
              std::unique_ptr<bus::Producer> producer);
  void Run();
  // Processes every message of `batch`, then flushes. A retryable error means: retry it all.
  Status ProcessBatch(const std::vector<bus::Message>& batch);
  // ProcessBatch behind the crash-loop guard (store/message_attempts.h): a batch begun before
  // (by a process that ended) is processed, counted and committed one message at a time, and
  // removed from `batch` as it goes; a message begun kMaxMessageAttempts times already is set
  // aside unprocessed.
  Status ProcessGuarded(std::vector<bus::Message>& batch);
  // Sends `m` to gale.dead-letters with `reason`; its trigger instance is not fired again.
  Status DeadLetter(const bus::Message& m, const std::string& reason);
  struct Plan;
  struct Recorded;
  // Decodes, matches and renders one message (datastore reads, no writes) into `plan`. A
  // non-retryable error is the message's own fault.
  Status PlanMessage(const bus::Message& message, const RuleSet& rules, Plan* plan);
  // Writes what `plan` says through `batch` (a Store::Batch), adding to `out` what is to be
  // requested once the batch committed.
  Status RecordPlan(const Plan& plan, store::Store& batch, Recorded* out);
  // Marks `batch` done and commits it (every message of it is taken, so all of it is the done
  // prefix of its partitions).
  void CommitBatch(const std::vector<bus::Message>& batch);

  RulesEngineOptions options_;
  std::unique_ptr<bus::Producer> producer_;
  std::optional<store::MessageAttempts> attempts_;
  std::string attempts_group_;  // the group attempts_ counts for (batches count through it too)
  // The crash-loop guard's state for the batch being processed (reset for each new batch).
  struct Guard {
    bool counted = false;  // each partition's first message counted
    bool careful = false;  // one of them was begun before: one message at a time
    std::map<std::pair<std::string, int32_t>, int> first;  // counts not yet used
    std::optional<int> front;                              // the count of batch.front()
  } guard_;
  std::unique_ptr<bus::ConsumerRole> consumer_;  // owned by the worker once started
  std::string executions_topic_;
  std::string dead_letters_topic_;

  mutable std::mutex rules_mu_;
  std::shared_ptr<const RuleSet> rules_;
  std::map<std::string, bool> overrides_;

  std::unique_ptr<Counters> counters_;
  std::atomic<bool> stopping_{false};
  std::thread worker_;
  bool started_ = false;
  std::vector<bus::Message> pending_;  // the batch being collected (worker thread only)
};

}  // namespace gale::rules::engine

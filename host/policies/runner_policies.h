// What the runner calls to apply pack policies (docs/architecture.md, "Policies"): a handful of
// hooks on its claim, finish and maintenance paths, so that the runner itself stays about
// claiming and running. Thread-safe; every hook costs one map look-up when the action has no
// policy.
//
//   BeforeClaim  the store record is claimable: take the concurrency slots; false: do not claim
//                (it became delayed or canceled, with the event to publish)
//   ClaimLost    the claim failed after BeforeClaim: give the slots back unless the winner is
//                running it
//   BeforeFinish the final status is known, not yet recorded: create the retry (action.retry)
//   AfterFinish  the final status is recorded (or could not be): free the slots, request the
//                next delayed execution and the retry
//   RenewLeases  with the runner's lease renewals
//   Tick         often (the maintenance loop): due retries, and every sweep_interval the sweep
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "host/bus/bus.h"
#include "host/common/json.h"
#include "host/common/result.h"
#include "host/packs/policy_index.h"
#include "host/policies/concurrency_gate.h"
#include "host/policies/retry_policy.h"
#include "host/store/store.h"

namespace gale::policies {

struct RunnerPoliciesOptions {
  store::Store* store = nullptr;
  std::string node_name;
  std::chrono::milliseconds lease{30000};  // the executions' lease; slots share it
  std::chrono::milliseconds sweep_interval{1000};
  std::function<store::TimeMs()> clock;  // default store::NowMs
  // The policies in force (swapped whole on a pack reload).
  std::function<std::shared_ptr<const packs::PolicyIndex>()> policies;
  // Where requests for delayed executions and retries go: gale.executions.
  bus::Producer* producer = nullptr;
  std::string executions_topic;
};

class RunnerPolicies {
 public:
  explicit RunnerPolicies(RunnerPoliciesOptions options);

  struct Admission {
    bool claim = true;
    std::optional<store::ExecStatus> became;  // delayed or canceled by a policy: publish it
    Json result;                              // with this result
    ConcurrencyGate::Verdict verdict;         // for AfterAdmit
  };
  // Some action has a policy: the runner admits each record through BeforeClaim.
  bool Active() const { return !Index()->empty(); }
  // `st`: the store or a batch of it; AfterAdmit(record, admission) once the batch is durable.
  Result<Admission> BeforeClaim(store::Store& st, const store::Execution& record);
  void AfterAdmit(const store::Execution& record, const Admission& admission);
  void ClaimLost(const std::string& id);
  void BeforeFinish(const std::string& id, store::ExecStatus status);
  // With BeforeFinish: frees the slots through `st`, the batch that records the final status.
  void ReleaseWithFinish(store::Store& st, const std::string& id);
  // True when `id` holds slots (its final status and their release go in one batch).
  bool HoldsSlots(const std::string& id) const;
  // `released`: the slots went with the final status (ReleaseWithFinish in a durable batch).
  void AfterFinish(const std::string& id, bool released = false);
  void RenewLeases();
  void Tick();

 private:
  struct Entry {
    std::string action;
    std::vector<HeldSlot> held;
    std::optional<store::Execution> record;  // kept when the action has a retry policy
    std::optional<store::Execution> retry;   // created by BeforeFinish
  };
  std::shared_ptr<const packs::PolicyIndex> Index() const;
  std::optional<Entry> Take(const std::string& id);
  Status Request(const store::Execution& e);

  RunnerPoliciesOptions options_;
  ConcurrencyGate gate_;
  RetryPolicy retry_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;  // executions admitted here with a policy, by id
  store::TimeMs next_sweep_ = 0;          // maintenance thread only
};

}  // namespace gale::policies

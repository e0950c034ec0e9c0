// action.concurrency and action.concurrency.attr, cluster-wide (issue 22). An execution takes a
// slot of each of its action's concurrency policies in the store (Store::TryAcquirePolicySlot,
// key packs::ConcurrencySlotKey) BEFORE the runner claims it, so the recorded start of every
// execution comes after its slots are held: never more than `threshold` executions of one key
// are `running`, on any number of nodes. Over the threshold the execution is not claimed: it
// becomes `delayed` (action: delay) or `canceled` with the reason (action: cancel).
//
// A delayed execution lives in the store only (its request message is done with); it is
// requested again on gale.executions, oldest first, by
//  - the node that releases a slot of its key (when that node knows the key has waiters),
//  - the node that delayed it, when a slot freed while it was being delayed,
//  - every runner node's sweep (RequestDelayed), for keys whose slots freed otherwise (a
//    holder's lease expired after its node died, a release that was not followed by a request).
// A request is only a hint: the store's claim compare-and-set starts each execution once, and
// an execution that finds its key full again stays `delayed`. Nothing is lost when a node dies:
// its slots expire with their lease, and any node's sweep requests the waiting executions.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "host/common/json.h"
#include "host/common/result.h"
#include "host/packs/policy_index.h"
#include "host/store/store.h"

namespace gale::policies {

struct HeldSlot {
  std::string key;
  int64_t threshold = 0;
};

struct GateOptions {
  store::Store* store = nullptr;
  std::string node_name;
  std::chrono::milliseconds lease{30000};  // a slot lasts this long without renewal
  std::chrono::milliseconds sweep_interval{1000};
  std::function<store::TimeMs()> clock;
  // Produces a gale.executions request for the execution (a hint; duplicates are harmless).
  std::function<Status(const store::Execution&)> request;
};

class ConcurrencyGate {
 public:
  explicit ConcurrencyGate(GateOptions options);

  struct Verdict {
    bool claim = false;                       // slots held: the runner may claim it
    std::vector<HeldSlot> held;               // when `claim`
    std::optional<store::ExecStatus> became;  // delayed or canceled here (for the event)
    Json result;                              // canceled: the reason
    // Delayed here: once that is durable, AfterDelay(full_key, ...) must run.
    std::string full_key;
    int64_t full_threshold = 0;
  };
  // `record` is requested, scheduled or delayed; `policies` are its action's (any type). `st`
  // is the store or a batch of it (Store::Batch), so that a runner admits and claims a whole
  // batch of requests in one transaction.
  Result<Verdict> Admit(store::Store& st, const store::Execution& record,
                        const std::vector<packs::PolicyMeta>& policies);
  // After a delay is durable: a holder may have released between the full acquire and the
  // delay and found no waiter, so whoever is last to look sees the other (release-then-list
  // vs delay-then-count).
  void AfterDelay(const std::string& action, const Verdict& verdict,
                  const std::vector<packs::PolicyMeta>& policies);
  // Extends the slots' leases (re-taking one that another claimant's acquire renamed).
  void Renew(const std::string& id, const std::vector<HeldSlot>& held);
  // Frees the slots and requests the oldest delayed executions of keys with waiters.
  void Release(const std::string& id, const std::string& action, const std::vector<HeldSlot>& held,
               const packs::PolicyIndex& index);
  // The two halves of Release: the slots' rows, through `st` (a batch, so that they go with
  // the execution's final status in one commit), and, once that is durable, the waiters.
  void ReleaseSlots(store::Store& st, const std::string& id, const std::vector<HeldSlot>& held);
  void RequestWaiters(const std::string& action, const std::vector<HeldSlot>& held,
                      const packs::PolicyIndex& index);
  // The sweep: requests the oldest delayed executions whose keys have free slots.
  void RequestDelayed(const packs::PolicyIndex& index);

 private:
  // Requests the oldest delayed executions of `action` under `key`, as many as it has free slots.
  void Kick(const std::string& action, const std::string& key, int64_t threshold,
            const std::vector<packs::PolicyMeta>& policies);
  void RequestOnce(const store::Execution& e, bool force);

  GateOptions options_;
  std::mutex mu_;
  std::map<std::string, store::TimeMs> waiters_;    // keys seen full or with delayed executions
  std::map<std::string, store::TimeMs> requested_;  // ids the sweep requested lately
};

// The concurrency policies among `policies`, with their slot keys for `parameters`.
std::vector<std::pair<const packs::PolicyMeta*, std::string>> SlotKeys(
    const std::vector<packs::PolicyMeta>& policies, const Json& parameters);

// Every delayed (or, with `until`, scheduled and due) execution, oldest first.
Result<std::vector<store::Execution>> OldestFirst(store::Store& store, store::ExecStatus status,
                                                  const std::string& action, store::TimeMs until);

}  // namespace gale::policies

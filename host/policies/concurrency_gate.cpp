#include "host/policies/concurrency_gate.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <utility>

namespace gale::policies {

using store::ExecStatus;

namespace {

std::string CancelReason(const packs::PolicyMeta& p, const std::string& action) {
  // StackStorm's concurrency applicator cancels with this reason in the liveaction's result.
  return "Execution canceled by policy " + p.ref + ": the threshold of " +
         std::to_string(p.threshold) + " concurrent execution(s) of " + action +
         " is reached (action.concurrency, action: cancel)";
}

}  // namespace

std::vector<std::pair<const packs::PolicyMeta*, std::string>> SlotKeys(
    const std::vector<packs::PolicyMeta>& policies, const Json& parameters) {
  std::vector<std::pair<const packs::PolicyMeta*, std::string>> keys;
  for (const auto& p : policies) {
    if (p.type == packs::PolicyType::kRetry) continue;
    keys.emplace_back(&p, packs::ConcurrencySlotKey(p, parameters));
  }
  return keys;
}

Result<std::vector<store::Execution>> OldestFirst(store::Store& store, ExecStatus status,
                                                  const std::string& action, store::TimeMs until) {
  store::ExecutionQuery q;
  q.statuses = {status};
  q.action = action;
  q.until = until;
  q.limit = store::kMaxPageSize;
  std::vector<store::Execution> all;
  while (true) {
    GALE_ASSIGN_OR_RETURN(auto page, store.ListExecutions(q));
    for (auto& e : page.items) all.push_back(std::move(e));
    if (page.next_cursor.empty()) break;
    q.cursor = page.next_cursor;
  }
  std::reverse(all.begin(), all.end());
  return all;
}

ConcurrencyGate::ConcurrencyGate(GateOptions options) : options_(std::move(options)) {}

Result<ConcurrencyGate::Verdict> ConcurrencyGate::Admit(
    store::Store& st, const store::Execution& record,
    const std::vector<packs::PolicyMeta>& policies) {
  const store::TimeMs now = options_.clock();
  Verdict v;
  const packs::PolicyMeta* full = nullptr;
  std::string full_key;
  for (const auto& [policy, key] : SlotKeys(policies, record.parameters)) {
    auto got = st.TryAcquirePolicySlot(key, record.id, options_.node_name,
                                       now + options_.lease.count(), policy->threshold, now);
    if (!got.ok() || !*got) {
      for (const auto& h : v.held) (void)st.ReleasePolicySlot(h.key, record.id);
      if (!got.ok()) return got.status().WithContext("policy " + policy->ref + " slot " + key);
      full = policy;
      full_key = key;
      break;
    }
    v.held.push_back({key, policy->threshold});
  }
  if (full == nullptr) {
    if (record.status == ExecStatus::kDelayed) {
      // Its turn: claimable again. Whoever wins the claim runs it; a false here means it was
      // canceled meanwhile or another runner got here first, and the claim tells which.
      store::Transition t{record.id, {ExecStatus::kDelayed}, ExecStatus::kRequested, now, {}, {}};
      auto moved = st.TransitionExecution(t);
      if (!moved.ok()) {
        for (const auto& h : v.held) (void)st.ReleasePolicySlot(h.key, record.id);
        return moved.status().WithContext("execution " + record.id + " out of delayed");
      }
    }
    v.claim = true;
    return v;
  }
  v.held.clear();
  {
    std::lock_guard lock(mu_);
    waiters_[full_key] = now;
  }
  store::Transition t;
  t.id = record.id;
  t.at = now;
  if (full->over_threshold == packs::OverThreshold::kCancel) {
    t.from = {ExecStatus::kRequested, ExecStatus::kScheduled, ExecStatus::kDelayed};
    t.to = ExecStatus::kCanceled;
    t.result = Json{{"error", CancelReason(*full, record.action)}, {"policy", full->ref}};
    GALE_ASSIGN_OR_RETURN(bool canceled, st.TransitionExecution(t));
    if (canceled) {
      spdlog::info("policies: execution {} canceled by {} ({})", record.id, full->ref, full_key);
      v.became = ExecStatus::kCanceled;
      v.result = *t.result;
    }
    return v;
  }
  if (record.status != ExecStatus::kDelayed) {
    t.from = {ExecStatus::kRequested, ExecStatus::kScheduled};
    t.to = ExecStatus::kDelayed;
    GALE_ASSIGN_OR_RETURN(bool delayed, st.TransitionExecution(t));
    if (!delayed) return v;  // claimed, canceled or delayed by someone else meanwhile
    v.became = ExecStatus::kDelayed;
  }
  v.full_key = full_key;
  v.full_threshold = full->threshold;
  return v;
}

void ConcurrencyGate::AfterDelay(const std::string& action, const Verdict& verdict,
                                 const std::vector<packs::PolicyMeta>& policies) {
  if (verdict.full_key.empty()) return;
  Kick(action, verdict.full_key, verdict.full_threshold, policies);
}

void ConcurrencyGate::Renew(const std::string& id, const std::vector<HeldSlot>& held) {
  const store::TimeMs now = options_.clock();
  for (const auto& h : held) {
    // Acquire, not RenewPolicySlot: a runner that lost the claim race may have renamed the
    // slot's node; asking again renews it under ours.
    auto renewed = options_.store->TryAcquirePolicySlot(
        h.key, id, options_.node_name, now + options_.lease.count(), h.threshold, now);
    if (!renewed.ok()) {
      spdlog::warn("policies: slot {} of execution {} not renewed: {}", h.key, id,
                   renewed.message());
    } else if (!*renewed) {
      spdlog::warn(
          "policies: execution {} lost its slot {} (its lease expired and the key is "
          "full); it goes on running",
          id, h.key);
    }
  }
}

void ConcurrencyGate::Release(const std::string& id, const std::string& action,
                              const std::vector<HeldSlot>& held, const packs::PolicyIndex& index) {
  ReleaseSlots(*options_.store, id, held);
  RequestWaiters(action, held, index);
}

void ConcurrencyGate::ReleaseSlots(store::Store& st, const std::string& id,
                                   const std::vector<HeldSlot>& held) {
  for (const auto& h : held) {
    auto released = st.ReleasePolicySlot(h.key, id);
    if (!released.ok()) {
      // It frees when its lease passes; the sweep then requests the waiters.
      spdlog::warn("policies: slot {} of execution {} not released: {}", h.key, id,
                   released.message());
    }
  }
}

void ConcurrencyGate::RequestWaiters(const std::string& action, const std::vector<HeldSlot>& held,
                                     const packs::PolicyIndex& index) {
  for (const auto& h : held) {
    bool waiting;
    {
      std::lock_guard lock(mu_);
      waiting = waiters_.count(h.key) > 0;
    }
    if (waiting) Kick(action, h.key, h.threshold, index.For(action));
  }
}

void ConcurrencyGate::Kick(const std::string& action, const std::string& key, int64_t threshold,
                           const std::vector<packs::PolicyMeta>& policies) {
  store::Store& st = *options_.store;
  auto slots = st.ListPolicySlots(key, options_.clock());
  if (!slots.ok()) return;  // the sweep tries again
  int64_t free = threshold - static_cast<int64_t>(slots->size());
  if (free <= 0) return;
  auto delayed = OldestFirst(st, ExecStatus::kDelayed, action, 0);
  if (!delayed.ok()) return;
  bool any = false;
  for (const auto& e : *delayed) {
    bool match = false;
    for (const auto& pk : SlotKeys(policies, e.parameters)) match = match || pk.second == key;
    if (!match) continue;
    any = true;
    RequestOnce(e, /*force=*/true);
    if (--free == 0) break;
  }
  if (!any) {
    std::lock_guard lock(mu_);
    waiters_.erase(key);
  }
}

void ConcurrencyGate::RequestDelayed(const packs::PolicyIndex& index) {
  const store::TimeMs now = options_.clock();
  auto delayed = OldestFirst(*options_.store, ExecStatus::kDelayed, "", 0);
  if (!delayed.ok()) {
    spdlog::warn("policies: delayed executions not listed: {}", delayed.message());
    return;
  }
  std::map<std::string, int64_t> free;  // per key, this sweep
  std::set<std::string> seen_keys;
  for (const auto& e : *delayed) {
    auto keys = SlotKeys(index.For(e.action), e.parameters);
    bool fits = true;
    for (const auto& [policy, key] : keys) {
      seen_keys.insert(key);
      auto it = free.find(key);
      if (it == free.end()) {
        auto slots = options_.store->ListPolicySlots(key, now);
        const int64_t n = slots.ok() ? policy->threshold - static_cast<int64_t>(slots->size()) : 0;
        it = free.emplace(key, n).first;
      }
      fits = fits && it->second > 0;
    }
    if (!fits) continue;  // its keys are full: it waits (and holds no place from those behind)
    for (const auto& pk : keys) free[pk.second]--;
    RequestOnce(e, /*force=*/false);  // no policy left (a reload removed it): it runs as is
  }
  const auto window = 3 * options_.sweep_interval.count();
  std::lock_guard lock(mu_);
  for (const auto& k : seen_keys) waiters_[k] = now;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    it = it->second < now - window ? waiters_.erase(it) : std::next(it);
  }
  for (auto it = requested_.begin(); it != requested_.end();) {
    it = it->second < now - window ? requested_.erase(it) : std::next(it);
  }
}

void ConcurrencyGate::RequestOnce(const store::Execution& e, bool force) {
  const store::TimeMs now = options_.clock();
  {
    // The sweep does not request again what it requested within a few sweeps (the request may
    // still be on its way through a backlog); a freed slot always does.
    std::lock_guard lock(mu_);
    auto it = requested_.find(e.id);
    if (!force && it != requested_.end()) return;
    requested_[e.id] = now;
  }
  Status s = options_.request(e);
  if (!s.ok()) spdlog::warn("policies: delayed execution {} not requested: {}", e.id, s.message());
}

}  // namespace gale::policies

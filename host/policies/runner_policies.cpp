#include "host/policies/runner_policies.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "host/bus/messages.h"
#include "host/requests/execution_request.h"

namespace gale::policies {

using store::ExecStatus;

namespace {

RunnerPoliciesOptions WithDefaults(RunnerPoliciesOptions o) {
  if (!o.clock) o.clock = [] { return store::NowMs(); };
  if (o.sweep_interval.count() <= 0) o.sweep_interval = std::chrono::milliseconds(1000);
  return o;
}

}  // namespace

RunnerPolicies::RunnerPolicies(RunnerPoliciesOptions options)
    : options_(WithDefaults(std::move(options))),
      gate_(GateOptions{options_.store, options_.node_name, options_.lease, options_.sweep_interval,
                        options_.clock, [this](const store::Execution& e) { return Request(e); }}),
      retry_(RetryOptions{options_.store, options_.node_name, options_.sweep_interval,
                          options_.clock,
                          [this](const store::Execution& e) { return Request(e); }}) {}

std::shared_ptr<const packs::PolicyIndex> RunnerPolicies::Index() const {
  auto index = options_.policies ? options_.policies() : nullptr;
  if (!index) {
    static const auto kNone = std::make_shared<const packs::PolicyIndex>();
    return kNone;
  }
  return index;
}

Status RunnerPolicies::Request(const store::Execution& e) {
  if (options_.producer == nullptr) return Status::Error("no producer");
  return options_.producer->Produce(options_.executions_topic, e.id,
                                    bus::Encode(requests::ExecutionRequestOf(e)));
}

Result<RunnerPolicies::Admission> RunnerPolicies::BeforeClaim(store::Store& st,
                                                              const store::Execution& record) {
  const auto index = Index();
  const auto& policies = index->For(record.action);
  Admission a;
  if (policies.empty() && record.status != ExecStatus::kDelayed) return a;
  GALE_ASSIGN_OR_RETURN(auto verdict, gate_.Admit(st, record, policies));
  if (!verdict.claim) {
    a.claim = false;
    a.became = verdict.became;
    a.result = verdict.result;
    a.verdict = std::move(verdict);
    return a;
  }
  Entry entry;
  entry.action = record.action;
  entry.held = std::move(verdict.held);
  for (const auto& p : policies) {
    if (p.type == packs::PolicyType::kRetry) entry.record = record;
  }
  if (entry.held.empty() && !entry.record) return a;
  std::lock_guard lock(mu_);
  entries_[record.id] = std::move(entry);
  return a;
}

void RunnerPolicies::AfterAdmit(const store::Execution& record, const Admission& admission) {
  if (admission.claim) return;
  gate_.AfterDelay(record.action, admission.verdict, Index()->For(record.action));
}

std::optional<RunnerPolicies::Entry> RunnerPolicies::Take(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  Entry e = std::move(it->second);
  entries_.erase(it);
  return e;
}

void RunnerPolicies::ClaimLost(const std::string& id) {
  auto entry = Take(id);
  if (!entry || entry->held.empty()) return;
  // The winner took the same slots (an acquire by the same execution is a renewal): they are
  // its while it runs. Otherwise (finished, canceled) nobody else frees them.
  auto now = options_.store->GetExecution(id);
  if (now.ok() && *now &&
      ((*now)->status == ExecStatus::kRunning || (*now)->status == ExecStatus::kCanceling) &&
      (*now)->node != options_.node_name) {
    return;
  }
  gate_.Release(id, entry->action, entry->held, *Index());
}

void RunnerPolicies::BeforeFinish(const std::string& id, ExecStatus status) {
  std::optional<store::Execution> record;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end() || !it->second.record) return;
    record = it->second.record;
  }
  const auto index = Index();
  auto retry = retry_.Prepare(*record, status, index->For(record->action));
  if (!retry.ok()) {
    spdlog::error("policies: retry of execution {} not created: {}", id, retry.message());
    return;
  }
  if (!*retry) return;
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it != entries_.end()) it->second.retry = std::move(**retry);
}

bool RunnerPolicies::HoldsSlots(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  return it != entries_.end() && !it->second.held.empty();
}

void RunnerPolicies::ReleaseWithFinish(store::Store& st, const std::string& id) {
  std::vector<HeldSlot> held;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    held = it->second.held;
  }
  gate_.ReleaseSlots(st, id, held);
}

void RunnerPolicies::AfterFinish(const std::string& id, bool released) {
  auto entry = Take(id);
  if (!entry) return;
  if (released) {
    gate_.RequestWaiters(entry->action, entry->held, *Index());
  } else if (!entry->held.empty()) {
    gate_.Release(id, entry->action, entry->held, *Index());
  }
  if (entry->retry) retry_.Arm(*entry->retry);
}

void RunnerPolicies::RenewLeases() {
  std::vector<std::pair<std::string, std::vector<HeldSlot>>> held;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, e] : entries_) {
      if (!e.held.empty()) held.emplace_back(id, e.held);
    }
  }
  for (const auto& [id, slots] : held) gate_.Renew(id, slots);
}

void RunnerPolicies::Tick() {
  retry_.Tick();
  const store::TimeMs now = options_.clock();
  if (now < next_sweep_) return;
  next_sweep_ = now + options_.sweep_interval.count();
  gate_.RequestDelayed(*Index());
}

}  // namespace gale::policies

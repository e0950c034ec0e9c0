#include "host/policies/retry_policy.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "host/policies/concurrency_gate.h"
#include "host/policies/retry_id.h"

namespace gale::policies {

using store::ExecStatus;

RetryPolicy::RetryPolicy(RetryOptions options) : options_(std::move(options)) {}

Result<std::optional<store::Execution>> RetryPolicy::Prepare(
    const store::Execution& record, ExecStatus status,
    const std::vector<packs::PolicyMeta>& policies) {
  if (status != ExecStatus::kFailed && status != ExecStatus::kTimeout)
    return std::optional<store::Execution>();
  const packs::RetryOn on =
      status == ExecStatus::kFailed ? packs::RetryOn::kFailure : packs::RetryOn::kTimeout;
  const int attempt = record.retry_attempt + 1;
  for (const auto& p : policies) {
    if (p.type != packs::PolicyType::kRetry || p.retry_on != on) continue;
    if (attempt > p.max_retry_count) return std::optional<store::Execution>();
    const store::TimeMs now = options_.clock();
    store::Execution r;
    r.retry_of = record.retry_of.empty() ? record.id : record.retry_of;
    r.retry_attempt = attempt;
    r.id = RetryExecutionId(r.retry_of, attempt);
    r.action = record.action;
    r.parameters = record.parameters;
    r.secret_parameters = record.secret_parameters;
    r.rule = record.rule;
    r.trigger_instance = record.trigger_instance;
    r.trace_id = record.trace_id;
    r.status = ExecStatus::kScheduled;
    // When it is due: the sweep finds due retries by requested_at.
    r.requested_at = now + p.delay_seconds * 1000;
    r.log = {{ExecStatus::kScheduled, now, options_.node_name}};
    GALE_ASSIGN_OR_RETURN(bool created, options_.store->CreateExecution(r));
    spdlog::info("policies: execution {} ended {}: retry {} of {} is {} ({}, in {} s)", record.id,
                 store::ToString(status), attempt, p.max_retry_count, r.id,
                 created ? "created" : "already there", p.ref, p.delay_seconds);
    return std::optional<store::Execution>(std::move(r));
  }
  return std::optional<store::Execution>();
}

void RetryPolicy::Arm(const store::Execution& retry) {
  {
    std::lock_guard lock(mu_);
    armed_.emplace(retry.requested_at, retry);
  }
  Tick();
}

void RetryPolicy::Tick() {
  const store::TimeMs now = options_.clock();
  std::vector<store::Execution> due;
  bool sweep = false;
  {
    std::lock_guard lock(mu_);
    while (!armed_.empty() && armed_.begin()->first <= now) {
      due.push_back(std::move(armed_.begin()->second));
      armed_.erase(armed_.begin());
    }
    if (now >= next_sweep_) {
      sweep = true;
      next_sweep_ = now + options_.sweep_interval.count();
    }
  }
  for (const auto& r : due) {
    Status s = options_.request(r);
    if (!s.ok()) spdlog::warn("policies: retry {} not requested: {}", r.id, s.message());
  }
  if (sweep) SweepDue();
}

void RetryPolicy::SweepDue() {
  const store::TimeMs now = options_.clock();
  auto scheduled = OldestFirst(*options_.store, ExecStatus::kScheduled, "", now + 1);
  if (!scheduled.ok()) {
    spdlog::warn("policies: due retries not listed: {}", scheduled.message());
    return;
  }
  // Left to the finishing node for a moment; then any node requests it.
  const store::TimeMs grace = options_.sweep_interval.count();
  for (const auto& r : *scheduled) {
    if (r.retry_of.empty() || r.requested_at > now - grace) continue;
    {
      std::lock_guard lock(mu_);
      if (requested_.count(r.id)) continue;
    }
    // The attempt before it must be over (a crash leaves it abandoned once its lease expires).
    const std::string before =
        r.retry_attempt <= 1 ? r.retry_of : RetryExecutionId(r.retry_of, r.retry_attempt - 1);
    auto previous = options_.store->GetExecution(before);
    if (!previous.ok() || (*previous && !store::IsFinal((*previous)->status))) continue;
    {
      std::lock_guard lock(mu_);
      requested_[r.id] = now;
    }
    Status s = options_.request(r);
    if (!s.ok()) spdlog::warn("policies: retry {} not requested: {}", r.id, s.message());
  }
  const store::TimeMs window = 5 * options_.sweep_interval.count();
  std::lock_guard lock(mu_);
  for (auto it = requested_.begin(); it != requested_.end();) {
    it = it->second < now - window ? requested_.erase(it) : std::next(it);
  }
}

}  // namespace gale::policies

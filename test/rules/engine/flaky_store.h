// A Store that forwards to another one and, while `fail_creates` is set, answers
// CreateExecution with a retryable error (an unreachable MongoDB, a busy SQLite file);
// `fail_trigger_inserts` does the same to the next N InsertTriggerInstance calls.
#pragma once

#include <atomic>

#include "host/store/store.h"

namespace gale::rules::engine::test {

class FlakyStore : public store::Store {
 public:
  explicit FlakyStore(store::Store* inner) : inner_(inner) {}
  std::atomic<bool> fail_creates{false};
  std::atomic<int> failed_creates{0};
  // This many InsertTriggerInstance calls fail (retryable) before the store answers again.
  std::atomic<int> fail_trigger_inserts{0};

  std::string_view backend() const override { return inner_->backend(); }
  Result<bool> InsertTriggerInstance(const store::TriggerInstance& i) override {
    if (fail_trigger_inserts > 0) {
      fail_trigger_inserts--;
      return Status::Error("store unreachable (test)", true);
    }
    return inner_->InsertTriggerInstance(i);
  }
  Result<std::optional<store::TriggerInstance>> GetTriggerInstance(const std::string& id) override {
    return inner_->GetTriggerInstance(id);
  }
  Result<bool> SetTriggerInstanceStatus(const std::string& id,
                                        store::TriggerStatus status) override {
    return inner_->SetTriggerInstanceStatus(id, status);
  }
  Result<store::Page<store::TriggerInstance>> ListTriggerInstances(
      const store::TriggerInstanceQuery& q) override {
    return inner_->ListTriggerInstances(q);
  }
  Result<bool> CreateExecution(const store::Execution& e) override {
    if (fail_creates) {
      failed_creates++;
      return Status::Error("store unreachable (test)", true);
    }
    return inner_->CreateExecution(e);
  }
  Result<std::optional<store::Execution>> GetExecution(const std::string& id) override {
    return inner_->GetExecution(id);
  }
  Result<bool> ClaimExecution(const std::string& id, const std::string& node, store::TimeMs lease,
                              store::TimeMs now) override {
    return inner_->ClaimExecution(id, node, lease, now);
  }
  Result<bool> RenewLease(const std::string& id, const std::string& node,
                          store::TimeMs lease) override {
    return inner_->RenewLease(id, node, lease);
  }
  Result<bool> TransitionExecution(const store::Transition& t) override {
    return inner_->TransitionExecution(t);
  }
  Result<std::vector<store::Execution>> MarkAbandoned(store::TimeMs now, size_t limit) override {
    return inner_->MarkAbandoned(now, limit);
  }
  Result<store::Page<store::Execution>> ListExecutions(const store::ExecutionQuery& q) override {
    return inner_->ListExecutions(q);
  }
  Result<int64_t> CountExecutions(const store::ExecutionQuery& q) override {
    return inner_->CountExecutions(q);
  }
  Result<int64_t> AppendOutput(const std::string& id, const std::string& stream,
                               const std::string& data, store::TimeMs at) override {
    return inner_->AppendOutput(id, stream, data, at);
  }
  Result<std::vector<store::OutputChunk>> ReadOutput(const std::string& id, int64_t after,
                                                     size_t limit) override {
    return inner_->ReadOutput(id, after, limit);
  }
  Result<std::optional<store::KeyValue>> GetKey(const store::KeyRef& ref,
                                                store::TimeMs now) override {
    return inner_->GetKey(ref, now);
  }
  Status SetKey(const store::KeyValue& kv, store::TimeMs now) override {
    return inner_->SetKey(kv, now);
  }
  Result<bool> DeleteKey(const store::KeyRef& ref) override { return inner_->DeleteKey(ref); }
  Result<std::vector<store::KeyValue>> ListKeys(store::KeyScope scope, const std::string& user,
                                                const std::string& prefix,
                                                store::TimeMs now) override {
    return inner_->ListKeys(scope, user, prefix, now);
  }
  Result<bool> InsertDedupeKey(const std::string& key, const std::string& owner,
                               store::TimeMs window, store::TimeMs now) override {
    return inner_->InsertDedupeKey(key, owner, window, now);
  }
  Status Heartbeat(const store::NodeInfo& node) override { return inner_->Heartbeat(node); }
  Result<std::optional<store::NodeInfo>> GetNode(const std::string& name) override {
    return inner_->GetNode(name);
  }
  Result<std::vector<store::NodeInfo>> ListNodes() override { return inner_->ListNodes(); }
  Status PutSensorStatus(const store::SensorStatus& s) override {
    return inner_->PutSensorStatus(s);
  }
  Result<std::optional<store::SensorStatus>> GetSensorStatus(const std::string& ref) override {
    return inner_->GetSensorStatus(ref);
  }
  Result<std::vector<store::SensorStatus>> ListSensorStatus(const std::string& node) override {
    return inner_->ListSensorStatus(node);
  }
  Result<bool> TryAcquireLease(const std::string& name, const std::string& holder,
                               store::TimeMs ttl, store::TimeMs now) override {
    return inner_->TryAcquireLease(name, holder, ttl, now);
  }
  Result<bool> ReleaseLease(const std::string& name, const std::string& holder) override {
    return inner_->ReleaseLease(name, holder);
  }
  Result<bool> TryAcquirePolicySlot(const std::string& key, const std::string& execution_id,
                                    const std::string& node, store::TimeMs lease_until,
                                    int64_t threshold, store::TimeMs now) override {
    return inner_->TryAcquirePolicySlot(key, execution_id, node, lease_until, threshold, now);
  }
  Result<bool> RenewPolicySlot(const std::string& key, const std::string& execution_id,
                               const std::string& node, store::TimeMs lease_until,
                               store::TimeMs now) override {
    return inner_->RenewPolicySlot(key, execution_id, node, lease_until, now);
  }
  Result<bool> ReleasePolicySlot(const std::string& key, const std::string& execution_id) override {
    return inner_->ReleasePolicySlot(key, execution_id);
  }
  Result<std::vector<PolicySlot>> ListPolicySlots(const std::string& key,
                                                  store::TimeMs now) override {
    return inner_->ListPolicySlots(key, now);
  }
  Result<store::GcCounts> CollectGarbage(const store::GcPolicy& policy,
                                         store::TimeMs now) override {
    return inner_->CollectGarbage(policy, now);
  }

 private:
  store::Store* inner_;
};

}  // namespace gale::rules::engine::test

#include "host/store/checked_store.h"

#include <string>

#include "host/store/internal.h"

namespace gale::store {
namespace {

class CheckedStore final : public Store {
 public:
  explicit CheckedStore(StorePtr inner) : owned_(std::move(inner)), inner_(owned_.get()) {}
  // The checks in front of a batch of `inner` (not owned).
  explicit CheckedStore(Store* inner) : inner_(inner) {}

  std::string_view backend() const override { return inner_->backend(); }

  Result<bool> InsertTriggerInstance(const TriggerInstance& instance) override {
    GALE_TRY(internal::CheckTriggerInstance(instance));
    return inner_->InsertTriggerInstance(instance);
  }

  Result<std::optional<TriggerInstance>> GetTriggerInstance(const std::string& id) override {
    return inner_->GetTriggerInstance(id);
  }

  Result<bool> SetTriggerInstanceStatus(const std::string& id, TriggerStatus status) override {
    return inner_->SetTriggerInstanceStatus(id, status);
  }

  Result<Page<TriggerInstance>> ListTriggerInstances(const TriggerInstanceQuery& q) override {
    return inner_->ListTriggerInstances(q);
  }

  Result<bool> CreateExecution(const Execution& execution) override {
    GALE_TRY(internal::CheckExecution(execution));
    return inner_->CreateExecution(execution);
  }

  Result<std::optional<Execution>> GetExecution(const std::string& id) override {
    return inner_->GetExecution(id);
  }

  Result<bool> ClaimExecution(const std::string& id, const std::string& node,
                              TimeMs lease_expires_at, TimeMs now) override {
    return inner_->ClaimExecution(id, node, lease_expires_at, now);
  }

  Result<std::vector<Claim>> ClaimExecutions(const std::vector<std::string>& ids,
                                             const std::string& node, TimeMs lease_expires_at,
                                             TimeMs now) override {
    return inner_->ClaimExecutions(ids, node, lease_expires_at, now);
  }

  Result<bool> RenewLease(const std::string& id, const std::string& node,
                          TimeMs lease_expires_at) override {
    return inner_->RenewLease(id, node, lease_expires_at);
  }

  Result<bool> TransitionExecution(const Transition& transition) override {
    GALE_TRY(internal::CheckTransition(transition));
    return inner_->TransitionExecution(transition);
  }

  Result<std::vector<Execution>> MarkAbandoned(TimeMs now, size_t limit) override {
    return inner_->MarkAbandoned(now, limit);
  }

  Result<Page<Execution>> ListExecutions(const ExecutionQuery& q) override {
    return inner_->ListExecutions(q);
  }

  Result<int64_t> CountExecutions(const ExecutionQuery& q) override {
    return inner_->CountExecutions(q);
  }

  Result<int64_t> AppendOutput(const std::string& execution_id, const std::string& stream,
                               const std::string& data, TimeMs at) override {
    GALE_TRY(internal::CheckId("execution id", execution_id));
    if (data.size() > kMaxOutputChunkBytes) {
      return Status::Error("output chunk of " + std::to_string(data.size()) +
                           " bytes is more than the " + std::to_string(kMaxOutputChunkBytes) +
                           " allowed; split it");
    }
    return inner_->AppendOutput(execution_id, stream, data, at);
  }

  Result<std::vector<OutputChunk>> ReadOutput(const std::string& execution_id, int64_t after_seq,
                                              size_t limit) override {
    return inner_->ReadOutput(execution_id, after_seq, limit);
  }

  Result<std::optional<KeyValue>> GetKey(const KeyRef& ref, TimeMs now) override {
    return inner_->GetKey(ref, now);
  }

  Status SetKey(const KeyValue& kv, TimeMs now) override {
    GALE_TRY(internal::CheckKeyValue(kv));
    return inner_->SetKey(kv, now);
  }

  Result<bool> SwapKey(const KeyValue& kv, const std::optional<std::string>& expected,
                       TimeMs now) override {
    GALE_TRY(internal::CheckKeyValue(kv));
    return inner_->SwapKey(kv, expected, now);
  }

  Result<bool> DeleteKey(const KeyRef& ref) override { return inner_->DeleteKey(ref); }

  Result<std::vector<KeyValue>> ListKeys(KeyScope scope, const std::string& user,
                                         const std::string& prefix, TimeMs now) override {
    return inner_->ListKeys(scope, user, prefix, now);
  }

  Result<bool> InsertDedupeKey(const std::string& key, const std::string& owner, TimeMs window,
                               TimeMs now) override {
    if (key.empty()) return Status::Error("dedupe key is empty");
    if (window <= 0) return Status::Error("dedupe window must be positive");
    return inner_->InsertDedupeKey(key, owner, window, now);
  }

  Status Heartbeat(const NodeInfo& node) override {
    GALE_TRY(internal::CheckId("node name", node.name));
    return inner_->Heartbeat(node);
  }

  Result<std::optional<NodeInfo>> GetNode(const std::string& name) override {
    return inner_->GetNode(name);
  }

  Result<std::vector<NodeInfo>> ListNodes() override { return inner_->ListNodes(); }

  Status PutSensorStatus(const SensorStatus& status) override {
    GALE_TRY(internal::CheckId("sensor ref", status.ref));
    return inner_->PutSensorStatus(status);
  }

  Result<std::optional<SensorStatus>> GetSensorStatus(const std::string& ref) override {
    return inner_->GetSensorStatus(ref);
  }

  Result<std::vector<SensorStatus>> ListSensorStatus(const std::string& node) override {
    return inner_->ListSensorStatus(node);
  }

  Result<bool> TryAcquireLease(const std::string& name, const std::string& holder, TimeMs ttl,
                               TimeMs now) override {
    GALE_TRY(internal::CheckId("lease name", name));
    GALE_TRY(internal::CheckId("lease holder", holder));
    if (ttl <= 0) return Status::Error("lease ttl must be positive");
    return inner_->TryAcquireLease(name, holder, ttl, now);
  }

  Result<bool> ReleaseLease(const std::string& name, const std::string& holder) override {
    return inner_->ReleaseLease(name, holder);
  }

  Result<bool> TryAcquirePolicySlot(const std::string& key, const std::string& execution_id,
                                    const std::string& node, TimeMs lease_until, int64_t threshold,
                                    TimeMs now) override {
    GALE_TRY(internal::CheckId("policy slot key", key));
    GALE_TRY(internal::CheckId("execution id", execution_id));
    GALE_TRY(internal::CheckId("node name", node));
    if (threshold < 1) return Status::Error("policy slot threshold must be at least 1");
    if (lease_until <= now) return Status::Error("policy slot lease must end after now");
    return inner_->TryAcquirePolicySlot(key, execution_id, node, lease_until, threshold, now);
  }

  Result<bool> RenewPolicySlot(const std::string& key, const std::string& execution_id,
                               const std::string& node, TimeMs lease_until, TimeMs now) override {
    if (lease_until <= now) return Status::Error("policy slot lease must end after now");
    return inner_->RenewPolicySlot(key, execution_id, node, lease_until, now);
  }

  Result<bool> ReleasePolicySlot(const std::string& key, const std::string& execution_id) override {
    return inner_->ReleasePolicySlot(key, execution_id);
  }

  Result<std::vector<PolicySlot>> ListPolicySlots(const std::string& key, TimeMs now) override {
    return inner_->ListPolicySlots(key, now);
  }

  Result<GcCounts> CollectGarbage(const GcPolicy& policy, TimeMs now) override {
    return inner_->CollectGarbage(policy, now);
  }

  Status Batch(const std::function<Status(Store& batch)>& body) override {
    return inner_->Batch([&](Store& batch) {
      CheckedStore checked(&batch);
      return body(checked);
    });
  }

 private:
  StorePtr owned_;
  Store* inner_;
};

}  // namespace

StorePtr WithInputChecks(StorePtr backend) {
  return std::make_unique<CheckedStore>(std::move(backend));
}

}  // namespace gale::store

#include "host/requests/trigger_fire.h"

#include "host/packs/core_triggers.h"
#include "host/requests/trigger_record.h"

namespace gale::requests {

PayloadValidators PayloadValidatorsOf(const packs::Catalog& catalog) {
  PayloadValidators out;
  auto add_type = [&](const packs::TriggerType& t) {
    auto v = schema::Validator::Compile(t.payload_schema);
    if (v.ok()) out.emplace(t.ref, std::move(v).value());
  };
  for (const auto& t : packs::CoreTriggerTypes()) add_type(t);
  for (const auto& pack : catalog.packs()) {
    if (!pack.ok()) continue;
    for (const auto& t : pack.trigger_types) add_type(t);
  }
  return out;
}

Status CheckTriggerPayload(const PayloadValidators& validators, const std::string& trigger,
                           const Json& payload) {
  auto it = validators.find(trigger);
  if (it == validators.end()) return Status::Error("trigger type '" + trigger + "' not found");
  auto violations = it->second.Validate(payload);
  if (violations.empty()) return Status::Ok();
  std::string reason = "payload does not match trigger type '" + trigger + "': ";
  for (size_t i = 0; i < violations.size(); ++i) {
    reason += (i ? "; " : "") + schema::Format(violations[i]);
  }
  return Status::Error(reason);
}

Status FireTrigger(store::Store& store, bus::Producer& producer, const std::string& topic,
                   const bus::TriggerInstanceMessage& instance, std::chrono::milliseconds timeout) {
  auto recorded =
      store.InsertTriggerInstance(TriggerRecordOf(instance, store::TriggerStatus::kPending));
  if (!recorded.ok()) return Status::Error("store: " + recorded.message(), /*retryable=*/true);
  auto produced = producer.ProduceSync(topic, instance.id, bus::Encode(instance), timeout);
  if (!produced.ok()) {
    store.SetTriggerInstanceStatus(instance.id, store::TriggerStatus::kProcessingFailed).ok();
    return Status::Error("bus: " + produced.message(), /*retryable=*/true);
  }
  return Status::Ok();
}

}  // namespace gale::requests

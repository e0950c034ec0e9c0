#include "host/sensors/sensor_service.h"
#include "host/common/input_limits.h"

#include <spdlog/spdlog.h>

#include "host/bus/messages.h"

namespace gale::sensors {

void StopSignal::Request() {
  {
    std::lock_guard lock(mutex_);
    requested_ = true;
  }
  cv_.notify_all();
}

bool StopSignal::WaitFor(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return requested_.load(); });
}

SensorService::SensorService(SensorHostContext& context, const packs::SensorMeta& sensor)
    : context_(context), sensor_(sensor), config_json_(context.pack->config.dump()) {}

std::string SensorService::config_json() const noexcept {
  return config_json_;
}

void SensorService::log(plugin::LogLevel level, std::string_view message) noexcept {
  try {
    switch (level) {
      case plugin::LogLevel::kDebug:
        spdlog::debug("{}: {}", sensor_.ref, message);
        break;
      case plugin::LogLevel::kInfo:
        spdlog::info("{}: {}", sensor_.ref, message);
        break;
      case plugin::LogLevel::kWarning:
        spdlog::warn("{}: {}", sensor_.ref, message);
        break;
      case plugin::LogLevel::kError:
        spdlog::error("{}: {}", sensor_.ref, message);
        break;
    }
  } catch (...) {
  }
}

plugin::CallResult SensorService::dispatch_json(std::string_view trigger_ref,
                                                std::string_view payload_json,
                                                std::string_view dedupe_key) noexcept {
  try {
    const std::string ref(trigger_ref);
    auto reject = [&](const std::string& why) {
      const auto n = ++context_.counters->rejected;
      spdlog::warn("{}: rejected a {} trigger: {} ({} rejected so far)", sensor_.ref, ref, why, n);
      return plugin::CallResult{false, why};
    };
    auto validator = context_.payload_validators.find(ref);
    if (validator == context_.payload_validators.end()) {
      return reject("unknown trigger type '" + ref + "' (pack " + context_.pack->ref +
                    " declares it in no sensor)");
    }
    auto parsed = ParseUntrustedJson(payload_json, "payload");
    if (!parsed.ok()) return reject(parsed.message());
    Json payload = std::move(parsed).value();
    auto violations = validator->second.Validate(payload);
    if (!violations.empty()) {
      return reject("payload violates its payload_schema: " + schema::Format(violations.front()));
    }
    auto msg =
        bus::TriggerInstanceMessage::New(ref, std::move(payload), sensor_.ref, context_.node);
    msg.dedupe_key = dedupe_key;
    DispatchCounters* counters = context_.counters;
    std::string sensor_ref = sensor_.ref;
    Status queued = context_.producer->Produce(
        context_.triggers_topic, msg.id, bus::Encode(msg),
        [counters, sensor_ref](const Status& delivered, const bus::Message& m) {
          if (delivered.ok()) return;
          ++counters->delivery_failed;
          spdlog::error("{}: trigger instance {} was not delivered: {}", sensor_ref, m.key,
                        delivered.message());
        });
    if (!queued.ok()) return reject("cannot queue the trigger instance: " + queued.message());
    ++context_.counters->dispatched;
    return {};
  } catch (const std::exception& e) {
    return {false, e.what()};
  }
}

std::string SensorService::ScopedName(std::string_view name) const {
  return sensor_.ref + ":" + std::string(name);
}

std::optional<std::string> SensorService::datastore_get(std::string_view name) noexcept {
  try {
    if (context_.broker == nullptr) return std::nullopt;
    auto value = context_.broker->Get(ScopedName(name));
    if (!value.ok()) {
      spdlog::warn("{}: datastore get failed: {}", sensor_.ref, value.message());
      return std::nullopt;
    }
    return *value;
  } catch (...) {
    return std::nullopt;
  }
}

plugin::CallResult SensorService::datastore_set(std::string_view name,
                                                std::string_view value) noexcept {
  try {
    if (context_.broker == nullptr) {
      return {false, "no datastore: this sensor host has no broker (--broker-fd)"};
    }
    // A sensor's checkpoint is never ahead of the triggers it covers: everything dispatched
    // before this write is on the bus first, so a crash after it loses no trigger.
    if (Status f = context_.producer->Flush(std::chrono::seconds(30)); !f.ok()) {
      return {false, "triggers dispatched before this write are not on the bus: " + f.message()};
    }
    Status s = context_.broker->Set(ScopedName(name), std::string(value));
    return s.ok() ? plugin::CallResult{} : plugin::CallResult{false, s.message()};
  } catch (const std::exception& e) {
    return {false, e.what()};
  }
}

bool SensorService::stop_requested() const noexcept {
  return context_.stop->requested();
}

bool SensorService::wait_for_stop(std::chrono::milliseconds timeout) noexcept {
  try {
    return context_.stop->WaitFor(timeout);
  } catch (...) {
    return context_.stop->requested();
  }
}

std::chrono::milliseconds SensorService::poll_interval() const noexcept {
  return std::chrono::milliseconds(static_cast<std::int64_t>(sensor_.poll_interval * 1000));
}

}  // namespace gale::sensors

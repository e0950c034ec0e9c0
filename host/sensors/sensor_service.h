// The host side of plugin::SensorServiceAbi for one sensor: validates dispatched payloads against
// their trigger type's payload_schema and produces trigger instances to `<prefix>triggers`.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "host/bus/bus.h"
#include "host/packs/metadata.h"
#include "host/schema/validator.h"
#include "host/sensors/broker_client.h"
#include "plugin_api/abi.h"

namespace gale::sensors {

// Stop flag shared by every sensor of a host: set once, wakes every waiter.
class StopSignal {
 public:
  void Request();
  bool requested() const { return requested_.load(); }
  // Waits up to `timeout`; true when stop was requested.
  bool WaitFor(std::chrono::milliseconds timeout);

 private:
  std::atomic<bool> requested_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
};

// Counters of one sensor host, read for logs and status.
struct DispatchCounters {
  std::atomic<std::int64_t> dispatched{0};
  std::atomic<std::int64_t> rejected{0};
  std::atomic<std::int64_t> delivery_failed{0};
};

// What every sensor of one pack shares.
struct SensorHostContext {
  const packs::Pack* pack = nullptr;
  std::string node;
  std::string triggers_topic;
  bus::Producer* producer = nullptr;
  BrokerClient* broker = nullptr;  // the datastore; null: unavailable (no --broker-fd)
  StopSignal* stop = nullptr;
  DispatchCounters* counters = nullptr;
  // trigger ref -> compiled payload_schema (only this pack's trigger types may be dispatched)
  std::map<std::string, schema::Validator> payload_validators;
};

class SensorService final : public plugin::SensorServiceAbi {
 public:
  SensorService(SensorHostContext& context, const packs::SensorMeta& sensor);

  std::string config_json() const noexcept override;
  void log(plugin::LogLevel level, std::string_view message) noexcept override;
  plugin::CallResult dispatch_json(std::string_view trigger_ref, std::string_view payload_json,
                                   std::string_view dedupe_key) noexcept override;
  std::optional<std::string> datastore_get(std::string_view name) noexcept override;
  plugin::CallResult datastore_set(std::string_view name, std::string_view value) noexcept override;
  bool stop_requested() const noexcept override;
  bool wait_for_stop(std::chrono::milliseconds timeout) noexcept override;
  std::chrono::milliseconds poll_interval() const noexcept override;

 private:
  // Datastore names are scoped to the sensor, as StackStorm's sensor_service does it.
  std::string ScopedName(std::string_view name) const;

  SensorHostContext& context_;
  const packs::SensorMeta& sensor_;
  const std::string config_json_;
};

}  // namespace gale::sensors

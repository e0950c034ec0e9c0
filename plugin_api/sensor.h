// Sensors: the pack author's side. Derive from PollingSensor (the host calls poll() every
// poll_interval from the sensor's metadata) or Sensor (passive: run() waits for events until stop
// is requested). The host owns the timers and threads; a sensor never starts its own.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "plugin_api/abi.h"
#include "plugin_api/json.h"

namespace gale::plugin {

// What a sensor may use: dispatch, its pack's config, the log and the datastore.
// A thin, inline layer over the ABI service so that JSON is handled inside the pack.
class SensorService {
 public:
  explicit SensorService(SensorServiceAbi& abi) : abi_(abi) {}

  // Sends a trigger instance of `trigger_ref` (e.g. "examples.changed_file"). The host validates
  // the payload against the trigger type's payload_schema; a refused payload is logged, counted
  // and reported here as false. Instances with the same `dedupe_key` inside the dedupe window
  // collapse into one.
  bool dispatch(std::string_view trigger_ref, const Json& payload,
                std::optional<std::string> dedupe_key = std::nullopt) {
    return abi_.dispatch_json(trigger_ref, payload.dump(), dedupe_key.value_or("")).ok;
  }

  // The pack's config.yaml as JSON (an empty object when absent or unreadable).
  Json config() const {
    Json parsed = Json::parse(abi_.config_json(), nullptr, /*allow_exceptions=*/false);
    return parsed.is_object() ? parsed : Json::object();
  }

  void log(LogLevel level, std::string_view message) { abi_.log(level, message); }
  void info(std::string_view message) { abi_.log(LogLevel::kInfo, message); }
  void warning(std::string_view message) { abi_.log(LogLevel::kWarning, message); }
  void error(std::string_view message) { abi_.log(LogLevel::kError, message); }

  std::optional<std::string> get_value(std::string_view name) { return abi_.datastore_get(name); }
  bool set_value(std::string_view name, std::string_view value) {
    return abi_.datastore_set(name, value).ok;
  }

  bool stop_requested() const { return abi_.stop_requested(); }
  bool wait_for_stop(std::chrono::milliseconds timeout) { return abi_.wait_for_stop(timeout); }
  std::chrono::milliseconds poll_interval() const { return abi_.poll_interval(); }

 private:
  SensorServiceAbi& abi_;
};

// A sensor whose poll() the host calls every poll_interval. setup() runs once before the first
// poll, cleanup() once after the last. Exceptions are caught at the boundary and logged.
class PollingSensor {
 public:
  explicit PollingSensor(SensorService& service) : service_(service) {}
  virtual ~PollingSensor() = default;
  virtual void setup() {}
  virtual void poll() = 0;
  virtual void cleanup() {}

 protected:
  SensorService& sensor_service() { return service_; }

 private:
  SensorService& service_;
};

// A passive sensor: run() blocks, dispatching as events arrive, and returns when
// sensor_service().stop_requested() (use wait_for_stop() rather than sleeping).
class Sensor {
 public:
  explicit Sensor(SensorService& service) : service_(service) {}
  virtual ~Sensor() = default;
  virtual void setup() {}
  virtual void run() = 0;
  virtual void cleanup() {}

 protected:
  SensorService& sensor_service() { return service_; }

 private:
  SensorService& service_;
};

}  // namespace gale::plugin

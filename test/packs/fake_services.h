// Host services for driving plugins in-process in tests: they record what the plugin did.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "plugin_api/abi.h"

namespace gale::testing {

struct Dispatched {
  std::string trigger;
  std::string payload_json;
  std::string dedupe_key;
};

class RecordingSensorService : public plugin::SensorServiceAbi {
 public:
  explicit RecordingSensorService(std::string config_json = "{}")
      : config_(std::move(config_json)) {}
  std::string config_json() const noexcept override { return config_; }
  void log(plugin::LogLevel, std::string_view message) noexcept override {
    std::lock_guard lock(mutex_);
    logs.emplace_back(message);
  }
  plugin::CallResult dispatch_json(std::string_view trigger, std::string_view payload,
                                   std::string_view dedupe_key) noexcept override {
    std::lock_guard lock(mutex_);
    dispatched.push_back({std::string(trigger), std::string(payload), std::string(dedupe_key)});
    return {};
  }
  std::optional<std::string> datastore_get(std::string_view) noexcept override {
    return std::nullopt;
  }
  plugin::CallResult datastore_set(std::string_view, std::string_view) noexcept override {
    return {};
  }
  bool stop_requested() const noexcept override { return true; }
  bool wait_for_stop(std::chrono::milliseconds) noexcept override { return true; }
  std::chrono::milliseconds poll_interval() const noexcept override {
    return std::chrono::milliseconds(1000);
  }

  std::vector<Dispatched> dispatched;
  std::vector<std::string> logs;

 private:
  std::string config_;
  std::mutex mutex_;
};

class StaticActionService : public plugin::ActionServiceAbi {
 public:
  explicit StaticActionService(std::string config_json = "{}") : config_(std::move(config_json)) {}
  std::string config_json() const noexcept override { return config_; }
  void log(plugin::LogLevel, std::string_view) noexcept override {}

 private:
  std::string config_;
};

}  // namespace gale::testing

// Publishing a pack: register sensors and actions in one function and export it with GALE_PACK.
//
//   void register_pack(gale::plugin::PackRegistry& pack) {
//     pack.sensor<DirectorySensor>("DirectorySensor");   // sensors/*.yaml class_name
//     pack.action<OutputContext>("output_context");      // actions/*.yaml entry_point
//   }
//   GALE_PACK(register_pack)
//
// Everything below is compiled into the pack, so every exception a plugin throws is caught on
// the pack's side of the boundary and returned to the host as a CallResult.
#pragma once

#include <boost/dll/alias.hpp>
#include <cstdio>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "plugin_api/abi.h"
#include "plugin_api/action.h"
#include "plugin_api/sensor.h"

namespace gale::plugin {

namespace detail {

template <class Fn>
CallResult Guard(Fn&& fn) noexcept {
  try {
    fn();
    return {};
  } catch (const std::exception& e) {
    return {false, e.what()};
  } catch (...) {
    return {false, "unknown exception"};
  }
}

// Owns the author's sensor and the service wrapper it holds a reference to.
template <class T>
class SensorAdapter final : public SensorInstance {
 public:
  static constexpr bool kPolling = std::is_base_of_v<PollingSensor, T>;
  explicit SensorAdapter(SensorServiceAbi& abi) : service_(abi), sensor_(service_) {}
  bool polling() const noexcept override { return kPolling; }
  CallResult setup() noexcept override {
    return Guard([&] { sensor_.setup(); });
  }
  CallResult poll() noexcept override {
    if constexpr (kPolling) {
      return Guard([&] { sensor_.poll(); });
    } else {
      return {false, "poll() called on a passive sensor"};
    }
  }
  CallResult run() noexcept override {
    if constexpr (kPolling) {
      return {false, "run() called on a polling sensor"};
    } else {
      return Guard([&] { sensor_.run(); });
    }
  }
  CallResult cleanup() noexcept override {
    return Guard([&] { sensor_.cleanup(); });
  }

 private:
  SensorService service_;
  T sensor_;
};

template <class T>
class ActionAdapter final : public ActionInstance {
 public:
  explicit ActionAdapter(ActionServiceAbi& abi) : service_(abi), action_(service_) {}
  ActionOutcome run(std::string_view parameters_json) noexcept override {
    ActionOutcome out;
    CallResult call = Guard([&] {
      Json params = Json::parse(parameters_json);
      ActionResult r = action_.run(params);
      out.status = r.ok          ? ActionStatus::kSucceeded
                   : r.retryable ? ActionStatus::kRetryable
                                 : ActionStatus::kFailed;
      out.result_json = r.json.dump();
    });
    if (!call.ok) {
      out.status = ActionStatus::kFailed;
      out.result_json = Json{{"error", "action threw: " + call.error}}.dump();
    }
    return out;
  }

 private:
  ActionService service_;
  T action_;
};

}  // namespace detail

class PackRegistry final : public PackModule {
 public:
  template <class T>
  void sensor(std::string class_name) {
    static_assert(std::is_base_of_v<PollingSensor, T> || std::is_base_of_v<Sensor, T>,
                  "a sensor derives from gale::plugin::PollingSensor or gale::plugin::Sensor");
    Add(sensors_, std::move(class_name), "sensor class",
        [](SensorServiceAbi& abi) -> SensorInstance* { return new detail::SensorAdapter<T>(abi); });
  }
  template <class T>
  void action(std::string entry_point) {
    static_assert(std::is_base_of_v<Action, T>, "an action derives from gale::plugin::Action");
    Add(actions_, std::move(entry_point), "action",
        [](ActionServiceAbi& abi) -> ActionInstance* { return new detail::ActionAdapter<T>(abi); });
  }

  std::vector<std::string> sensor_classes() const noexcept override { return Keys(sensors_); }
  std::vector<std::string> actions() const noexcept override { return Keys(actions_); }
  CallResult create_sensor(std::string_view class_name, SensorServiceAbi& service,
                           SensorInstance** out) noexcept override {
    return Create(sensors_, class_name, "sensor class", service, out);
  }
  CallResult create_action(std::string_view entry_point, ActionServiceAbi& service,
                           ActionInstance** out) noexcept override {
    return Create(actions_, entry_point, "action", service, out);
  }

 private:
  // A name registered twice would silently run the last class registered: the pack refuses to
  // load instead (GALE_PACK returns the message through gale_pack_factory_error).
  template <class Map, class Factory>
  static void Add(Map& map, std::string name, const char* what, Factory factory) {
    if (!map.emplace(name, std::move(factory)).second) {
      throw std::invalid_argument(std::string(what) + " '" + name + "' is registered twice");
    }
  }
  template <class Map>
  static std::vector<std::string> Keys(const Map& map) noexcept {
    std::vector<std::string> keys;
    for (const auto& entry : map) keys.push_back(entry.first);
    return keys;
  }
  template <class Map, class Service, class Instance>
  static CallResult Create(const Map& map, std::string_view name, const char* what,
                           Service& service, Instance** out) noexcept {
    *out = nullptr;
    auto it = map.find(std::string(name));
    if (it == map.end())
      return {false,
              std::string(what) + " '" + std::string(name) + "' is not exported by this pack"};
    return detail::Guard([&] { *out = it->second(service); });
  }

  std::map<std::string, std::function<SensorInstance*(SensorServiceAbi&)>> sensors_;
  std::map<std::string, std::function<ActionInstance*(ActionServiceAbi&)>> actions_;
};

}  // namespace gale::plugin

// Exports the pack: the ABI version entry (called first by the host) and the factory, published
// with Boost.DLL. `register_fn` is `void(gale::plugin::PackRegistry&)`; no static constructors.
#define GALE_PACK(register_fn)                                                                     \
  extern "C" GALE_PLUGIN_VISIBLE std::uint32_t gale_pack_abi_version() {                           \
    return ::gale::plugin::kAbiVersion;                                                            \
  }                                                                                                \
  namespace {                                                                                      \
  /* A fixed buffer: recording the error must not throw in turn. */                                \
  char gale_pack_factory_error_text[512];                                                          \
  void GalePackFactoryError(const char* what) {                                                    \
    std::snprintf(gale_pack_factory_error_text, sizeof(gale_pack_factory_error_text), "%s", what); \
  }                                                                                                \
  ::gale::plugin::PackModule* GalePackFactory() {                                                  \
    try {                                                                                          \
      auto module = std::make_unique<::gale::plugin::PackRegistry>();                              \
      register_fn(*module);                                                                        \
      return module.release();                                                                     \
    } catch (const std::exception& e) {                                                            \
      GalePackFactoryError(e.what());                                                              \
    } catch (...) {                                                                                \
      GalePackFactoryError("a non-standard exception");                                            \
    }                                                                                              \
    return nullptr;                                                                                \
  }                                                                                                \
  }                                                                                                \
  extern "C" GALE_PLUGIN_VISIBLE const char* gale_pack_factory_error() {                           \
    return gale_pack_factory_error_text;                                                           \
  }                                                                                                \
  BOOST_DLL_ALIAS(GalePackFactory, gale_pack_factory)

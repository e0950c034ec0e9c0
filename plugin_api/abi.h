// The binary contract between the Gale host and a pack `.so`.
//
// Only this header crosses the boundary at run time. Everything in it is an abstract class with a
// virtual destructor or a small value type made of standard-library types; nothing here throws
// (every call is noexcept), and JSON travels as UTF-8 text so that the host and the pack may be
// built against different versions of any JSON library.
//
// Loading order (host side): dlopen with local symbol scope -> call `gale_pack_abi_version()` ->
// refuse unless it is between kOldestAbiVersion and kAbiVersion -> call the Boost.DLL alias
// `gale_pack_factory` -> ask the module for sensors and actions by name. A mismatched vtable would
// crash, hence the version check before any C++ type is touched.
//
// Bump kAbiVersion on ANY change to the plugin_api headers (test/packs/abi_test.cpp fails until
// the new header digest is recorded there). Raise kOldestAbiVersion to it too unless the change
// leaves every class layout and vtable as it was, so that packs built before still load.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#define GALE_PLUGIN_VISIBLE __attribute__((visibility("default")))

namespace gale::plugin {

// 2: a name registered twice refuses the pack; optional gale_pack_factory_error. Layouts as in 1.
inline constexpr std::uint32_t kAbiVersion = 2;
inline constexpr std::uint32_t kOldestAbiVersion = 1;

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Outcome of one call into a pack: `ok`, or the error the plugin raised (an exception caught at
// the boundary, or a failure it reported).
struct CallResult {
  bool ok = true;
  std::string error;
};

// --- Services the host provides to plugins (implemented by the host) ---------------------------

class GALE_PLUGIN_VISIBLE ServiceBase {
 public:
  virtual ~ServiceBase() = default;
  // The pack's config.yaml as a JSON object ("{}" when the pack has none).
  virtual std::string config_json() const noexcept = 0;
  // Writes one line to the host's log, tagged with the pack and sensor or action.
  virtual void log(LogLevel level, std::string_view message) noexcept = 0;
};

class GALE_PLUGIN_VISIBLE SensorServiceAbi : public ServiceBase {
 public:
  // Validates `payload_json` against the trigger type's payload_schema and sends a trigger
  // instance. An empty `dedupe_key` means none. Returns the reason on refusal.
  virtual CallResult dispatch_json(std::string_view trigger_ref, std::string_view payload_json,
                                   std::string_view dedupe_key) noexcept = 0;
  // Datastore access (names are scoped to the pack by the host).
  virtual std::optional<std::string> datastore_get(std::string_view name) noexcept = 0;
  virtual CallResult datastore_set(std::string_view name, std::string_view value) noexcept = 0;
  // A passive sensor's run() returns once this becomes true.
  virtual bool stop_requested() const noexcept = 0;
  // Sleeps up to `timeout`; returns true early when stop was requested.
  virtual bool wait_for_stop(std::chrono::milliseconds timeout) noexcept = 0;
  // The sensor's poll_interval from its metadata (0 for passive sensors).
  virtual std::chrono::milliseconds poll_interval() const noexcept = 0;
};

class GALE_PLUGIN_VISIBLE ActionServiceAbi : public ServiceBase {};

// --- Objects a pack makes (implemented inside the pack, by plugin_api/pack.h) ------------------

class GALE_PLUGIN_VISIBLE SensorInstance {
 public:
  virtual ~SensorInstance() = default;
  virtual bool polling() const noexcept = 0;
  virtual CallResult setup() noexcept = 0;
  virtual CallResult poll() noexcept = 0;  // polling sensors: called by the host every interval
  virtual CallResult run() noexcept = 0;   // passive sensors: blocks until stop is requested
  virtual CallResult cleanup() noexcept = 0;
};

enum class ActionStatus { kSucceeded, kFailed, kRetryable };

struct ActionOutcome {
  ActionStatus status = ActionStatus::kFailed;
  std::string result_json;  // the action's result document (or {"error": ...})
};

class GALE_PLUGIN_VISIBLE ActionInstance {
 public:
  virtual ~ActionInstance() = default;
  virtual ActionOutcome run(std::string_view parameters_json) noexcept = 0;
};

// What `gale_pack_factory` returns. Ownership: the caller owns the module and every instance it
// creates and deletes them (virtual destructors) before unloading the library.
class GALE_PLUGIN_VISIBLE PackModule {
 public:
  virtual ~PackModule() = default;
  virtual std::vector<std::string> sensor_classes() const noexcept = 0;
  virtual std::vector<std::string> actions() const noexcept = 0;
  // On success *out is a new instance; on failure *out is null and the result says why (unknown
  // name, or the constructor threw). `service` must outlive the instance.
  virtual CallResult create_sensor(std::string_view class_name, SensorServiceAbi& service,
                                   SensorInstance** out) noexcept = 0;
  virtual CallResult create_action(std::string_view entry_point, ActionServiceAbi& service,
                                   ActionInstance** out) noexcept = 0;
};

// Symbol names the host resolves.
inline constexpr const char* kAbiVersionSymbol = "gale_pack_abi_version";
inline constexpr const char* kFactoryAlias = "gale_pack_factory";
// Optional (packs built before it lack it): why the factory returned null, e.g. a name
// registered twice. Valid until the library is unloaded.
inline constexpr const char* kFactoryErrorSymbol = "gale_pack_factory_error";
using AbiVersionFn = std::uint32_t();
using FactoryFn = PackModule*();
using FactoryErrorFn = const char*();

}  // namespace gale::plugin

// What a pack declares: the records read from pack.yaml, config.yaml, sensors/, actions/, rules/
// and policies/ (StackStorm's field names), plus what its `.so` exports.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "host/common/json.h"
#include "host/packs/action_chain.h"
#include "host/packs/orquesta_spec.h"

namespace gale::packs {

// Where a record came from, for error messages ("packs/x/actions/a.yaml:12: ...").
struct Origin {
  std::string file;
  int line = 0;
};

struct TriggerType {
  std::string ref;  // "<pack>.<name>", or "core.st2.webhook" for the built-in ones
  std::string pack;
  std::string name;
  std::string description;
  Json payload_schema = Json::object();
  Json parameters_schema = Json::object();
  Origin origin;
};

struct SensorMeta {
  std::string ref;  // "<pack>.<class_name>"
  std::string class_name;
  // The .so holding the class (default lib<pack>.so), or a Python file relative to the pack's
  // sensors/ folder (StackStorm's layout), which `python` then says.
  std::string entry_point;
  bool python = false;
  std::string description;
  bool enabled = true;
  double poll_interval = 60;               // seconds; StackStorm's PollingSensor default
  std::vector<std::string> trigger_types;  // refs
  Origin origin;
};

struct ActionMeta {
  std::string ref;  // "<pack>.<name>"
  std::string pack;
  std::string name;
  std::string runner_type;
  std::string entry_point;
  std::string description;
  bool enabled = true;
  Json parameters = Json::object();         // StackStorm's parameter map, as written
  Json parameters_schema = Json::object();  // the same as a JSON Schema object
  Json sandbox = Json::object();
  Origin origin;
  // runner_type action-chain: the chain file read and checked at load (Catalog::CheckChains).
  std::shared_ptr<const ActionChain> chain;
  // runner_type orquesta: the workflow file read and checked at load (Catalog::CheckChains).
  std::shared_ptr<const OrquestaWorkflow> orquesta;
};

struct RuleMeta {
  std::string ref;  // "<pack>.<name>"
  std::string pack;
  std::string name;
  std::string description;
  bool enabled = true;
  std::string trigger_type;
  Json trigger_parameters = Json::object();
  Json criteria = Json::object();
  std::string action_ref;
  Json action_parameters = Json::object();
  Origin origin;
};

// StackStorm's policy types (schemas/pack/policy_types/<name>.json).
enum class PolicyType { kConcurrency, kConcurrencyAttr, kRetry };
// What a concurrency policy does with an execution over its threshold (`action:`).
enum class OverThreshold { kDelay, kCancel };
// What an action.retry policy retries (`retry_on:`).
enum class RetryOn { kFailure, kTimeout };

// A policy on one action (policies/*.yaml). The typed fields of its policy_type are set from
// `parameters` (validated, defaults filled in); those of the other types keep their zero values.
struct PolicyMeta {
  std::string ref;  // "<pack>.<name>"
  std::string pack;
  std::string name;
  std::string description;
  bool enabled = true;
  std::string resource_ref;  // the action, "<pack>.<name>"
  std::string policy_type;   // "action.concurrency", "action.concurrency.attr", "action.retry"
  PolicyType type = PolicyType::kConcurrency;
  Json parameters = Json::object();  // as written, with the policy type's defaults filled in
  // action.concurrency and action.concurrency.attr
  int64_t threshold = 0;
  OverThreshold over_threshold = OverThreshold::kDelay;
  std::vector<std::string> attributes;  // .attr only: action parameter names
  // action.retry
  RetryOn retry_on = RetryOn::kFailure;
  int64_t max_retry_count = 0;
  int64_t delay_seconds = 0;
  Origin origin;
  int resource_ref_line = 0;         // where resource_ref is, for errors about the action
  std::vector<int> attribute_lines;  // where each attribute is (same order)
};

// What the pack's shared library exports, as read when it was inspected.
struct LibraryInfo {
  std::string path;
  std::uint32_t abi_version = 0;
  std::vector<std::string> sensor_classes;
  std::vector<std::string> actions;
};

// A resource left out of a pack that otherwise loads (StackStorm's registrar skips a broken file
// the same way): its kind, the file it came from, and why.
struct RefusedResource {
  std::string kind;  // "action", "rule", "sensor", "policy", "config"
  std::string ref;   // "<pack>.<name>"; "" when the file could not be read far enough to name it
  std::string file;  // the metadata file
  std::vector<std::string> errors;  // "file:line: message"
};

struct Pack {
  std::string ref;
  std::string name;
  std::string description;
  std::string version;
  std::string author;
  std::string dir;
  Json config = Json::object();
  std::vector<SensorMeta> sensors;
  std::vector<TriggerType> trigger_types;
  std::vector<ActionMeta> actions;
  std::vector<RuleMeta> rules;
  std::vector<PolicyMeta> policies;
  std::optional<LibraryInfo> library;
  // Pack-level problems (pack.yaml, its ref, its library), one line each; a pack with any error
  // is not activated (its sensors, actions, rules and policies stay out), and the other packs load
  // as usual.
  std::vector<std::string> errors;
  // Resources refused on their own: the pack loads without them (unless validated with --strict).
  std::vector<RefusedResource> refused;
  // Things ignored on purpose (an aliases/ folder, an unknown folder), one line each; never errors.
  std::vector<std::string> notes;

  bool ok() const { return errors.empty(); }
  // The .so that native code comes from: lib<ref>.so in the pack directory.
  std::string LibraryPath() const { return dir + "/lib" + ref + ".so"; }
};

}  // namespace gale::packs

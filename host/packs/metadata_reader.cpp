#include "host/packs/metadata_reader.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "host/common/yaml_json.h"
#include "host/packs/runner_types.h"
#include "host/packs/webhook_secret.h"
#include "host/schema/parameters.h"
#include "host/schema/validator.h"
#include "schemas/embedded.h"

namespace gale::packs {
namespace fs = std::filesystem;
namespace {

const schema::Validator& MetadataValidator(const std::string& name) {
  // Compiled once; the schemas are part of the binary, so a failure here is a build defect.
  static std::map<std::string, schema::Validator> cache;
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  auto it = cache.find(name);
  if (it == cache.end()) {
    std::string_view text = schemas::Find("pack/" + name);
    auto compiled = schema::Validator::Compile(Json::parse(text));
    if (!compiled.ok()) std::abort();
    it = cache.emplace(name, std::move(compiled).value()).first;
  }
  return it->second;
}

// "/parameters/count/type" -> "parameters.count.type"
std::string Dotted(const std::string& pointer) {
  std::string out = pointer.empty() ? "" : pointer.substr(1);
  std::replace(out.begin(), out.end(), '/', '.');
  return out;
}

std::string At(const YamlDocument& doc, const std::string& file, const std::string& pointer) {
  int line = doc.LineOf(pointer);
  return line > 0 ? file + ":" + std::to_string(line) : file;
}

// Validates `doc` against schemas/pack/<kind>.json; appends one line per violation.
bool Validate(const YamlDocument& doc, const std::string& file, const std::string& kind,
              std::vector<std::string>& errors) {
  if (!doc.json.is_object()) {
    errors.push_back(file + ": expected a YAML mapping at the top level");
    return false;
  }
  auto violations = MetadataValidator(kind).Validate(doc.json);
  for (const auto& v : violations) {
    std::string field = Dotted(v.path);
    errors.push_back(At(doc, file, v.path) + ": " + (field.empty() ? "" : field + ": ") +
                     v.message);
  }
  return violations.empty();
}

std::string Str(const Json& j, const char* key, const std::string& fallback = "") {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

bool Bool(const Json& j, const char* key, bool fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

Json Obj(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : Json::object();
}

// Reports `name` when an earlier record of the same kind already uses it.
template <class Record, class Key>
void CheckUnique(const std::vector<Record>& earlier, const std::string& name, Key key,
                 const std::string& where, const std::string& what, Pack& pack) {
  for (const auto& other : earlier) {
    if (key(other) == name) {
      pack.errors.push_back(where + ": duplicate " + what + " '" + name + "' (also in " +
                            other.origin.file + ")");
    }
  }
}

std::vector<std::string> YamlFiles(const fs::path& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    auto ext = it->path().extension();
    if (it->is_regular_file() && (ext == ".yaml" || ext == ".yml")) {
      files.push_back(it->path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Loads one metadata file; null when it could not be parsed or failed its schema.
std::optional<YamlDocument> LoadChecked(const std::string& file, const std::string& kind,
                                        Pack& pack) {
  auto doc = LoadYamlFile(file);
  if (!doc.ok()) {
    pack.errors.push_back(doc.message());
    return std::nullopt;
  }
  if (!Validate(*doc, file, kind, pack.errors)) return std::nullopt;
  return std::move(doc).value();
}

// The optional `pack:` field must name the pack the file is in.
void CheckPackField(const YamlDocument& doc, const std::string& file, Pack& pack) {
  std::string declared = Str(doc.json, "pack");
  if (!declared.empty() && declared != pack.ref) {
    pack.errors.push_back(At(doc, file, "/pack") + ": pack '" + declared +
                          "' does not match the pack it is in ('" + pack.ref + "')");
  }
}

void ReadSensor(const std::string& file, Pack& pack) {
  auto doc = LoadChecked(file, "sensor", pack);
  if (!doc) return;
  const Json& j = doc->json;
  SensorMeta s;
  s.class_name = Str(j, "class_name");
  s.ref = pack.ref + "." + s.class_name;
  s.entry_point = Str(j, "entry_point", "lib" + pack.ref + ".so");
  s.description = Str(j, "description");
  s.enabled = Bool(j, "enabled", true);
  if (j.contains("poll_interval")) s.poll_interval = j["poll_interval"].get<double>();
  s.origin = {file, doc->LineOf("")};
  s.python = s.entry_point.ends_with(".py");
  if (s.python) {
    // StackStorm resolves a Python sensor's entry point relative to the pack's sensors/ folder.
    const fs::path script = fs::path(pack.dir) / "sensors" / s.entry_point;
    if (s.entry_point.find("..") != std::string::npos || s.entry_point.front() == '/') {
      pack.errors.push_back(At(*doc, file, "/entry_point") + ": entry_point '" + s.entry_point +
                            "': must be a file under the pack's sensors/ folder");
    } else if (!fs::is_regular_file(script)) {
      pack.errors.push_back(At(*doc, file, "/entry_point") + ": entry_point '" + s.entry_point +
                            "' not found (looked for " + script.string() + ")");
    }
  } else if (s.entry_point != "lib" + pack.ref + ".so") {
    pack.errors.push_back(At(*doc, file, "/entry_point") + ": entry_point '" + s.entry_point +
                          "': a pack's sensors live in its library lib" + pack.ref +
                          ".so, or in a Python file under sensors/");
  }
  if (j.contains("trigger_types")) {
    for (size_t i = 0; i < j["trigger_types"].size(); ++i) {
      const Json& tj = j["trigger_types"][i];
      TriggerType t;
      t.pack = pack.ref;
      t.name = Str(tj, "name");
      t.ref = pack.ref + "." + t.name;
      t.description = Str(tj, "description");
      t.payload_schema = Obj(tj, "payload_schema");
      t.parameters_schema = Obj(tj, "parameters_schema");
      const std::string ptr = "/trigger_types/" + std::to_string(i);
      t.origin = {file, doc->LineOf(ptr)};
      if (auto compiled = schema::Validator::Compile(t.payload_schema); !compiled.ok()) {
        pack.errors.push_back(At(*doc, file, ptr + "/payload_schema") + ": payload_schema of '" +
                              t.ref + "': " + compiled.message());
      }
      CheckUnique(
          pack.trigger_types, t.name, [](const TriggerType& o) { return o.name; },
          At(*doc, file, ptr), "trigger type", pack);
      s.trigger_types.push_back(t.ref);
      pack.trigger_types.push_back(std::move(t));
    }
  }
  CheckUnique(
      pack.sensors, s.class_name, [](const SensorMeta& o) { return o.class_name; },
      At(*doc, file, "/class_name"), "sensor class_name", pack);
  pack.sensors.push_back(std::move(s));
}

void ReadAction(const std::string& file, Pack& pack) {
  auto doc = LoadChecked(file, "action", pack);
  if (!doc) return;
  const Json& j = doc->json;
  CheckPackField(*doc, file, pack);
  ActionMeta a;
  a.pack = pack.ref;
  a.name = Str(j, "name");
  a.ref = pack.ref + "." + a.name;
  a.runner_type = Str(j, "runner_type");
  a.entry_point = Str(j, "entry_point");
  a.description = Str(j, "description");
  a.enabled = Bool(j, "enabled", true);
  a.parameters = Obj(j, "parameters");
  schema::CastParameterDefaults(a.parameters);
  a.parameters_schema = schema::ParametersToSchema(a.parameters);
  a.sandbox = Obj(j, "sandbox");
  a.origin = {file, doc->LineOf("")};

  const RunnerType* runner = FindRunnerType(a.runner_type);
  const EntryPoint entry_point = runner ? runner->entry_point : EntryPoint::kUnused;
  if (!runner) {
    pack.errors.push_back(At(*doc, file, "/runner_type") + ": unknown runner_type '" +
                          a.runner_type + "' (known: " + KnownRunnerTypes() + ")");
  }
  if (entry_point != EntryPoint::kUnused && a.entry_point.empty()) {
    pack.errors.push_back(At(*doc, file, "") + ": missing entry_point (runner_type " +
                          a.runner_type + " runs it)");
  }
  if (entry_point == EntryPoint::kScript && !a.entry_point.empty()) {
    // StackStorm resolves script entry points relative to the pack's actions/ folder.
    fs::path script = fs::path(pack.dir) / "actions" / a.entry_point;
    if (!fs::is_regular_file(script)) {
      pack.errors.push_back(At(*doc, file, "/entry_point") + ": entry_point '" + a.entry_point +
                            "' not found (looked for " + script.string() + ")");
    }
  }
  if (auto compiled = schema::Validator::Compile(a.parameters_schema); !compiled.ok()) {
    pack.errors.push_back(At(*doc, file, "/parameters") + ": parameters: " + compiled.message());
  } else {
    for (const auto& v : schema::CheckDefaults(a.parameters_schema)) {
      // The converted schema's "/properties/x/default" is the file's "/parameters/x/default".
      std::string ptr = v.path;
      if (ptr.rfind("/properties/", 0) == 0) ptr = "/parameters/" + ptr.substr(12);
      pack.errors.push_back(At(*doc, file, ptr) + ": " + Dotted(ptr) +
                            " violates its own schema: " + v.message);
    }
  }
  CheckUnique(
      pack.actions, a.name, [](const ActionMeta& o) { return o.name; }, At(*doc, file, "/name"),
      "action name", pack);
  pack.actions.push_back(std::move(a));
}

void ReadRule(const std::string& file, Pack& pack) {
  auto doc = LoadChecked(file, "rule", pack);
  if (!doc) return;
  const Json& j = doc->json;
  CheckPackField(*doc, file, pack);
  RuleMeta r;
  r.pack = pack.ref;
  r.name = Str(j, "name");
  r.ref = pack.ref + "." + r.name;
  r.description = Str(j, "description");
  r.enabled = Bool(j, "enabled", true);
  r.trigger_type = Str(j["trigger"], "type");
  r.trigger_parameters = Obj(j["trigger"], "parameters");
  r.criteria = Obj(j, "criteria");
  r.action_ref = Str(j["action"], "ref");
  r.action_parameters = Obj(j["action"], "parameters");
  r.origin = {file, doc->LineOf("")};
  if (r.trigger_type == "core.st2.webhook") {
    if (auto secret = ParseWebhookSecret(r.trigger_parameters); !secret.ok()) {
      const std::string field =
          r.trigger_parameters.contains("secret_file") && !r.trigger_parameters.contains("secret")
              ? "secret_file"
              : "secret";
      pack.errors.push_back(At(*doc, file, "/trigger/parameters/" + field) + ": rule '" + r.ref +
                            "': trigger.parameters." + field + ": " + secret.message());
    }
  }
  CheckUnique(
      pack.rules, r.name, [](const RuleMeta& o) { return o.name; }, At(*doc, file, "/name"),
      "rule name", pack);
  pack.rules.push_back(std::move(r));
}

// StackStorm's policies/*.yaml: the file against schemas/pack/policy.json, then its parameters
// against the schema of its policy_type (defaults filled in). That resource_ref names an action,
// and an .attr policy's attributes its parameters, is checked across packs (Catalog).
void ReadPolicy(const std::string& file, Pack& pack) {
  auto doc = LoadChecked(file, "policy", pack);
  if (!doc) return;
  const Json& j = doc->json;
  CheckPackField(*doc, file, pack);
  PolicyMeta p;
  p.pack = pack.ref;
  p.name = Str(j, "name");
  p.ref = pack.ref + "." + p.name;
  p.description = Str(j, "description");
  p.enabled = Bool(j, "enabled", true);
  p.resource_ref = Str(j, "resource_ref");
  p.policy_type = Str(j, "policy_type");
  p.type = p.policy_type == "action.retry"              ? PolicyType::kRetry
           : p.policy_type == "action.concurrency.attr" ? PolicyType::kConcurrencyAttr
                                                        : PolicyType::kConcurrency;
  p.origin = {file, doc->LineOf("")};
  p.resource_ref_line = doc->LineOf("/resource_ref");
  const Json parameters = Obj(j, "parameters");
  const schema::Validator& types = MetadataValidator("policy_types/" + p.policy_type);
  const size_t errors = pack.errors.size();
  for (const auto& v : types.Validate(parameters)) {
    // A missing `parameters:` is reported where the policy_type is.
    const std::string ptr = j.contains("parameters") ? "/parameters" + v.path : "/policy_type";
    pack.errors.push_back(At(*doc, file, ptr) + ": " + Dotted("/parameters" + v.path) + ": " +
                          v.message + " (policy_type " + p.policy_type + ")");
  }
  if (pack.errors.size() > errors) {
    pack.policies.push_back(std::move(p));  // named in the refusal, then taken back out
    return;
  }
  p.parameters = types.ApplyDefaults(parameters);
  if (p.type == PolicyType::kRetry) {
    p.retry_on = p.parameters["retry_on"] == "timeout" ? RetryOn::kTimeout : RetryOn::kFailure;
    p.max_retry_count = p.parameters["max_retry_count"].get<int64_t>();
    p.delay_seconds = p.parameters["delay"].get<int64_t>();
  } else {
    p.threshold = p.parameters["threshold"].get<int64_t>();
    p.over_threshold =
        p.parameters["action"] == "cancel" ? OverThreshold::kCancel : OverThreshold::kDelay;
    if (p.type == PolicyType::kConcurrencyAttr) {
      const Json& attributes = p.parameters["attributes"];
      for (size_t i = 0; i < attributes.size(); ++i) {
        p.attributes.push_back(attributes[i].get<std::string>());
        p.attribute_lines.push_back(doc->LineOf("/parameters/attributes/" + std::to_string(i)));
      }
    }
  }
  CheckUnique(
      pack.policies, p.name, [](const PolicyMeta& o) { return o.name; }, At(*doc, file, "/name"),
      "policy name", pack);
  pack.policies.push_back(std::move(p));
}

// Reads one resource file with `read`; whatever it reports refuses that resource alone: its
// records (and a sensor's trigger types) are taken back out and the errors listed under
// Pack::refused, as StackStorm's registrar skips a file it cannot register.
void ReadResource(const std::string& file, const char* kind,
                  void (*read)(const std::string&, Pack&), Pack& pack) {
  const size_t errors = pack.errors.size(), sensors = pack.sensors.size(),
               triggers = pack.trigger_types.size(), actions = pack.actions.size(),
               rules = pack.rules.size(), policies = pack.policies.size();
  read(file, pack);
  if (pack.errors.size() == errors) return;
  RefusedResource refused{kind, "", file, {}};
  refused.errors.assign(std::make_move_iterator(pack.errors.begin() + errors),
                        std::make_move_iterator(pack.errors.end()));
  pack.errors.resize(errors);
  if (pack.sensors.size() > sensors) refused.ref = pack.sensors.back().ref;
  if (pack.actions.size() > actions) refused.ref = pack.actions.back().ref;
  if (pack.rules.size() > rules) refused.ref = pack.rules.back().ref;
  if (pack.policies.size() > policies) refused.ref = pack.policies.back().ref;
  pack.sensors.resize(sensors);
  pack.trigger_types.resize(triggers);
  pack.actions.resize(actions);
  pack.rules.resize(rules);
  pack.policies.resize(policies);
  pack.refused.push_back(std::move(refused));
}

// StackStorm's config loader: a key the config lacks takes the schema's default, and an object
// whose schema lists properties is created empty first so that its own defaults are filled too.
void FillConfigDefaults(const Json& properties, Json& config) {
  if (!properties.is_object() || !config.is_object()) return;
  for (const auto& [key, item] : properties.items()) {
    if (!item.is_object()) continue;
    if (!config.contains(key) && item.contains("default")) config[key] = item["default"];
    if (item.value("type", Json()) == "object" && item.contains("properties")) {
      if (!config.contains(key) || config[key].is_null()) config[key] = Json::object();
      FillConfigDefaults(item["properties"], config[key]);
    }
  }
}

// The pack's config: <configs dir>/<ref>.yaml when there is one (StackStorm reads only
// /opt/stackstorm/configs/<pack>.yaml), else the pack's own config.yaml. Defaults come from
// config.schema.yaml and the result is validated against it; a config that breaks its schema is
// refused (listed with file:line) and the pack runs with the schema's defaults alone, as
// StackStorm's would with no registered config.
void ReadConfig(const ReadOptions& options, Pack& pack) {
  const fs::path own = fs::path(pack.dir) / "config.yaml";
  fs::path file = own;
  if (!options.configs_dir.empty()) {
    const fs::path shared = fs::path(options.configs_dir) / (pack.ref + ".yaml");
    if (fs::exists(shared)) {
      if (fs::exists(own)) {
        pack.notes.push_back(own.string() + ": not read: " + shared.string() + " is the config");
      }
      file = shared;
    }
  }
  auto refuse = [&](std::vector<std::string> errors) {
    pack.refused.push_back({"config", pack.ref, file.string(), std::move(errors)});
  };
  std::optional<YamlDocument> config;
  if (fs::exists(file)) {
    auto loaded = LoadYamlFile(file.string());
    if (!loaded.ok()) {
      refuse({loaded.message()});
    } else if (loaded->json.is_object()) {
      config = std::move(loaded).value();
    } else if (!loaded->json.is_null()) {
      refuse({file.string() + ": expected a YAML mapping at the top level"});
    }
  }
  if (config) pack.config = config->json;
  const fs::path schema_file = fs::path(pack.dir) / "config.schema.yaml";
  if (!fs::exists(schema_file)) return;
  auto schema_doc = LoadYamlFile(schema_file.string());
  if (!schema_doc.ok() || !schema_doc->json.is_object()) {
    pack.refused.push_back(
        {"config",
         pack.ref,
         schema_file.string(),
         {schema_doc.ok() ? schema_file.string() + ": expected a mapping of config keys"
                          : schema_doc.message()}});
    pack.config = Json::object();
    return;
  }
  Json properties = schema_doc->json;
  Json filled = pack.config;
  FillConfigDefaults(properties, filled);
  const Json schema = schema::ParametersToSchema(properties);
  auto compiled = schema::Validator::Compile(schema);
  if (!compiled.ok()) {
    pack.refused.push_back({"config",
                            pack.ref,
                            schema_file.string(),
                            {schema_file.string() + ": " + compiled.message()}});
    return;
  }
  // Only a config that exists is checked, as StackStorm's configs registrar checks the files it
  // finds: a pack not configured yet loads with its defaults (a required key is then missing
  // at run time, not at registration).
  std::vector<std::string> errors;
  for (const auto& v : config ? compiled->Validate(filled) : std::vector<schema::Violation>{}) {
    const std::string field = Dotted(v.path);
    errors.push_back(At(*config, file.string(), v.path) + ": " +
                     (field.empty() ? "" : field + ": ") + v.message + " (config.schema.yaml)");
  }
  if (!errors.empty()) {
    refuse(std::move(errors));
    filled = Json::object();
    FillConfigDefaults(properties, filled);
  }
  pack.config = std::move(filled);
}

// Folders a pack may hold that Gale does not read; each gets a note, never an error.
void NoteIgnoredFolders(Pack& pack) {
  static const std::set<std::string> kRead = {"actions", "sensors", "rules", "policies"};
  std::vector<std::string> notes;
  std::error_code ec;
  for (fs::directory_iterator it(pack.dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!it->is_directory(ec) || name.empty() || name[0] == '.' || kRead.contains(name)) continue;
    if (name == "aliases") {
      notes.push_back(it->path().string() +
                      ": action aliases (ChatOps) are not supported; ignored");
    } else {
      notes.push_back(it->path().string() + ": not a folder Gale reads; ignored");
    }
  }
  std::sort(notes.begin(), notes.end());
  pack.notes.insert(pack.notes.end(), notes.begin(), notes.end());
}

}  // namespace

Pack ReadPackMetadata(const std::string& dir, const ReadOptions& options) {
  Pack pack;
  pack.dir = dir;
  pack.ref = fs::path(dir).filename().string();
  const std::string pack_file = (fs::path(dir) / "pack.yaml").string();
  auto doc = LoadYamlFile(pack_file);
  if (!doc.ok()) {
    pack.errors.push_back(doc.message());
    return pack;
  }
  if (!Validate(*doc, pack_file, "pack", pack.errors)) return pack;
  const Json& j = doc->json;
  pack.name = Str(j, "name");
  pack.ref = Str(j, "ref", pack.name);
  pack.description = Str(j, "description");
  pack.version = Str(j, "version");
  pack.author = Str(j, "author");
  const bool ref_ok =
      !pack.ref.empty() && std::all_of(pack.ref.begin(), pack.ref.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      });
  if (!ref_ok) {
    pack.errors.push_back(At(*doc, pack_file, j.contains("ref") ? "/ref" : "/name") +
                          ": pack ref '" + pack.ref +
                          "' must be lower-case letters, digits and underscores (set `ref:`)");
    return pack;
  }

  ReadConfig(options, pack);
  for (const auto& f : YamlFiles(fs::path(dir) / "sensors")) {
    ReadResource(f, "sensor", ReadSensor, pack);
  }
  for (const auto& f : YamlFiles(fs::path(dir) / "actions")) {
    ReadResource(f, "action", ReadAction, pack);
  }
  for (const auto& f : YamlFiles(fs::path(dir) / "rules")) ReadResource(f, "rule", ReadRule, pack);
  for (const auto& f : YamlFiles(fs::path(dir) / "policies")) {
    ReadResource(f, "policy", ReadPolicy, pack);
  }
  NoteIgnoredFolders(pack);
  return pack;
}

}  // namespace gale::packs

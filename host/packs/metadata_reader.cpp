#include "host/packs/metadata_reader.h"

#include <algorithm>
#include <filesystem>
#include <map>

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

}  // namespace

Pack ReadPackMetadata(const std::string& dir) {
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

  const fs::path config_file = fs::path(dir) / "config.yaml";
  if (fs::exists(config_file)) {
    auto config = LoadYamlFile(config_file.string());
    if (!config.ok()) {
      pack.errors.push_back(config.message());
    } else if (config->json.is_object()) {
      pack.config = config->json;
    } else if (!config->json.is_null()) {
      pack.errors.push_back(config_file.string() + ": expected a YAML mapping at the top level");
    }
  }
  for (const auto& f : YamlFiles(fs::path(dir) / "sensors")) ReadSensor(f, pack);
  for (const auto& f : YamlFiles(fs::path(dir) / "actions")) ReadAction(f, pack);
  for (const auto& f : YamlFiles(fs::path(dir) / "rules")) ReadRule(f, pack);
  return pack;
}

}  // namespace gale::packs

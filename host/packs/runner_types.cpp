#include "host/packs/runner_types.h"

#include <map>
#include <optional>

#include "host/schema/parameters.h"
#include "host/schema/validator.h"

namespace gale::packs {
namespace {

struct RunnerParameters {
  Json map = Json::object();  // the row's parameter map
  std::optional<schema::Validator> validator;
};

Result<RunnerParameters> Parse(const RunnerType& type) {
  const std::string prefix = "runner type '" + std::string(type.name) + "': parameters: ";
  RunnerParameters out;
  out.map = Json::parse(std::string(type.parameters), nullptr, /*allow_exceptions=*/false);
  if (out.map.is_discarded()) return Status::Error(prefix + "not valid JSON");
  if (!out.map.is_object()) return Status::Error(prefix + "not a JSON object");
  const Json schema = schema::ParametersToSchema(out.map);
  auto validator = schema::Validator::Compile(schema);
  if (!validator.ok()) return Status::Error(prefix + validator.message());
  if (auto bad = schema::CheckDefaults(schema); !bad.empty()) {
    return Status::Error(prefix + schema::Format(bad.front()));
  }
  out.validator = std::move(*validator);
  return out;
}

// Parsed once per process. A row that does not parse (the unit test of CheckRunnerParameters
// fails for it) has no runner parameters here rather than taking the node down.
const RunnerParameters& ParametersOf(std::string_view runner_type) {
  static const std::map<std::string_view, RunnerParameters> parsed = [] {
    std::map<std::string_view, RunnerParameters> out;
    for (const auto& type : kRunnerTypes) {
      auto p = Parse(type);
      out[type.name] = p.ok() ? std::move(*p) : RunnerParameters{};
    }
    return out;
  }();
  static const RunnerParameters kNone;
  auto it = parsed.find(runner_type);
  return it == parsed.end() ? kNone : it->second;
}

}  // namespace

const RunnerType* FindRunnerType(std::string_view name) {
  for (const auto& type : kRunnerTypes) {
    if (type.name == name) return &type;
  }
  return nullptr;
}

bool IsKnownRunnerType(std::string_view name) {
  return FindRunnerType(name) != nullptr;
}

std::string KnownRunnerTypes() {
  std::string out;
  for (const auto& type : kRunnerTypes) {
    if (!out.empty()) out += ", ";
    out += type.name;
  }
  return out;
}

bool IsRunnerParameter(std::string_view runner_type, std::string_view name) {
  return ParametersOf(runner_type).map.contains(std::string(name));
}

Json WithRunnerDefaults(std::string_view runner_type, const Json& parameters) {
  const auto& validator = ParametersOf(runner_type).validator;
  return validator ? validator->ApplyDefaults(parameters) : parameters;
}

Status CheckRunnerParameters(const RunnerType& type) {
  return Parse(type).status();
}

}  // namespace gale::packs

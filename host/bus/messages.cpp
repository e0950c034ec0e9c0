// Bus message validation against schemas/bus/*.json (compiled once, then shared).
#include <map>
#include <mutex>

#include "host/bus/bus.h"
#include "host/schema/validator.h"
#include "schemas/embedded.h"

namespace gale::bus {

namespace {

Result<schema::Validator> CompiledSchema(std::string_view name) {
  static std::mutex mu;
  static std::map<std::string, schema::Validator, std::less<>> cache;
  std::lock_guard lock(mu);
  if (auto it = cache.find(name); it != cache.end()) return it->second;
  const std::string full = "bus/" + std::string(name);
  std::string_view text = schemas::Find(full);
  if (text.empty()) return Status::Error("bus: no message schema named " + std::string(name));
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::Error("schemas/" + full + ".json: not valid JSON");
  auto v = schema::Validator::Compile(doc);
  if (!v.ok()) return Status::Error("schemas/" + full + ".json: " + v.message());
  cache.emplace(std::string(name), *v);
  return v;
}

}  // namespace

Status ValidateDocument(std::string_view schema_name, const Json& document) {
  auto validator = CompiledSchema(schema_name);
  if (!validator.ok()) return validator.status();
  std::vector<schema::Violation> violations = validator->Validate(document);
  if (violations.empty()) return Status::Ok();
  std::string text;
  for (const schema::Violation& v : violations) {
    if (!text.empty()) text += "; ";
    text += schema::Format(v);
  }
  return Status::Error("not a valid " + std::string(schema_name) + " message: " + text);
}

Status ValidateMessage(std::string_view schema_name, std::string_view json_text) {
  Json doc = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return Status::Error("not a valid " + std::string(schema_name) + " message: not JSON");
  }
  return ValidateDocument(schema_name, doc);
}

}  // namespace gale::bus

#include "host/schema/parameters.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>
#include <string>

namespace gale::schema {

namespace {

// StackStorm-only annotations; not JSON Schema keywords.
constexpr const char* kStackStormOnly[] = {"secret", "immutable", "position"};

// Moves each property's boolean `required` into the enclosing object's "required" array, and
// recurses into nested object parameters and array items (StackStorm nests the same style).
void ConvertProperties(Json& schema, bool top_level) {
  if (!schema.is_object()) return;
  auto props = schema.find("properties");
  if (props != schema.end() && props->is_object()) {
    Json required = Json::array();
    if (auto it = schema.find("required"); it != schema.end() && it->is_array()) required = *it;
    for (auto& [name, prop] : props->items()) {
      if (!prop.is_object()) continue;
      if (auto r = prop.find("required"); r != prop.end() && r->is_boolean()) {
        if (r->get<bool>() && std::find(required.begin(), required.end(), name) == required.end()) {
          required.push_back(name);
        }
        prop.erase(r);
      }
      if (top_level) {
        for (const char* key : kStackStormOnly) prop.erase(key);
      }
      ConvertProperties(prop, false);
    }
    if (top_level || !required.empty()) schema["required"] = std::move(required);
  }
  // What no property owns: a draft-3 `required: true` on array items or on an object's
  // additionalProperties (older StackStorm packs write it; its Draft-4 validator ignores it).
  if (!top_level) {
    if (auto r = schema.find("required"); r != schema.end() && r->is_boolean()) schema.erase(r);
  }
  // `default: ~` and `description: ~` mean "none" to StackStorm (allow_default_none).
  for (const char* key : {"default", "description"}) {
    if (auto it = schema.find(key); it != schema.end() && it->is_null()) schema.erase(it);
  }
  for (const char* key : {"items", "additionalProperties"}) {
    if (auto it = schema.find(key); it != schema.end() && it->is_object()) {
      ConvertProperties(*it, false);
    }
  }
}

// A StackStorm-style cast of one string (or number) default to `type`; nullopt when StackStorm's
// cast would fail or leaves the value as it is.
std::optional<Json> CastDefault(const Json& value, const std::string& type) {
  if (type == "integer") {
    if (value.is_number_float()) return Json(static_cast<int64_t>(value.get<double>()));
    if (value.is_boolean()) return Json(value.get<bool>() ? 1 : 0);
    if (!value.is_string()) return std::nullopt;
    const std::string text = value.get<std::string>();
    size_t used = 0;
    try {
      const long long n = std::stoll(text, &used, 10);
      if (used == text.size()) return Json(static_cast<int64_t>(n));
    } catch (const std::exception&) {
    }
    return std::nullopt;
  }
  if (!value.is_string()) return std::nullopt;
  const std::string text = value.get<std::string>();
  if (type == "number") {
    size_t used = 0;
    try {
      const double d = std::stod(text, &used);
      if (used == text.size() && !text.empty() && !std::isspace(text[0])) return Json(d);
    } catch (const std::exception&) {
    }
    return std::nullopt;
  }
  if (type == "boolean") {
    // Python's ast.literal_eval(x.capitalize()): "true", "TRUE", "True" and the like.
    std::string lower = text;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (lower == "true") return Json(true);
    if (lower == "false") return Json(false);
    return std::nullopt;
  }
  if (type == "array" || type == "object") {
    Json parsed = Json::parse(text, nullptr, false);
    if (parsed.is_discarded()) return std::nullopt;
    if ((type == "array" && parsed.is_array()) || (type == "object" && parsed.is_object())) {
      return parsed;
    }
  }
  return std::nullopt;
}

}  // namespace

void CastParameterDefaults(Json& st2_parameters) {
  if (!st2_parameters.is_object()) return;
  for (auto& [name, param] : st2_parameters.items()) {
    if (!param.is_object()) continue;
    auto def = param.find("default");
    auto type = param.find("type");
    if (def == param.end() || def->is_null() || type == param.end() || !type->is_string()) {
      continue;
    }
    if (auto cast = CastDefault(*def, type->get<std::string>())) *def = std::move(*cast);
  }
}

Json ParametersToSchema(const Json& st2_parameters, bool additional_properties) {
  Json schema = {{"type", "object"},
                 {"properties", st2_parameters.is_object() ? st2_parameters : Json::object()}};
  ConvertProperties(schema, true);
  schema["additionalProperties"] = additional_properties;
  return schema;
}

}  // namespace gale::schema

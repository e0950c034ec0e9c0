#include "host/schema/parameters.h"

#include <algorithm>
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
  if (auto items = schema.find("items"); items != schema.end() && items->is_object()) {
    ConvertProperties(*items, false);
  }
}

}  // namespace

Json ParametersToSchema(const Json& st2_parameters, bool additional_properties) {
  Json schema = {{"type", "object"},
                 {"properties", st2_parameters.is_object() ? st2_parameters : Json::object()}};
  ConvertProperties(schema, true);
  schema["additionalProperties"] = additional_properties;
  return schema;
}

}  // namespace gale::schema

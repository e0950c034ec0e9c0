// Reading each keyword of a schema object into a Node, rejecting malformed values with the
// schema path of the offending keyword.
#include <algorithm>
#include <utility>

#include "host/schema/compiler.h"
#include "host/schema/uri.h"
#include "host/schema/values.h"

namespace gale::schema::detail {

Status Compiler::CompileKeywords(int index, int doc, const std::string& pointer, const Json& s,
                                 std::string base, int depth, Node& n) {
  if (auto it = s.find("$ref"); it != s.end()) {
    if (!it->is_string()) return Error(doc, ChildPointer(pointer, "$ref"), "must be a string");
    pending_.push_back({index, doc, base, it->get<std::string>(), pointer});
    return Status::Ok();  // draft-04..07: every sibling of $ref is ignored
  }
  const Draft draft = docs_[doc].draft;
  if (const std::string* id = IdOf(s, draft)) base = ResolveUri(base, *id);

  auto fail = [&](std::string_view keyword, const std::string& message) {
    return Error(doc, ChildPointer(pointer, keyword), message);
  };
  auto sub = [&](const std::string& path, const Json& v, int* out) {
    return CompileAt(doc, path, v, base, depth + 1, out);
  };
  auto single = [&](const char* keyword, int* out) -> Status {
    auto it = s.find(keyword);
    if (it == s.end()) return Status::Ok();
    return sub(ChildPointer(pointer, keyword), *it, out);
  };
  auto schema_array = [&](const char* keyword, std::vector<int>* out) -> Status {
    auto it = s.find(keyword);
    if (it == s.end()) return Status::Ok();
    if (!it->is_array() || it->empty()) return fail(keyword, "must be a non-empty array");
    for (std::size_t i = 0; i < it->size(); ++i) {
      int child = -1;
      GALE_TRY(
          sub(ChildPointer(ChildPointer(pointer, keyword), std::to_string(i)), (*it)[i], &child));
      out->push_back(child);
    }
    return Status::Ok();
  };
  auto count = [&](const char* keyword, std::optional<std::uint64_t>* out) -> Status {
    auto it = s.find(keyword);
    if (it == s.end()) return Status::Ok();
    *out = AsCount(*it);
    if (!*out) return fail(keyword, "must be a non-negative integer");
    return Status::Ok();
  };
  auto number = [&](const char* keyword, std::optional<Json>* out) -> Status {
    auto it = s.find(keyword);
    if (it == s.end()) return Status::Ok();
    if (!it->is_number()) return fail(keyword, "must be a number");
    *out = *it;
    return Status::Ok();
  };

  // Generic.
  if (auto it = s.find("type"); it != s.end()) {
    auto add = [&](const Json& name) {
      if (!name.is_string()) return false;
      auto bit = TypeBitFromName(name.get_ref<const std::string&>());
      if (bit) n.types |= *bit;
      return bit.has_value();
    };
    if (it->is_string()) {
      if (!add(*it)) return fail("type", "unknown type " + Brief(*it));
    } else if (it->is_array() && !it->empty()) {
      for (std::size_t i = 0; i < it->size(); ++i) {
        if (!add((*it)[i])) {
          return Error(doc, ChildPointer(ChildPointer(pointer, "type"), std::to_string(i)),
                       "unknown type " + Brief((*it)[i]));
        }
      }
    } else {
      return fail("type", "must be a type name or a non-empty array of type names");
    }
  }
  if (auto it = s.find("enum"); it != s.end()) {
    if (!it->is_array()) return fail("enum", "must be an array");
    n.enum_values = *it;
  }
  if (auto it = s.find("const"); it != s.end()) n.const_value = *it;
  if (auto it = s.find("default"); it != s.end()) n.default_value = *it;

  // Numbers.
  GALE_TRY(number("minimum", &n.minimum));
  GALE_TRY(number("maximum", &n.maximum));
  GALE_TRY(number("multipleOf", &n.multiple_of));
  if (n.multiple_of && CompareNumbers(*n.multiple_of, Json(0)) <= 0) {
    return fail("multipleOf", "must be greater than 0");
  }
  for (bool lower : {true, false}) {
    const char* keyword = lower ? "exclusiveMinimum" : "exclusiveMaximum";
    auto it = s.find(keyword);
    if (it == s.end()) continue;
    if (it->is_boolean() && draft != Draft::kDraft7) {
      (lower ? n.minimum_exclusive : n.maximum_exclusive) = it->get<bool>();
    } else if (it->is_number() && draft != Draft::kDraft4) {
      (lower ? n.exclusive_minimum : n.exclusive_maximum) = *it;
    } else {
      return fail(keyword, draft == Draft::kDraft4   ? "must be a boolean (draft-04)"
                           : draft == Draft::kDraft7 ? "must be a number (draft-07)"
                                                     : "must be a boolean or a number");
    }
  }

  // Strings.
  GALE_TRY(count("minLength", &n.min_length));
  GALE_TRY(count("maxLength", &n.max_length));
  if (auto it = s.find("pattern"); it != s.end()) {
    if (!it->is_string()) return fail("pattern", "must be a string");
    auto regex = CompileRegex(it->get<std::string>());
    if (!regex.ok()) return fail("pattern", regex.message());
    n.pattern = std::move(regex).value();
  }

  // Arrays.
  if (auto it = s.find("items"); it != s.end()) {
    if (it->is_array()) {
      n.has_tuple = true;
      for (std::size_t i = 0; i < it->size(); ++i) {
        int child = -1;
        GALE_TRY(
            sub(ChildPointer(ChildPointer(pointer, "items"), std::to_string(i)), (*it)[i], &child));
        n.tuple_items.push_back(child);
      }
    } else {
      GALE_TRY(single("items", &n.items));
    }
  }
  GALE_TRY(single("additionalItems", &n.additional_items));
  GALE_TRY(single("contains", &n.contains));
  GALE_TRY(count("minItems", &n.min_items));
  GALE_TRY(count("maxItems", &n.max_items));
  if (auto it = s.find("uniqueItems"); it != s.end()) {
    if (!it->is_boolean()) return fail("uniqueItems", "must be a boolean");
    n.unique_items = it->get<bool>();
  }

  // Objects.
  if (auto it = s.find("properties"); it != s.end()) {
    if (!it->is_object()) return fail("properties", "must be an object");
    for (const auto& [name, schema] : it->items()) {
      int child = -1;
      GALE_TRY(sub(ChildPointer(ChildPointer(pointer, "properties"), name), schema, &child));
      n.properties.emplace_back(name, child);
    }
    std::sort(n.properties.begin(), n.properties.end());
  }
  if (auto it = s.find("patternProperties"); it != s.end()) {
    if (!it->is_object()) return fail("patternProperties", "must be an object");
    for (const auto& [pattern, schema] : it->items()) {
      std::string path = ChildPointer(ChildPointer(pointer, "patternProperties"), pattern);
      auto regex = CompileRegex(pattern);
      if (!regex.ok()) return Error(doc, path, regex.message());
      PatternNode p{std::move(regex).value(), -1};
      GALE_TRY(sub(path, schema, &p.node));
      n.pattern_properties.push_back(std::move(p));
    }
  }
  GALE_TRY(single("additionalProperties", &n.additional_properties));
  GALE_TRY(single("propertyNames", &n.property_names));
  if (auto it = s.find("required"); it != s.end()) {
    if (it->is_boolean()) {
      return fail("required",
                  "must be an array of property names (StackStorm's per-property boolean "
                  "is converted by ParametersToSchema)");
    }
    if (!it->is_array()) return fail("required", "must be an array of property names");
    for (const Json& name : *it) {
      if (!name.is_string()) return fail("required", "must be an array of property names");
      n.required.push_back(name.get<std::string>());
    }
  }
  GALE_TRY(count("minProperties", &n.min_properties));
  GALE_TRY(count("maxProperties", &n.max_properties));
  if (auto it = s.find("dependencies"); it != s.end()) {
    if (!it->is_object()) return fail("dependencies", "must be an object");
    for (const auto& [name, dep] : it->items()) {
      Dependency d;
      d.property = name;
      std::string path = ChildPointer(ChildPointer(pointer, "dependencies"), name);
      if (dep.is_array()) {
        for (const Json& required : dep) {
          if (!required.is_string()) return Error(doc, path, "must list property names");
          d.required.push_back(required.get<std::string>());
        }
      } else {
        GALE_TRY(sub(path, dep, &d.schema));
      }
      n.dependencies.push_back(std::move(d));
    }
  }

  // Combinators.
  GALE_TRY(schema_array("allOf", &n.all_of));
  GALE_TRY(schema_array("anyOf", &n.any_of));
  GALE_TRY(schema_array("oneOf", &n.one_of));
  GALE_TRY(single("not", &n.not_schema));
  GALE_TRY(single("if", &n.if_schema));
  GALE_TRY(single("then", &n.then_schema));
  GALE_TRY(single("else", &n.else_schema));

  // Definitions are compiled even if unused: a malformed one is still a malformed schema, and
  // CheckDefaults looks at their defaults.
  if (auto it = s.find("definitions"); it != s.end()) {
    if (!it->is_object()) return fail("definitions", "must be an object");
    for (const auto& [name, schema] : it->items()) {
      int ignored = -1;
      GALE_TRY(sub(ChildPointer(ChildPointer(pointer, "definitions"), name), schema, &ignored));
    }
  }
  return Status::Ok();
}
}  // namespace gale::schema::detail

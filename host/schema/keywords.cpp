// Reading each keyword of a schema object into a Node, rejecting malformed values with the
// schema path of the offending keyword.
#include <algorithm>
#include <utility>

#include "host/schema/compiler.h"
#include "host/schema/uri.h"
#include "host/schema/values.h"

namespace gale::schema::detail {

// Reads one schema object's keywords into a Node, a group at a time. Children are compiled in
// the order the groups run, and node indices follow that order, so it must not change. The
// first malformed keyword is reported.
class Compiler::KeywordReader {
 public:
  KeywordReader(Compiler& compiler, int doc, const std::string& pointer, const Json& s,
                std::string base, int depth)
      : compiler_(compiler),
        doc_(doc),
        pointer_(pointer),
        s_(s),
        base_(std::move(base)),
        depth_(depth),
        draft_(compiler.docs_[doc].draft) {}

  Status Generic(Node& n) const;
  Status Numbers(Node& n) const;
  Status Strings(Node& n) const;
  Status Arrays(Node& n) const;
  Status Objects(Node& n) const;
  Status Combinators(Node& n) const;
  Status Definitions() const;

 private:
  Status Type(Node& n) const;
  Status Exclusive(Node& n) const;
  Status Properties(Node& n) const;
  Status PatternProperties(Node& n) const;
  Status Required(Node& n) const;
  Status Dependencies(Node& n) const;

  // Helpers shared by the groups.
  Status Fail(std::string_view keyword, const std::string& message) const {
    return compiler_.Error(doc_, ChildPointer(pointer_, keyword), message);
  }
  std::string Path(std::string_view keyword, std::string_view token) const {
    return ChildPointer(ChildPointer(pointer_, keyword), token);
  }
  Status Sub(const std::string& path, const Json& v, int* out) const {
    return compiler_.CompileAt(doc_, path, v, base_, depth_ + 1, out);
  }
  Status Single(const char* keyword, int* out) const;
  Status Elements(const char* keyword, const Json& array, std::vector<int>* out) const;
  Status SchemaArray(const char* keyword, std::vector<int>* out) const;
  Status Count(const char* keyword, std::optional<std::uint64_t>* out) const;
  Status Number(const char* keyword, std::optional<Json>* out) const;

  Compiler& compiler_;
  const int doc_;
  const std::string& pointer_;
  const Json& s_;
  const std::string base_;  // with this object's own id applied
  const int depth_;
  const Draft draft_;
};

Status Compiler::CompileKeywords(int index, int doc, const std::string& pointer, const Json& s,
                                 std::string base, int depth, Node& n) {
  if (auto it = s.find("$ref"); it != s.end()) {
    if (!it->is_string()) return Error(doc, ChildPointer(pointer, "$ref"), "must be a string");
    pending_.push_back({index, doc, base, it->get<std::string>(), pointer});
    return Status::Ok();  // draft-04..07: every sibling of $ref is ignored
  }
  if (const std::string* id = IdOf(s, docs_[doc].draft)) base = ResolveUri(base, *id);

  const KeywordReader read(*this, doc, pointer, s, std::move(base), depth);
  GALE_TRY(read.Generic(n));
  GALE_TRY(read.Numbers(n));
  GALE_TRY(read.Strings(n));
  GALE_TRY(read.Arrays(n));
  GALE_TRY(read.Objects(n));
  GALE_TRY(read.Combinators(n));
  return read.Definitions();
}

Status Compiler::KeywordReader::Single(const char* keyword, int* out) const {
  auto it = s_.find(keyword);
  if (it == s_.end()) return Status::Ok();
  return Sub(ChildPointer(pointer_, keyword), *it, out);
}

// Compiles each element of `array`, the value of `keyword`, as a subschema.
Status Compiler::KeywordReader::Elements(const char* keyword, const Json& array,
                                         std::vector<int>* out) const {
  for (std::size_t i = 0; i < array.size(); ++i) {
    int child = -1;
    GALE_TRY(Sub(Path(keyword, std::to_string(i)), array[i], &child));
    out->push_back(child);
  }
  return Status::Ok();
}

Status Compiler::KeywordReader::SchemaArray(const char* keyword, std::vector<int>* out) const {
  auto it = s_.find(keyword);
  if (it == s_.end()) return Status::Ok();
  if (!it->is_array() || it->empty()) return Fail(keyword, "must be a non-empty array");
  return Elements(keyword, *it, out);
}

Status Compiler::KeywordReader::Count(const char* keyword,
                                      std::optional<std::uint64_t>* out) const {
  auto it = s_.find(keyword);
  if (it == s_.end()) return Status::Ok();
  *out = AsCount(*it);
  if (!*out) return Fail(keyword, "must be a non-negative integer");
  return Status::Ok();
}

Status Compiler::KeywordReader::Number(const char* keyword, std::optional<Json>* out) const {
  auto it = s_.find(keyword);
  if (it == s_.end()) return Status::Ok();
  if (!it->is_number()) return Fail(keyword, "must be a number");
  *out = *it;
  return Status::Ok();
}

Status Compiler::KeywordReader::Type(Node& n) const {
  auto it = s_.find("type");
  if (it == s_.end()) return Status::Ok();
  auto add = [&](const Json& name) {
    if (!name.is_string()) return false;
    auto bit = TypeBitFromName(name.get_ref<const std::string&>());
    if (bit) n.types |= *bit;
    return bit.has_value();
  };
  if (it->is_string()) {
    if (!add(*it)) return Fail("type", "unknown type " + Brief(*it));
  } else if (it->is_array() && !it->empty()) {
    for (std::size_t i = 0; i < it->size(); ++i) {
      if (!add((*it)[i])) {
        return compiler_.Error(doc_, Path("type", std::to_string(i)),
                               "unknown type " + Brief((*it)[i]));
      }
    }
  } else {
    return Fail("type", "must be a type name or a non-empty array of type names");
  }
  return Status::Ok();
}

Status Compiler::KeywordReader::Generic(Node& n) const {
  GALE_TRY(Type(n));
  if (auto it = s_.find("enum"); it != s_.end()) {
    if (!it->is_array()) return Fail("enum", "must be an array");
    n.enum_values = *it;
  }
  if (auto it = s_.find("const"); it != s_.end()) n.const_value = *it;
  if (auto it = s_.find("default"); it != s_.end()) n.default_value = *it;
  return Status::Ok();
}

// exclusiveMinimum/Maximum: a boolean modifying minimum/maximum in draft-04, a bound of its own
// in draft-06/07; without "$schema" either form is accepted.
Status Compiler::KeywordReader::Exclusive(Node& n) const {
  for (bool lower : {true, false}) {
    const char* keyword = lower ? "exclusiveMinimum" : "exclusiveMaximum";
    auto it = s_.find(keyword);
    if (it == s_.end()) continue;
    if (it->is_boolean() && draft_ != Draft::kDraft7) {
      (lower ? n.minimum_exclusive : n.maximum_exclusive) = it->get<bool>();
    } else if (it->is_number() && draft_ != Draft::kDraft4) {
      (lower ? n.exclusive_minimum : n.exclusive_maximum) = *it;
    } else {
      return Fail(keyword, draft_ == Draft::kDraft4   ? "must be a boolean (draft-04)"
                           : draft_ == Draft::kDraft7 ? "must be a number (draft-07)"
                                                      : "must be a boolean or a number");
    }
  }
  return Status::Ok();
}

Status Compiler::KeywordReader::Numbers(Node& n) const {
  GALE_TRY(Number("minimum", &n.minimum));
  GALE_TRY(Number("maximum", &n.maximum));
  GALE_TRY(Number("multipleOf", &n.multiple_of));
  if (n.multiple_of && CompareNumbers(*n.multiple_of, Json(0)) <= 0) {
    return Fail("multipleOf", "must be greater than 0");
  }
  return Exclusive(n);
}

Status Compiler::KeywordReader::Strings(Node& n) const {
  GALE_TRY(Count("minLength", &n.min_length));
  GALE_TRY(Count("maxLength", &n.max_length));
  if (auto it = s_.find("pattern"); it != s_.end()) {
    if (!it->is_string()) return Fail("pattern", "must be a string");
    auto regex = CompileRegex(it->get<std::string>());
    if (!regex.ok()) return Fail("pattern", regex.message());
    n.pattern = std::move(regex).value();
  }
  return Status::Ok();
}

Status Compiler::KeywordReader::Arrays(Node& n) const {
  if (auto it = s_.find("items"); it != s_.end()) {
    if (it->is_array()) {
      n.has_tuple = true;  // an empty tuple is allowed, unlike allOf/anyOf/oneOf
      GALE_TRY(Elements("items", *it, &n.tuple_items));
    } else {
      GALE_TRY(Single("items", &n.items));
    }
  }
  GALE_TRY(Single("additionalItems", &n.additional_items));
  GALE_TRY(Single("contains", &n.contains));
  GALE_TRY(Count("minItems", &n.min_items));
  GALE_TRY(Count("maxItems", &n.max_items));
  if (auto it = s_.find("uniqueItems"); it != s_.end()) {
    if (!it->is_boolean()) return Fail("uniqueItems", "must be a boolean");
    n.unique_items = it->get<bool>();
  }
  return Status::Ok();
}

Status Compiler::KeywordReader::Properties(Node& n) const {
  auto it = s_.find("properties");
  if (it == s_.end()) return Status::Ok();
  if (!it->is_object()) return Fail("properties", "must be an object");
  for (const auto& [name, schema] : it->items()) {
    int child = -1;
    GALE_TRY(Sub(Path("properties", name), schema, &child));
    n.properties.emplace_back(name, child);
  }
  std::sort(n.properties.begin(), n.properties.end());
  return Status::Ok();
}

Status Compiler::KeywordReader::PatternProperties(Node& n) const {
  auto it = s_.find("patternProperties");
  if (it == s_.end()) return Status::Ok();
  if (!it->is_object()) return Fail("patternProperties", "must be an object");
  for (const auto& [pattern, schema] : it->items()) {
    std::string path = Path("patternProperties", pattern);
    auto regex = CompileRegex(pattern);
    if (!regex.ok()) return compiler_.Error(doc_, path, regex.message());
    PatternNode p{std::move(regex).value(), -1};
    GALE_TRY(Sub(path, schema, &p.node));
    n.pattern_properties.push_back(std::move(p));
  }
  return Status::Ok();
}

Status Compiler::KeywordReader::Required(Node& n) const {
  auto it = s_.find("required");
  if (it == s_.end()) return Status::Ok();
  if (it->is_boolean()) {
    return Fail("required",
                "must be an array of property names (StackStorm's per-property boolean "
                "is converted by ParametersToSchema)");
  }
  if (!it->is_array()) return Fail("required", "must be an array of property names");
  for (const Json& name : *it) {
    if (!name.is_string()) return Fail("required", "must be an array of property names");
    n.required.push_back(name.get<std::string>());
  }
  return Status::Ok();
}

// Each dependency is either a list of required property names or a schema.
Status Compiler::KeywordReader::Dependencies(Node& n) const {
  auto it = s_.find("dependencies");
  if (it == s_.end()) return Status::Ok();
  if (!it->is_object()) return Fail("dependencies", "must be an object");
  for (const auto& [name, dep] : it->items()) {
    Dependency d;
    d.property = name;
    std::string path = Path("dependencies", name);
    if (dep.is_array()) {
      for (const Json& required : dep) {
        if (!required.is_string()) return compiler_.Error(doc_, path, "must list property names");
        d.required.push_back(required.get<std::string>());
      }
    } else {
      GALE_TRY(Sub(path, dep, &d.schema));
    }
    n.dependencies.push_back(std::move(d));
  }
  return Status::Ok();
}

Status Compiler::KeywordReader::Objects(Node& n) const {
  GALE_TRY(Properties(n));
  GALE_TRY(PatternProperties(n));
  GALE_TRY(Single("additionalProperties", &n.additional_properties));
  GALE_TRY(Single("propertyNames", &n.property_names));
  GALE_TRY(Required(n));
  GALE_TRY(Count("minProperties", &n.min_properties));
  GALE_TRY(Count("maxProperties", &n.max_properties));
  return Dependencies(n);
}

Status Compiler::KeywordReader::Combinators(Node& n) const {
  GALE_TRY(SchemaArray("allOf", &n.all_of));
  GALE_TRY(SchemaArray("anyOf", &n.any_of));
  GALE_TRY(SchemaArray("oneOf", &n.one_of));
  GALE_TRY(Single("not", &n.not_schema));
  GALE_TRY(Single("if", &n.if_schema));
  GALE_TRY(Single("then", &n.then_schema));
  return Single("else", &n.else_schema);
}

// Definitions are compiled even if unused: a malformed one is still a malformed schema, and
// CheckDefaults looks at their defaults.
Status Compiler::KeywordReader::Definitions() const {
  auto it = s_.find("definitions");
  if (it == s_.end()) return Status::Ok();
  if (!it->is_object()) return Fail("definitions", "must be an object");
  for (const auto& [name, schema] : it->items()) {
    int ignored = -1;
    GALE_TRY(Sub(Path("definitions", name), schema, &ignored));
  }
  return Status::Ok();
}

}  // namespace gale::schema::detail

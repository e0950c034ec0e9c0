#include "host/schema/evaluator.h"

#include <algorithm>

#include "host/schema/values.h"

namespace gale::schema::detail {

namespace {

// Ties the "keep going?" decision to a failed check: `ok` turns false, and the caller returns
// at once unless violations are being collected.
#define GALE_CHECK(condition, message_expr)                    \
  do {                                                         \
    if (!(condition)) {                                        \
      ok = false;                                              \
      if (!Fail([&] { return (message_expr); })) return false; \
    }                                                          \
  } while (false)

#define GALE_SUB(call)         \
  do {                         \
    if (!(call)) {             \
      ok = false;              \
      if (!out_) return false; \
    }                          \
  } while (false)

std::string Count(std::uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string Quote(const std::string& s) {
  return Brief(Json(s));
}

}  // namespace

Evaluator::PathScope::PathScope(Evaluator& e, std::string_view token)
    : e_(e), length_(e.path_.size()) {
  if (e_.out_ == nullptr) return;
  e_.path_ += '/';
  AppendPointerToken(e_.path_, token);
}

Evaluator::PathScope::~PathScope() {
  if (e_.out_ != nullptr) e_.path_.resize(length_);
}

bool Evaluator::Matches(int node, const Json& value) const {
  Evaluator quiet(c_, nullptr, depth_);
  return quiet.Eval(node, value);
}

bool Evaluator::NameMatches(int node, const std::string& name) const {
  return Matches(node, Json(name));
}

bool Evaluator::Eval(int index, const Json& value) {
  const Node* n = &c_.nodes[index];
  while (n->ref >= 0) n = &c_.nodes[n->ref];  // chains are loop-free (checked at compile)
  switch (n->kind) {
    case Node::Kind::kTrue:
      return true;
    case Node::Kind::kFalse:
      Fail([] { return std::string("no value is allowed here (schema is false)"); });
      return false;
    case Node::Kind::kSchema:
      break;
  }
  if (depth_ >= kMaxEvalDepth) {
    Fail([] { return std::string("value is nested too deeply to validate"); });
    return false;
  }
  ++depth_;
  bool ok = EvalSchema(*n, value);
  --depth_;
  return ok;
}

bool Evaluator::EvalSchema(const Node& n, const Json& value) {
  bool ok = true;
  if (n.types != 0) {
    GALE_CHECK(TypeBitsOf(value) & n.types,
               "expected type " + TypeNames(n.types) + ", got " + TypeNameOf(value));
  }
  if (n.enum_values) {
    bool found = std::any_of(n.enum_values->begin(), n.enum_values->end(),
                             [&](const Json& e) { return JsonEqual(e, value); });
    GALE_CHECK(found, "value " + Brief(value, 40) + " is not one of " + Brief(*n.enum_values));
  }
  if (n.const_value) {
    GALE_CHECK(JsonEqual(*n.const_value, value), "value must be " + Brief(*n.const_value));
  }
  switch (value.type()) {
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      GALE_SUB(Numbers(n, value));
      break;
    case Json::value_t::string:
      GALE_SUB(Strings(n, value.get_ref<const std::string&>()));
      break;
    case Json::value_t::array:
      GALE_SUB(Arrays(n, value));
      break;
    case Json::value_t::object:
      GALE_SUB(Objects(n, value));
      break;
    default:
      break;
  }
  GALE_SUB(Combinators(n, value));
  return ok;
}

bool Evaluator::Numbers(const Node& n, const Json& value) {
  bool ok = true;
  if (n.minimum) {
    int cmp = CompareNumbers(value, *n.minimum);
    if (n.minimum_exclusive) {
      GALE_CHECK(cmp > 0, "value " + value.dump() + " must be greater than " + n.minimum->dump());
    } else {
      GALE_CHECK(cmp >= 0,
                 "value " + value.dump() + " is less than the minimum " + n.minimum->dump());
    }
  }
  if (n.maximum) {
    int cmp = CompareNumbers(value, *n.maximum);
    if (n.maximum_exclusive) {
      GALE_CHECK(cmp < 0, "value " + value.dump() + " must be less than " + n.maximum->dump());
    } else {
      GALE_CHECK(cmp <= 0,
                 "value " + value.dump() + " is greater than the maximum " + n.maximum->dump());
    }
  }
  if (n.exclusive_minimum) {
    GALE_CHECK(CompareNumbers(value, *n.exclusive_minimum) > 0,
               "value " + value.dump() + " must be greater than " + n.exclusive_minimum->dump());
  }
  if (n.exclusive_maximum) {
    GALE_CHECK(CompareNumbers(value, *n.exclusive_maximum) < 0,
               "value " + value.dump() + " must be less than " + n.exclusive_maximum->dump());
  }
  if (n.multiple_of) {
    GALE_CHECK(IsMultipleOf(value, *n.multiple_of),
               "value " + value.dump() + " is not a multiple of " + n.multiple_of->dump());
  }
  return ok;
}

bool Evaluator::Strings(const Node& n, const std::string& value) {
  bool ok = true;
  if (n.min_length || n.max_length) {
    std::size_t length = CodePoints(value);
    if (n.min_length) {
      GALE_CHECK(length >= *n.min_length, "string is shorter than " +
                                              Count(*n.min_length, "character", "characters") +
                                              " (got " + std::to_string(length) + ")");
    }
    if (n.max_length) {
      GALE_CHECK(length <= *n.max_length, "string is longer than " +
                                              Count(*n.max_length, "character", "characters") +
                                              " (got " + std::to_string(length) + ")");
    }
  }
  if (n.pattern) {
    std::optional<bool> found = Search(*n.pattern, value);
    GALE_CHECK(found.value_or(false),
               found ? "string does not match pattern " + Quote(n.pattern->source)
                     : "pattern " + Quote(n.pattern->source) + " is too complex for this string");
  }
  return ok;
}

bool Evaluator::Arrays(const Node& n, const Json& value) {
  bool ok = true;
  const std::size_t size = value.size();
  if (n.min_items) {
    GALE_CHECK(size >= *n.min_items, "array has " + Count(size, "item", "items") +
                                         ", expected at least " + std::to_string(*n.min_items));
  }
  if (n.max_items) {
    GALE_CHECK(size <= *n.max_items, "array has " + Count(size, "item", "items") +
                                         ", expected at most " + std::to_string(*n.max_items));
  }
  if (n.unique_items) {
    for (std::size_t i = 1; i < size; ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        GALE_CHECK(!JsonEqual(value[i], value[j]), "items " + std::to_string(j) + " and " +
                                                       std::to_string(i) +
                                                       " are equal; items must be unique");
      }
    }
  }
  if (n.has_tuple) {
    const std::size_t tuple = n.tuple_items.size();
    for (std::size_t i = 0; i < size && i < tuple; ++i) {
      PathScope scope(*this, std::to_string(i));
      GALE_SUB(Eval(n.tuple_items[i], value[i]));
    }
    if (n.additional_items >= 0 && size > tuple) {
      if (c_.nodes[n.additional_items].kind == Node::Kind::kFalse) {
        GALE_CHECK(false, "array has " + Count(size, "item", "items") + ", at most " +
                              std::to_string(tuple) + " allowed (additionalItems is false)");
      } else {
        for (std::size_t i = tuple; i < size; ++i) {
          PathScope scope(*this, std::to_string(i));
          GALE_SUB(Eval(n.additional_items, value[i]));
        }
      }
    }
  } else if (n.items >= 0) {
    for (std::size_t i = 0; i < size; ++i) {
      PathScope scope(*this, std::to_string(i));
      GALE_SUB(Eval(n.items, value[i]));
    }
  }
  if (n.contains >= 0) {
    bool found = std::any_of(value.begin(), value.end(),
                             [&](const Json& item) { return Matches(n.contains, item); });
    GALE_CHECK(found, std::string("no item matches the \"contains\" schema"));
  }
  return ok;
}

bool Evaluator::Objects(const Node& n, const Json& value) {
  bool ok = true;
  const std::size_t size = value.size();
  if (n.min_properties) {
    GALE_CHECK(size >= *n.min_properties, "object has " + Count(size, "property", "properties") +
                                              ", expected at least " +
                                              std::to_string(*n.min_properties));
  }
  if (n.max_properties) {
    GALE_CHECK(size <= *n.max_properties, "object has " + Count(size, "property", "properties") +
                                              ", expected at most " +
                                              std::to_string(*n.max_properties));
  }
  for (const std::string& name : n.required) {
    GALE_CHECK(value.contains(name), "missing required property " + Quote(name));
  }
  for (const Dependency& d : n.dependencies) {
    if (!value.contains(d.property)) continue;
    for (const std::string& name : d.required) {
      GALE_CHECK(value.contains(name),
                 "property " + Quote(d.property) + " requires property " + Quote(name));
    }
    if (d.schema >= 0) GALE_SUB(Eval(d.schema, value));
  }
  const bool per_member = !n.properties.empty() || !n.pattern_properties.empty() ||
                          n.additional_properties >= 0 || n.property_names >= 0;
  if (!per_member) return ok;
  // The underlying map, not items(): its proxy objects would enlarge every recursion frame.
  for (const auto& entry : value.get_ref<const Json::object_t&>()) {
    // Named references, not a structured binding: GALE_CHECK's lambda captures `name`, which
    // clang before 16 refuses for a binding.
    const std::string& name = entry.first;
    const Json& member = entry.second;
    PathScope scope(*this, name);
    bool matched = false;
    auto it = std::lower_bound(
        n.properties.begin(), n.properties.end(), name,
        [](const std::pair<std::string, int>& p, const std::string& key) { return p.first < key; });
    if (it != n.properties.end() && it->first == name) {
      matched = true;
      GALE_SUB(Eval(it->second, member));
    }
    for (const PatternNode& p : n.pattern_properties) {
      std::optional<bool> found = Search(p.regex, name);
      if (!found) {
        GALE_CHECK(false, "pattern " + Quote(p.regex.source) + " is too complex for this name");
        continue;
      }
      if (!*found) continue;
      matched = true;
      GALE_SUB(Eval(p.node, member));
    }
    if (!matched && n.additional_properties >= 0) {
      if (c_.nodes[n.additional_properties].kind == Node::Kind::kFalse) {
        GALE_CHECK(false, std::string("property is not allowed (not among \"properties\")"));
      } else {
        GALE_SUB(Eval(n.additional_properties, member));
      }
    }
    if (n.property_names >= 0) {
      GALE_CHECK(NameMatches(n.property_names, name),
                 "property name " + Quote(name) + " does not match \"propertyNames\"");
    }
  }
  return ok;
}

bool Evaluator::Combinators(const Node& n, const Json& value) {
  bool ok = true;
  for (int sub : n.all_of) GALE_SUB(Eval(sub, value));
  if (!n.any_of.empty()) {
    bool any =
        std::any_of(n.any_of.begin(), n.any_of.end(), [&](int sub) { return Matches(sub, value); });
    GALE_CHECK(any, "value matches none of the " + std::to_string(n.any_of.size()) +
                        " schemas in \"anyOf\"");
  }
  if (!n.one_of.empty()) {
    std::size_t matching = 0;
    for (int sub : n.one_of) {
      if (Matches(sub, value) && ++matching > 1) break;
    }
    GALE_CHECK(matching == 1, matching == 0
                                  ? "value matches none of the " + std::to_string(n.one_of.size()) +
                                        " schemas in \"oneOf\""
                                  : std::string("value matches more than one schema "
                                                "in \"oneOf\""));
  }
  if (n.not_schema >= 0) {
    GALE_CHECK(!Matches(n.not_schema, value), std::string("value must not match \"not\""));
  }
  if (n.if_schema >= 0) {
    int branch = Matches(n.if_schema, value) ? n.then_schema : n.else_schema;
    if (branch >= 0) GALE_SUB(Eval(branch, value));
  }
  return ok;
}

#undef GALE_CHECK
#undef GALE_SUB

}  // namespace gale::schema::detail

#include "host/schema/validator.h"

#include "host/schema/compiled.h"
#include "host/schema/compiler.h"
#include "host/schema/evaluator.h"

namespace gale::schema {

namespace {

using detail::Compiled;
using detail::Node;

const Node& Target(const Compiled& c, int index) {
  const Node* n = &c.nodes[index];
  while (n->ref >= 0) n = &c.nodes[n->ref];
  return *n;
}

// The default that applies to a value described by `index`: its own, else one from an allOf
// branch (the draft-04 meta-schema writes {"allOf": [{"$ref": ...}, {"default": 0}]}).
const Json* FindDefault(const Compiled& c, int index, int depth) {
  const Node& n = Target(c, index);
  if (n.default_value) return &*n.default_value;
  if (depth >= detail::kMaxEvalDepth) return nullptr;
  for (int sub : n.all_of) {
    if (const Json* d = FindDefault(c, sub, depth + 1)) return d;
  }
  return nullptr;
}

void FillDefaults(const Compiled& c, int index, Json& value, int depth) {
  if (depth >= detail::kMaxEvalDepth) return;
  const Node& n = Target(c, index);
  if (n.kind != Node::Kind::kSchema) return;
  for (int sub : n.all_of) FillDefaults(c, sub, value, depth + 1);
  if (value.is_object()) {
    for (const auto& [name, child] : n.properties) {
      auto it = value.find(name);
      if (it == value.end()) {
        const Json* d = FindDefault(c, child, depth + 1);
        if (d == nullptr) continue;
        it = value.emplace(name, *d).first;
      }
      FillDefaults(c, child, *it, depth + 1);
    }
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) {
      int items = n.has_tuple ? (i < n.tuple_items.size() ? n.tuple_items[i] : n.additional_items)
                              : n.items;
      if (items >= 0) FillDefaults(c, items, value[i], depth + 1);
    }
  }
}

}  // namespace

std::string Format(const Violation& v) {
  return (v.path.empty() ? std::string("/") : v.path) + ": " + v.message;
}

Result<Validator> Validator::Compile(const Json& schema) {
  return Compile(schema, {});
}

Result<Validator> Validator::Compile(const Json& schema, const DocumentMap& documents) {
  GALE_ASSIGN_OR_RETURN(auto compiled, detail::CompileSchema(schema, documents));
  return Validator(std::move(compiled));
}

std::vector<Violation> Validator::Validate(const Json& instance) const {
  std::vector<Violation> out;
  try {
    detail::Evaluator(*compiled_, &out).Eval(compiled_->root, instance);
  } catch (const std::exception& e) {
    // Only allocation failure is expected here; report it rather than let it escape.
    out.push_back({"", std::string("validation failed: ") + e.what()});
  }
  return out;
}

bool Validator::IsValid(const Json& instance) const {
  try {
    return detail::Evaluator(*compiled_, nullptr).Eval(compiled_->root, instance);
  } catch (const std::exception&) {
    return false;
  }
}

Json Validator::ApplyDefaults(const Json& instance) const {
  try {
    Json out = instance;
    FillDefaults(*compiled_, compiled_->root, out, 0);
    return out;
  } catch (const std::exception&) {
    return instance;
  }
}

std::vector<Violation> CheckDefaults(const Json& schema) {
  auto validator = Validator::Compile(schema);
  if (!validator.ok()) return {{"", validator.message()}};
  const Compiled& c = *validator->compiled_;
  std::vector<Violation> out;
  try {
    for (std::size_t i = 0; i < c.nodes.size(); ++i) {
      const Node& n = c.nodes[i];
      if (n.doc != 0 || !n.default_value) continue;  // only the caller's own schema
      std::vector<Violation> found;
      detail::Evaluator(c, &found).Eval(static_cast<int>(i), *n.default_value);
      for (Violation& v : found) {
        out.push_back({n.schema_path + "/default" + v.path, std::move(v.message)});
      }
    }
  } catch (const std::exception& e) {
    out.push_back({"", std::string("checking defaults failed: ") + e.what()});
  }
  return out;
}

}  // namespace gale::schema

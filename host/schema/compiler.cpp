#include "host/schema/compiler.h"

#include <utility>

#include "host/schema/metaschemas.h"
#include "host/schema/uri.h"
#include "host/schema/values.h"

namespace gale::schema::detail {

namespace {

Draft DraftOf(const Json& doc, Draft inherited) {
  if (!doc.is_object()) return inherited;
  auto it = doc.find("$schema");
  if (it == doc.end() || !it->is_string()) return inherited;
  const auto& uri = it->get_ref<const std::string&>();
  if (uri.find("draft-04") != std::string::npos) return Draft::kDraft4;
  if (uri.find("draft-06") != std::string::npos || uri.find("draft-07") != std::string::npos) {
    return Draft::kDraft7;
  }
  return Draft::kAuto;
}

}  // namespace

const std::string* IdOf(const Json& schema, Draft draft) {
  if (!schema.is_object() || schema.contains("$ref")) return nullptr;  // $ref hides siblings
  if (draft != Draft::kDraft4) {
    auto it = schema.find("$id");
    if (it != schema.end() && it->is_string()) return &it->get_ref<const std::string&>();
  }
  if (draft != Draft::kDraft7) {
    auto it = schema.find("id");
    if (it != schema.end() && it->is_string()) return &it->get_ref<const std::string&>();
  }
  return nullptr;
}

std::string ChildPointer(const std::string& pointer, std::string_view token) {
  std::string out = pointer;
  out += '/';
  AppendPointerToken(out, token);
  return out;
}

namespace {

std::vector<std::string> PointerTokens(const std::string& pointer) {
  std::vector<std::string> tokens;
  std::size_t pos = 1;
  while (pos <= pointer.size()) {
    auto next = pointer.find('/', pos);
    if (next == std::string::npos) next = pointer.size();
    std::string token;
    for (std::size_t i = pos; i < next; ++i) {
      if (pointer[i] == '~' && i + 1 < next && (pointer[i + 1] == '0' || pointer[i + 1] == '1')) {
        token += pointer[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        token += pointer[i];
      }
    }
    tokens.push_back(std::move(token));
    pos = next + 1;
  }
  return tokens;
}

// Keywords holding subschemas, for the id/$id scan.
constexpr const char* kSingleSchemaKeywords[] = {"additionalProperties",
                                                 "additionalItems",
                                                 "not",
                                                 "contains",
                                                 "propertyNames",
                                                 "if",
                                                 "then",
                                                 "else",
                                                 "items"};
constexpr const char* kSchemaMapKeywords[] = {"properties", "patternProperties", "definitions",
                                              "dependencies"};
constexpr const char* kSchemaArrayKeywords[] = {"allOf", "anyOf", "oneOf", "items"};

}  // namespace

Result<std::shared_ptr<const Compiled>> Compiler::Run() {
  AddDocument("", root_, DraftOf(root_, Draft::kAuto));
  int root = -1;
  GALE_TRY(CompileAt(0, "", root_, "", 0, &root));
  GALE_TRY(ResolvePending());
  GALE_TRY(CheckLoops());
  auto compiled = std::make_shared<Compiled>();
  compiled->nodes = std::move(nodes_);
  compiled->root = root;
  return std::shared_ptr<const Compiled>(std::move(compiled));
}

Status Compiler::Error(int doc, const std::string& pointer, const std::string& message) const {
  std::string where = doc == 0 ? (pointer.empty() ? "/" : pointer) : docs_[doc].uri + "#" + pointer;
  return Status::Error(where + ": " + message);
}

int Compiler::AddDocument(const std::string& uri, const Json& json, Draft draft) {
  int index = static_cast<int>(docs_.size());
  docs_.push_back({uri, &json, draft});
  ids_.emplace(uri, Location{index, ""});
  ScanIds(index, json, "", uri, 0);
  return index;
}

// A document named by a $ref: supplied by the caller or built in. -1 if unknown.
int Compiler::LoadDocument(const std::string& uri) {
  const Json* json = nullptr;
  if (auto it = documents_.find(uri); it != documents_.end()) {
    json = &it->second;
  } else if (auto it2 = documents_.find(uri + "#"); it2 != documents_.end()) {
    json = &it2->second;
  } else {
    json = BuiltinDocument(uri);
  }
  if (json == nullptr) return -1;
  return AddDocument(uri, *json, DraftOf(*json, docs_[0].draft));
}

// Records every subschema carrying an id/$id, so a $ref may name it by URI.
void Compiler::ScanIds(int doc, const Json& schema, const std::string& pointer, std::string base,
                       int depth) {
  if (depth > kMaxSchemaDepth || !schema.is_object() || schema.contains("$ref")) return;
  if (const std::string* id = IdOf(schema, docs_[doc].draft)) {
    base = ResolveUri(base, *id);
    ids_.emplace(StripEmptyFragment(base), Location{doc, pointer});
  }
  for (const char* keyword : kSingleSchemaKeywords) {
    auto it = schema.find(keyword);
    if (it != schema.end()) ScanIds(doc, *it, ChildPointer(pointer, keyword), base, depth + 1);
  }
  for (const char* keyword : kSchemaMapKeywords) {
    auto it = schema.find(keyword);
    if (it == schema.end() || !it->is_object()) continue;
    for (const auto& [name, sub] : it->items()) {
      ScanIds(doc, sub, ChildPointer(ChildPointer(pointer, keyword), name), base, depth + 1);
    }
  }
  for (const char* keyword : kSchemaArrayKeywords) {
    auto it = schema.find(keyword);
    if (it == schema.end() || !it->is_array()) continue;
    for (std::size_t i = 0; i < it->size(); ++i) {
      ScanIds(doc, (*it)[i], ChildPointer(ChildPointer(pointer, keyword), std::to_string(i)), base,
              depth + 1);
    }
  }
}

// The base URI in effect at `pointer`: the document URI changed by every enclosing id.
std::string Compiler::BaseAt(int doc, const std::string& pointer) const {
  std::string base = docs_[doc].uri;
  const Json* cur = docs_[doc].json;
  for (const std::string& token : PointerTokens(pointer)) {
    if (cur->is_object()) {
      if (const std::string* id = IdOf(*cur, docs_[doc].draft)) base = ResolveUri(base, *id);
      auto it = cur->find(token);
      if (it == cur->end()) break;
      cur = &*it;
    } else if (cur->is_array()) {
      std::size_t i = 0;
      try {
        i = std::stoul(token);
      } catch (const std::exception&) {
        break;
      }
      if (i >= cur->size()) break;
      cur = &(*cur)[i];
    } else {
      break;
    }
  }
  return base;
}

const Json* Compiler::Lookup(const Location& loc) const {
  try {
    Json::json_pointer ptr(loc.pointer);
    const Json& doc = *docs_[loc.doc].json;
    if (!doc.contains(ptr)) return nullptr;
    return &doc.at(ptr);
  } catch (const std::exception&) {
    return nullptr;  // malformed pointer
  }
}

Status Compiler::CompileAt(int doc, const std::string& pointer, const Json& schema,
                           const std::string& base, int depth, int* out) {
  auto key = std::make_pair(doc, pointer);
  if (auto it = node_at_.find(key); it != node_at_.end()) {
    *out = it->second;
    return Status::Ok();
  }
  if (depth > kMaxSchemaDepth) return Error(doc, pointer, "schema is nested too deeply");
  int index = static_cast<int>(nodes_.size());
  nodes_.emplace_back();
  node_at_.emplace(key, index);
  // Filled in a local: compiling children grows nodes_ and would move a reference.
  Node node;
  node.doc = doc;
  node.schema_path = pointer;
  if (schema.is_boolean()) {
    node.kind = schema.get<bool>() ? Node::Kind::kTrue : Node::Kind::kFalse;
  } else if (!schema.is_object()) {
    return Error(doc, pointer,
                 "a schema must be an object or a boolean, got " + TypeNameOf(schema));
  } else if (Status s = CompileKeywords(index, doc, pointer, schema, base, depth, node); !s.ok()) {
    return s;
  }
  nodes_[index] = std::move(node);
  *out = index;
  return Status::Ok();
}

// Compiling a $ref target may reveal further $refs, hence the work list.
Status Compiler::ResolvePending() {
  while (!pending_.empty()) {
    PendingRef p = std::move(pending_.back());
    pending_.pop_back();
    auto fail = [&](const std::string& why) {
      return Error(p.doc, ChildPointer(p.pointer, "$ref"),
                   "cannot resolve " + Brief(Json(p.ref)) + ": " + why);
    };
    std::string absolute = ResolveUri(p.base, p.ref);
    std::string document, fragment;
    SplitFragment(absolute, &document, &fragment);
    if (ids_.find(document) == ids_.end() && LoadDocument(document) < 0) {
      return fail("unknown document " + Brief(Json(document)) +
                  " (nothing is fetched; pass it to Compile)");
    }
    Location loc;
    if (fragment.empty() || fragment[0] == '/') {
      const Location& resource = ids_.at(document);
      loc = {resource.doc, resource.pointer + fragment};
    } else {
      auto it = ids_.find(absolute);  // plain-name fragment: "#foo" declared by an id
      if (it == ids_.end()) return fail("no schema has that id");
      loc = it->second;
    }
    const Json* target = Lookup(loc);
    if (target == nullptr) return fail("it points at nothing");
    int index = -1;
    if (Status s =
            CompileAt(loc.doc, loc.pointer, *target, BaseAt(loc.doc, loc.pointer), 0, &index);
        !s.ok()) {
      return s;
    }
    nodes_[p.node].ref = index;
  }
  return Status::Ok();
}

// A loop of subschemas applied to the same value ({"$ref": "#"} at the root, or a definition
// whose allOf refers back to itself) would recurse forever at validation time.
Status Compiler::CheckLoops() const {
  const std::size_t count = nodes_.size();
  std::vector<std::vector<int>> same_value(count);
  for (std::size_t i = 0; i < count; ++i) {
    const Node& n = nodes_[i];
    auto& edges = same_value[i];
    if (n.ref >= 0) edges.push_back(n.ref);
    for (const auto* list : {&n.all_of, &n.any_of, &n.one_of}) {
      edges.insert(edges.end(), list->begin(), list->end());
    }
    for (int e : {n.not_schema, n.if_schema, n.then_schema, n.else_schema}) {
      if (e >= 0) edges.push_back(e);
    }
    for (const Dependency& d : n.dependencies) {
      if (d.schema >= 0) edges.push_back(d.schema);
    }
  }
  // Iterative DFS (0 = unseen, 1 = on the stack, 2 = done): long $ref chains cannot overflow.
  std::vector<std::uint8_t> state(count, 0);
  std::vector<std::pair<int, std::size_t>> stack;
  for (std::size_t start = 0; start < count; ++start) {
    if (state[start] != 0) continue;
    stack.emplace_back(static_cast<int>(start), 0);
    state[start] = 1;
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next == same_value[node].size()) {
        state[node] = 2;
        stack.pop_back();
        continue;
      }
      int to = same_value[node][next++];
      if (state[to] == 1) {
        const Node& n = nodes_[to];
        return Error(n.doc, n.schema_path,
                     "$ref loop: this schema is applied to the same value again and again");
      }
      if (state[to] == 0) {
        state[to] = 1;
        stack.emplace_back(to, 0);
      }
    }
  }
  return Status::Ok();
}

Result<std::shared_ptr<const Compiled>> CompileSchema(const Json& schema,
                                                      const DocumentMap& documents) {
  try {
    return Compiler(schema, documents).Run();
  } catch (const std::exception& e) {
    // nlohmann reports by exception; none may escape the API.
    return Status::Error(std::string("schema could not be compiled: ") + e.what());
  }
}

}  // namespace gale::schema::detail

// Schema JSON -> Compiled node table: keyword checks, regex compilation, $ref resolution
// (local pointers, id/$id, supplied documents, built-in meta-schemas) and $ref loop detection.
// Split in two files: compiler.cpp (documents, ids, references, loops) and keywords.cpp
// (reading each keyword into a Node).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "host/common/result.h"
#include "host/schema/compiled.h"
#include "host/schema/validator.h"

namespace gale::schema::detail {

Result<std::shared_ptr<const Compiled>> CompileSchema(const Json& schema,
                                                      const DocumentMap& documents);

// Where draft-04 and draft-07 disagree (exclusiveMinimum/Maximum form, id vs $id), a document's
// "$schema" decides; without one both forms are accepted, told apart by type.
enum class Draft { kAuto, kDraft4, kDraft7 };

// The schema's id ("id" in draft-04, "$id" in draft-06/07), or nullptr.
const std::string* IdOf(const Json& schema, Draft draft);

// `pointer` + "/" + escaped `token`.
std::string ChildPointer(const std::string& pointer, std::string_view token);

class Compiler {
 public:
  Compiler(const Json& root, const DocumentMap& documents) : root_(root), documents_(documents) {}
  Result<std::shared_ptr<const Compiled>> Run();

 private:
  struct Doc {
    std::string uri;
    const Json* json;
    Draft draft;
  };
  struct Location {
    int doc;
    std::string pointer;
  };
  struct PendingRef {
    int node;
    int doc;
    std::string base;
    std::string ref;
    std::string pointer;  // of the schema holding the $ref
  };

  Status Error(int doc, const std::string& pointer, const std::string& message) const;
  int AddDocument(const std::string& uri, const Json& json, Draft draft);
  int LoadDocument(const std::string& uri);
  void ScanIds(int doc, const Json& schema, const std::string& pointer, std::string base,
               int depth);
  std::string BaseAt(int doc, const std::string& pointer) const;
  const Json* Lookup(const Location& loc) const;
  Status CompileAt(int doc, const std::string& pointer, const Json& schema, const std::string& base,
                   int depth, int* out);
  Status CompileKeywords(int index, int doc, const std::string& pointer, const Json& s,
                         std::string base, int depth, Node& n);  // keywords.cpp
  class KeywordReader;  // keywords.cpp: one schema object's keywords, by group
  Status ResolvePending();
  Status CheckLoops() const;

  const Json& root_;
  const DocumentMap& documents_;
  std::vector<Doc> docs_;
  std::map<std::string, Location> ids_;  // absolute URI (no empty fragment) -> subschema
  std::map<std::pair<int, std::string>, int> node_at_;
  std::vector<PendingRef> pending_;
  std::vector<Node> nodes_;
};

}  // namespace gale::schema::detail

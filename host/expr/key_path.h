// Criteria keys: the JSONPath subset StackStorm's rules use (it parses them with jsonpath-rw).
//   trigger.a.b          fields
//   trigger.list[0]      list index (negative counts from the end)
//   trigger.list.0       Gale extension: a numeric field indexes a list (jsonpath-rw refuses it,
//                        so in StackStorm such a criterion never matches); on an object it is
//                        the key "0"
//   trigger['a b'], trigger."a.b"   quoted field names
//   trigger.*, trigger.list[*]      wildcards: the first value found, as StackStorm takes
//                                   matches[0] (objects iterate in key order here, in insertion
//                                   order in Python)
// Everything else jsonpath-rw knows (.., slices, unions, `where`) is refused at compile time.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "host/common/json.h"
#include "host/common/result.h"

namespace gale::expr {

struct PathStep {
  enum class Kind : unsigned char { kField, kIndex, kFieldOrIndex, kAnyField, kAnyItem };
  Kind kind = Kind::kField;
  std::string name;
  long long index = 0;
};

struct KeyPath {
  std::string root;  // "trigger", or "item" inside `search`
  std::vector<PathStep> steps;
};

Result<KeyPath> ParseKeyPath(std::string_view key);

enum class LookupStatus { kFound, kMissing, kError };

// Follows `path.steps` from `value` (the root's value). On kFound, *out points into `value` or,
// when a string was indexed, at `*scratch`. kError is what raises in jsonpath-rw (indexing a
// number, bool, null or object); kMissing reads as None.
LookupStatus Lookup(const Json& value, const KeyPath& path, const Json** out, Json* scratch);

// Every match, in order (the `jsonpath_query` filter); stops after `limit` matches. Matches
// nested deeper than py::kMaxDepth are left out (they are copied).
std::vector<Json> LookupAll(const Json& value, const KeyPath& path, std::size_t limit);

}  // namespace gale::expr

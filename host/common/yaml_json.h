// YAML documents as JSON, with the line each value came from, so that a schema violation at a
// JSON pointer can be reported as "file:line: ...".
#pragma once

#include <map>
#include <string>

#include "host/common/json.h"
#include "host/common/result.h"

namespace gale {

struct YamlDocument {
  Json json;
  // JSON pointer ("" for the root, "/parameters/cmd") -> 1-based line of the value.
  std::map<std::string, int> lines;

  // Line of `pointer`, or of its nearest ancestor that has one; 0 when unknown.
  int LineOf(const std::string& pointer) const;
};

// Scalars resolve as StackStorm's PyYAML does: quoted -> string; plain -> null (~, null, empty),
// bool (true/false/yes/no/on/off in any common case), integer, float, else string. Errors
// (syntax, duplicate keys, unreadable file) come back as "path:line: message".
Result<YamlDocument> ParseYaml(const std::string& text, const std::string& display_path);
Result<YamlDocument> LoadYamlFile(const std::string& path);

}  // namespace gale

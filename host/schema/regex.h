// Regexes for "pattern" and "patternProperties", compiled once per schema.
//
// JSON Schema patterns are ECMA-262 and unanchored. They run on the rules' linear-time engine
// (host/expr/regex.h): a pattern from a pack or a caller must never make validation of a large
// payload take super-linear time. The ECMA-262 source is first rewritten to that engine's (Python
// `re`) syntax where the two differ: `$` means end of text (not "before a final newline"), \d \w
// \D \W are ASCII-only, and (?<name>...) is a named group. What the engine refuses
// (back-references, lookahead/lookbehind) fails the schema's compilation with the engine's reason.
#pragma once

#include <optional>
#include <string>

#include "host/common/result.h"
#include "host/expr/regex.h"

namespace gale::schema::detail {

struct Regex {
  std::string source;  // the pattern as written in the schema
  expr::Regex re;
};

// Fails with a one-line reason for invalid syntax and for what the engine does not support.
Result<Regex> CompileRegex(const std::string& pattern);

// The rewrite of an ECMA-262 pattern into host/expr/regex.h syntax (exposed for tests).
std::string EcmaToEngine(const std::string& pattern);

// Unanchored search (JSON Schema semantics). nullopt if the matcher gave up (step budget).
std::optional<bool> Search(const Regex& regex, const std::string& text);

}  // namespace gale::schema::detail

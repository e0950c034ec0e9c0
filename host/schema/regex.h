// ECMAScript regexes for "pattern" and "patternProperties", compiled once per schema.
#pragma once

#include <optional>
#include <regex>
#include <string>

#include "host/common/result.h"

namespace gale::schema::detail {

struct Regex {
  std::string source;
  std::regex re;
};

// Fails with a one-line reason for invalid syntax and for back-references (see regex.cpp).
Result<Regex> CompileRegex(const std::string& pattern);

// Unanchored search (JSON Schema semantics). nullopt if the matcher gave up (complexity limit).
std::optional<bool> Search(const Regex& regex, const std::string& text);

}  // namespace gale::schema::detail

#include "host/schema/regex.h"

namespace gale::schema::detail {

namespace {

std::regex::flag_type Flags() {
  auto flags = std::regex::ECMAScript;
#if defined(__GLIBCXX__)
  // libstdc++'s default (backtracking) matcher recurses once per input character and overflows
  // the stack on strings of a few ten thousand characters: a trigger payload could crash the
  // process. The Thompson-NFA matcher selected by this (libstdc++-specific) flag uses bounded
  // stack and polynomial time; it only lacks back-references.
  flags |= std::regex_constants::__polynomial;
#endif
  return flags;
}

}  // namespace

Result<Regex> CompileRegex(const std::string& pattern) {
  try {
    return Regex{pattern, std::regex(pattern, Flags())};
  } catch (const std::regex_error& e) {
    // Tell "uses back-references" apart from plain bad syntax for a useful message.
    try {
      std::regex plain(pattern, std::regex::ECMAScript);
      return Status::Error("back-references are not supported in patterns");
    } catch (const std::exception&) {
    }
    return Status::Error(std::string("invalid regular expression: ") + e.what());
  } catch (const std::exception& e) {
    return Status::Error(std::string("invalid regular expression: ") + e.what());
  }
}

std::optional<bool> Search(const Regex& regex, const std::string& text) {
  try {
    return std::regex_search(text, regex.re);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace gale::schema::detail

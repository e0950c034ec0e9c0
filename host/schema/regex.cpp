#include "host/schema/regex.h"

namespace gale::schema::detail {

std::string EcmaToEngine(const std::string& pattern) {
  std::string out;
  out.reserve(pattern.size() + 16);
  bool in_class = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      switch (e) {
        case 'd':
          out += in_class ? "0-9" : "[0-9]";
          break;
        case 'w':
          out += in_class ? "A-Za-z0-9_" : "[A-Za-z0-9_]";
          break;
        case 'D':
          out += in_class ? "\\D" : "[^0-9]";  // inside a class: the engine's (Unicode) \D
          break;
        case 'W':
          out += in_class ? "\\W" : "[^A-Za-z0-9_]";
          break;
        default:
          out += c;
          out += e;
      }
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      out += c;
      continue;
    }
    if (c == '[') {
      in_class = true;
      out += c;
      continue;
    }
    if (c == '$') {
      out += "\\Z";
      continue;
    }
    if (c == '(' && pattern.compare(i, 3, "(?<") == 0 && i + 3 < pattern.size() &&
        pattern[i + 3] != '=' && pattern[i + 3] != '!') {
      out += "(?P<";
      i += 2;
      continue;
    }
    out += c;
  }
  return out;
}

Result<Regex> CompileRegex(const std::string& pattern) {
  const std::string source = EcmaToEngine(pattern);
  auto re = expr::Regex::Compile(source);
  if (!re.ok()) {
    std::string reason = re.message();
    // The engine counts positions in the rewritten source; they would mislead about this one.
    if (source != pattern) {
      if (auto at = reason.rfind(" at position "); at != std::string::npos) reason.erase(at);
    }
    return Status::Error("invalid regular expression \"" + pattern + "\": " + reason);
  }
  return Regex{pattern, std::move(re).value()};
}

std::optional<bool> Search(const Regex& regex, const std::string& text) {
  return regex.re.Search(text);
}

}  // namespace gale::schema::detail

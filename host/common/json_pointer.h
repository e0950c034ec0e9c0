// JSON Pointer (RFC 6901) building, shared by the YAML reader and the schema validator.
#pragma once

#include <string>
#include <string_view>

namespace gale {

// Appends `token` escaped ("~" -> "~0", "/" -> "~1"), without the leading "/".
inline void AppendPointerToken(std::string& out, std::string_view token) {
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
}

// "/" + `token` escaped: one more step of a pointer.
inline std::string PointerStep(std::string_view token) {
  std::string out = "/";
  AppendPointerToken(out, token);
  return out;
}

}  // namespace gale

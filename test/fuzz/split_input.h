// Fuzz inputs with several parts (a schema and a document, a pattern and a subject) are split
// at lines holding only "%%", so that the seed corpora stay readable, hand-written text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace gale::fuzz {

// Exactly `parts` views into the input: the first parts-1 end at a "\n%%\n" separator, the last
// takes the rest; parts the input lacks are empty.
inline std::vector<std::string_view> SplitInput(const uint8_t* data, size_t size, size_t parts) {
  constexpr std::string_view kSeparator = "\n%%\n";
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> out;
  while (out.size() + 1 < parts) {
    const size_t at = rest.find(kSeparator);
    if (at == std::string_view::npos) break;
    out.push_back(rest.substr(0, at));
    rest.remove_prefix(at + kSeparator.size());
  }
  out.push_back(rest);
  out.resize(parts);
  return out;
}

}  // namespace gale::fuzz

// Hex digits: lower-case encoding of bytes, and one digit's value (either case).
#pragma once

#include <string>
#include <string_view>

namespace gale {

std::string HexEncode(std::string_view bytes);
inline std::string HexEncode(const unsigned char* data, size_t n) {
  return HexEncode(std::string_view(reinterpret_cast<const char*>(data), n));
}
// 0..15, or -1 when `c` is not a hex digit.
int HexDigitValue(char c);
// The bytes `text` encodes (digits of either case); false, with *out unspecified, when `text`
// has an odd length or a character that is not a hex digit.
bool HexDecode(std::string_view text, std::string* out);

}  // namespace gale

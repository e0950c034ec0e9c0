// Python semantics over JSON values. StackStorm evaluates criteria and templates in Python, so
// its users' rules rely on Python's equality, ordering, membership, truthiness and str()/repr()
// rendering; these helpers reproduce them for the JSON types a payload can hold:
//   null -> None, bool -> bool, integer -> int, float -> float, string -> str, array -> list,
//   object -> dict.
// Python facts mirrored here:
//   - bool is an int subclass: True == 1, False == 0.0, True < 2 (StackStorm's `equals` with
//     pattern 1 matches a payload `true`: Python's == says so).
//   - 1 == 1.0, but "1" != 1 (no coercion between numbers and strings).
//   - ordering across unrelated types ("a" < 1, None < 1, dict < dict) is a TypeError.
//   - lists compare lexicographically with these rules, element by element.
// Recursive helpers stop at kMaxDepth levels and report an error, as Python's recursion limit
// does, so a deeply nested payload cannot overflow the stack.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "host/common/json.h"

namespace gale::expr::py {

inline constexpr int kMaxDepth = 200;

// Python's type name of a JSON value: NoneType, bool, int, float, str, list, dict.
const char* TypeName(const Json& v);

// bool, integer or float (Python's numeric tower, bool included).
bool IsNumeric(const Json& v);

// a == b. Deeper than kMaxDepth: false.
bool Equals(const Json& a, const Json& b);

// a < b; nullopt when Python raises TypeError (unorderable types, or nesting too deep).
std::optional<bool> Less(const Json& a, const Json& b);

// `needle in haystack`; nullopt when Python raises TypeError (haystack not a container, a
// non-string searched in a string, an unhashable key looked up in a dict).
std::optional<bool> Contains(const Json& haystack, const Json& needle);

// bool(v).
bool Truthy(const Json& v);

// True when `v` nests at most `limit` arrays/objects deep. nlohmann copies (and dumps) values
// recursively, so anything copied out of a payload is checked first: a hostile payload nested
// 100,000 levels deep must not overflow the stack.
bool DepthAtMost(const Json& v, int limit);

// str(v) and repr(v); false when nesting is deeper than kMaxDepth or `max_bytes` is exceeded.
bool AppendStr(std::string& out, const Json& v, std::size_t max_bytes = SIZE_MAX);
bool AppendRepr(std::string& out, const Json& v, std::size_t max_bytes = SIZE_MAX);
std::string Str(const Json& v);
std::string Repr(const Json& v);

// repr(float): the shortest text that reads back to the same double, in Python's layout
// ("1.0", "1e+16", "1e-05", "inf", "nan").
std::string FloatRepr(double d);

// json.dumps(value, ...). `item_sep`/`key_sep` are Python's `separators`; indent < 0 means
// None. ensure_ascii escapes every non-ASCII character as \uXXXX (Python's default); html_safe
// additionally escapes < > & ' as Jinja's `tojson` does. nullopt: nesting deeper than kMaxDepth
// or output larger than max_bytes.
struct DumpOptions {
  int indent = -1;
  std::string_view item_sep = ", ";
  std::string_view key_sep = ": ";
  bool ensure_ascii = true;
  bool html_safe = false;
  std::size_t max_bytes = SIZE_MAX;
};
std::optional<std::string> JsonDumps(const Json& v, const DumpOptions& options);

// float(text): surrounding whitespace, sign, '_' between digits, exponents, "inf", "infinity"
// and "nan" in any case. nullopt: ValueError.
std::optional<double> ParseFloat(std::string_view text);
// int(text, base) for base 0 or 2..36 (prefixes 0x/0o/0b as Python allows them). nullopt:
// ValueError, or a value outside int64 (Python would return a big integer).
std::optional<long long> ParseInt(std::string_view text, int base);

// ---- UTF-8 text (strings are UTF-8; Python works on code points) ----

// Decodes one code point at `i` and advances it; an invalid byte decodes as U+FFFD (1 byte).
char32_t DecodeUtf8(std::string_view s, std::size_t& i);
void AppendUtf8(std::string& out, char32_t cp);
std::size_t CodePointCount(std::string_view s);
// Simple (1:1) case mappings, as str.lower()/str.upper() for all but a few special cases.
char32_t ToLower(char32_t cp);
char32_t ToUpper(char32_t cp);
std::string Lower(std::string_view s);
std::string Upper(std::string_view s);
// str.capitalize(): first code point upper-cased, the rest lower-cased.
std::string Capitalize(std::string_view s);
// Python's str.isspace() / isalnum() / isdecimal() for one code point.
bool IsSpace(char32_t cp);
bool IsAlnum(char32_t cp);
bool IsDigit(char32_t cp);

}  // namespace gale::expr::py

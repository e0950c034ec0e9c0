#include "host/expr/py_value.h"

#include <locale.h>
#include <wctype.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace gale::expr::py {

namespace {

// ---- numbers ----

// Compares two numeric JSON values (bool counts as 0/1) exactly: integers as 128-bit integers,
// anything involving a float as long double (64-bit mantissa on x86-64, exact for every int64
// and uint64). Returns -1/0/1, or 2 when a NaN makes them unordered.
int CompareNumbers(const Json& a, const Json& b) {
  auto as_int = [](const Json& v, __int128& out) {
    if (v.is_boolean()) {
      out = v.get<bool>() ? 1 : 0;
      return true;
    }
    if (v.is_number_unsigned()) {
      out = static_cast<__int128>(v.get<std::uint64_t>());
      return true;
    }
    if (v.is_number_integer()) {
      out = static_cast<__int128>(v.get<std::int64_t>());
      return true;
    }
    return false;
  };
  __int128 ia = 0, ib = 0;
  bool a_int = as_int(a, ia), b_int = as_int(b, ib);
  if (a_int && b_int) return ia < ib ? -1 : (ia > ib ? 1 : 0);
  long double da = a_int ? static_cast<long double>(ia) : static_cast<long double>(a.get<double>());
  long double db = b_int ? static_cast<long double>(ib) : static_cast<long double>(b.get<double>());
  if (std::isnan(da) || std::isnan(db)) return 2;
  return da < db ? -1 : (da > db ? 1 : 0);
}

bool EqualsAt(const Json& a, const Json& b, int depth) {
  if (depth > kMaxDepth) return false;
  if (IsNumeric(a) && IsNumeric(b)) return CompareNumbers(a, b) == 0;
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Json::value_t::null:
      return true;
    case Json::value_t::string:
      return a.get_ref<const std::string&>() == b.get_ref<const std::string&>();
    case Json::value_t::array: {
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (!EqualsAt(a[i], b[i], depth + 1)) return false;
      }
      return true;
    }
    case Json::value_t::object: {
      if (a.size() != b.size()) return false;
      for (auto it = a.begin(); it != a.end(); ++it) {
        auto other = b.find(it.key());
        if (other == b.end() || !EqualsAt(it.value(), *other, depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

std::optional<bool> LessAt(const Json& a, const Json& b, int depth) {
  if (depth > kMaxDepth) return std::nullopt;
  if (IsNumeric(a) && IsNumeric(b)) return CompareNumbers(a, b) == -1;
  if (a.is_string() && b.is_string()) {
    // Byte order of UTF-8 is code point order, which is how Python orders str.
    return a.get_ref<const std::string&>() < b.get_ref<const std::string&>();
  }
  if (a.is_array() && b.is_array()) {
    std::size_t n = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
      if (!EqualsAt(a[i], b[i], depth + 1)) return LessAt(a[i], b[i], depth + 1);
    }
    return a.size() < b.size();
  }
  return std::nullopt;
}

// ---- locale-backed Unicode classification (C.UTF-8 is part of glibc since 2.35) ----

locale_t Utf8Locale() {
  static locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  return loc;
}

// ---- repr ----

bool IsPrintable(char32_t cp) {
  if (cp < 0x20 || cp == 0x7f) return false;
  if (cp < 0x7f) return true;
  if (cp <= 0xa0 || cp == 0xad) return false;      // C1 controls, NBSP, soft hyphen
  if (cp >= 0xd800 && cp <= 0xdfff) return false;  // surrogates
  if (cp == 0x2028 || cp == 0x2029 || cp == 0xfeff) return false;
  if (IsSpace(cp)) return false;  // Python: Zs other than ' '
  locale_t loc = Utf8Locale();
  return loc == static_cast<locale_t>(nullptr) || iswprint_l(static_cast<wint_t>(cp), loc) != 0;
}

void AppendHex(std::string& out, unsigned value, int digits) {
  static const char kHex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) out.push_back(kHex[(value >> (4 * i)) & 0xf]);
}

void AppendStringRepr(std::string& out, std::string_view s) {
  bool has_single = s.find('\'') != std::string_view::npos;
  bool has_double = s.find('"') != std::string_view::npos;
  char quote = (has_single && !has_double) ? '"' : '\'';
  out.push_back(quote);
  for (std::size_t i = 0; i < s.size();) {
    std::size_t start = i;
    char32_t cp = DecodeUtf8(s, i);
    if (cp == static_cast<char32_t>(quote) || cp == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(cp));
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (IsPrintable(cp)) {
      out.append(s.substr(start, i - start));
    } else if (cp < 0x100) {
      out += "\\x";
      AppendHex(out, cp, 2);
    } else if (cp < 0x10000) {
      out += "\\u";
      AppendHex(out, cp, 4);
    } else {
      out += "\\U";
      AppendHex(out, cp, 8);
    }
  }
  out.push_back(quote);
}

void AppendNumber(std::string& out, const Json& v) {
  if (v.is_number_unsigned()) {
    out += std::to_string(v.get<std::uint64_t>());
  } else if (v.is_number_integer()) {
    out += std::to_string(v.get<std::int64_t>());
  } else {
    out += FloatRepr(v.get<double>());
  }
}

bool AppendReprAt(std::string& out, const Json& v, std::size_t max_bytes, int depth, bool repr) {
  if (depth > kMaxDepth) return false;
  switch (v.type()) {
    case Json::value_t::null:
      out += "None";
      break;
    case Json::value_t::boolean:
      out += v.get<bool>() ? "True" : "False";
      break;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      AppendNumber(out, v);
      break;
    case Json::value_t::string:
      if (repr) {
        AppendStringRepr(out, v.get_ref<const std::string&>());
      } else {
        out += v.get_ref<const std::string&>();
      }
      break;
    case Json::value_t::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& item : v) {
        if (!first) out += ", ";
        first = false;
        if (!AppendReprAt(out, item, max_bytes, depth + 1, true)) return false;
        if (out.size() > max_bytes) return false;
      }
      out.push_back(']');
      break;
    }
    case Json::value_t::object: {
      out.push_back('{');
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ", ";
        first = false;
        AppendStringRepr(out, it.key());
        out += ": ";
        if (!AppendReprAt(out, it.value(), max_bytes, depth + 1, true)) return false;
        if (out.size() > max_bytes) return false;
      }
      out.push_back('}');
      break;
    }
    default:
      out += "None";
      break;
  }
  return out.size() <= max_bytes;
}

// ---- json.dumps ----

void AppendJsonString(std::string& out, std::string_view s, bool ensure_ascii) {
  out.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    std::size_t start = i;
    char32_t cp = DecodeUtf8(s, i);
    switch (cp) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      default:
        break;
    }
    if (cp < 0x20 || (ensure_ascii && cp >= 0x7f)) {
      if (cp >= 0x10000) {
        char32_t v = cp - 0x10000;
        out += "\\u";
        AppendHex(out, 0xd800 + (v >> 10), 4);
        out += "\\u";
        AppendHex(out, 0xdc00 + (v & 0x3ff), 4);
      } else {
        out += "\\u";
        AppendHex(out, cp, 4);
      }
    } else {
      out.append(s.substr(start, i - start));
    }
  }
  out.push_back('"');
}

void AppendIndent(std::string& out, const DumpOptions& o, int level) {
  out.push_back('\n');
  out.append(static_cast<std::size_t>(o.indent) * static_cast<std::size_t>(level), ' ');
}

bool DumpAt(std::string& out, const Json& v, const DumpOptions& o, int depth) {
  if (depth > kMaxDepth) return false;
  switch (v.type()) {
    case Json::value_t::null:
      out += "null";
      break;
    case Json::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      break;
    case Json::value_t::number_float: {
      double d = v.get<double>();
      if (std::isnan(d)) {
        out += "NaN";
      } else if (std::isinf(d)) {
        out += d > 0 ? "Infinity" : "-Infinity";
      } else {
        out += FloatRepr(d);
      }
      break;
    }
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      AppendNumber(out, v);
      break;
    case Json::value_t::string:
      AppendJsonString(out, v.get_ref<const std::string&>(), o.ensure_ascii);
      break;
    case Json::value_t::array: {
      if (v.empty()) {
        out += "[]";
        break;
      }
      out.push_back('[');
      bool first = true;
      for (const auto& item : v) {
        if (!first) out += o.item_sep;
        first = false;
        if (o.indent >= 0) AppendIndent(out, o, depth + 1);
        if (!DumpAt(out, item, o, depth + 1) || out.size() > o.max_bytes) return false;
      }
      if (o.indent >= 0) AppendIndent(out, o, depth);
      out.push_back(']');
      break;
    }
    case Json::value_t::object: {
      if (v.empty()) {
        out += "{}";
        break;
      }
      out.push_back('{');
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += o.item_sep;
        first = false;
        if (o.indent >= 0) AppendIndent(out, o, depth + 1);
        AppendJsonString(out, it.key(), o.ensure_ascii);
        out += o.key_sep;
        if (!DumpAt(out, it.value(), o, depth + 1) || out.size() > o.max_bytes) return false;
      }
      if (o.indent >= 0) AppendIndent(out, o, depth);
      out.push_back('}');
      break;
    }
    default:
      out += "null";
      break;
  }
  return out.size() <= o.max_bytes;
}

}  // namespace

const char* TypeName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "NoneType";
    case Json::value_t::boolean:
      return "bool";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "int";
    case Json::value_t::number_float:
      return "float";
    case Json::value_t::string:
      return "str";
    case Json::value_t::array:
      return "list";
    case Json::value_t::object:
      return "dict";
    default:
      return "object";
  }
}

bool IsNumeric(const Json& v) {
  return v.is_number() || v.is_boolean();
}

bool Equals(const Json& a, const Json& b) {
  return EqualsAt(a, b, 0);
}

std::optional<bool> Less(const Json& a, const Json& b) {
  return LessAt(a, b, 0);
}

std::optional<bool> Contains(const Json& haystack, const Json& needle) {
  switch (haystack.type()) {
    case Json::value_t::string:
      if (!needle.is_string())
        return std::nullopt;  // 'in <string>' requires string as left operand
      return haystack.get_ref<const std::string&>().find(needle.get_ref<const std::string&>()) !=
             std::string::npos;
    case Json::value_t::array:
      for (const auto& item : haystack) {
        if (Equals(item, needle)) return true;
      }
      return false;
    case Json::value_t::object:
      if (needle.is_array() || needle.is_object()) return std::nullopt;  // unhashable type
      if (!needle.is_string()) return false;  // JSON keys are strings: 1 is never a key
      return haystack.contains(needle.get_ref<const std::string&>());
    default:
      return std::nullopt;  // argument of type 'int' is not iterable
  }
}

bool Truthy(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return false;
    case Json::value_t::boolean:
      return v.get<bool>();
    case Json::value_t::number_integer:
      return v.get<std::int64_t>() != 0;
    case Json::value_t::number_unsigned:
      return v.get<std::uint64_t>() != 0;
    case Json::value_t::number_float:
      return v.get<double>() != 0.0;
    case Json::value_t::string:
      return !v.get_ref<const std::string&>().empty();
    case Json::value_t::array:
    case Json::value_t::object:
      return !v.empty();
    default:
      return false;
  }
}

bool DepthAtMost(const Json& v, int limit) {
  if (!v.is_array() && !v.is_object()) return true;
  if (limit <= 0) return false;
  for (const auto& item : v) {
    if (!DepthAtMost(item, limit - 1)) return false;
  }
  return true;
}

bool AppendStr(std::string& out, const Json& v, std::size_t max_bytes) {
  return AppendReprAt(out, v, max_bytes, 0, false);
}

bool AppendRepr(std::string& out, const Json& v, std::size_t max_bytes) {
  return AppendReprAt(out, v, max_bytes, 0, true);
}

std::string Str(const Json& v) {
  std::string out;
  if (!AppendStr(out, v)) out += "...";
  return out;
}

std::string Repr(const Json& v) {
  std::string out;
  if (!AppendRepr(out, v)) out += "...";
  return out;
}

std::string FloatRepr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  // Shortest round-trip digits in scientific form, e.g. "-1.2345e+02", then laid out as
  // Python's repr does: positional when -4 <= exponent < 16, else scientific.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));
  bool negative = !sci.empty() && sci[0] == '-';
  if (negative) sci.remove_prefix(1);
  std::size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e)) {
    if (c != '.') digits.push_back(c);
  }
  int exponent = 0;
  std::from_chars(sci.data() + e + 1 + (sci[e + 1] == '+' ? 1 : 0), sci.data() + sci.size(),
                  exponent);
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent >= 0) {
      std::size_t int_len = static_cast<std::size_t>(exponent) + 1;
      if (digits.size() <= int_len) {
        out += digits;
        out.append(int_len - digits.size(), '0');
        out += ".0";
      } else {
        out += digits.substr(0, int_len);
        out.push_back('.');
        out += digits.substr(int_len);
      }
    } else {
      out += "0.";
      out.append(static_cast<std::size_t>(-exponent - 1), '0');
      out += digits;
    }
  } else {
    out.push_back(digits[0]);
    if (digits.size() > 1) {
      out.push_back('.');
      out += digits.substr(1);
    }
    out.push_back('e');
    out.push_back(exponent < 0 ? '-' : '+');
    int mag = exponent < 0 ? -exponent : exponent;
    if (mag < 10) out.push_back('0');
    out += std::to_string(mag);
  }
  return out;
}

std::optional<std::string> JsonDumps(const Json& v, const DumpOptions& options) {
  std::string out;
  if (!DumpAt(out, v, options, 0)) return std::nullopt;
  if (options.html_safe) {
    std::string safe;
    safe.reserve(out.size());
    for (char c : out) {
      switch (c) {
        case '<':
          safe += "\\u003c";
          break;
        case '>':
          safe += "\\u003e";
          break;
        case '&':
          safe += "\\u0026";
          break;
        case '\'':
          safe += "\\u0027";
          break;
        default:
          safe.push_back(c);
      }
    }
    if (safe.size() > options.max_bytes) return std::nullopt;
    out = std::move(safe);
  }
  return out;
}

// ---- number parsing ----

namespace {

std::string_view StripSpace(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e) {
    std::size_t i = b;
    if (!IsSpace(DecodeUtf8(s, i))) break;
    b = i;
  }
  while (e > b) {
    std::size_t start = e - 1;
    while (start > b && (static_cast<unsigned char>(s[start]) & 0xc0) == 0x80) --start;
    std::size_t i = start;
    if (!IsSpace(DecodeUtf8(s, i))) break;
    e = start;
  }
  return s.substr(b, e - b);
}

// Removes '_' that sit between two digits of `digit_ok`; false if any other '_' is present.
template <class DigitOk>
bool StripUnderscores(std::string_view s, std::string* out, DigitOk digit_ok) {
  out->clear();
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 >= s.size() || !digit_ok(s[i - 1]) || !digit_ok(s[i + 1])) {
        return false;
      }
      continue;
    }
    out->push_back(s[i]);
  }
  return true;
}

}  // namespace

std::optional<double> ParseFloat(std::string_view text) {
  std::string_view s = StripSpace(text);
  if (s.empty()) return std::nullopt;
  std::string lower = Lower(s);
  std::string_view body = lower;
  bool negative = false;
  if (body[0] == '+' || body[0] == '-') {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body == "inf" || body == "infinity") {
    return negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  }
  if (body == "nan") return std::numeric_limits<double>::quiet_NaN();
  std::string clean;
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!StripUnderscores(body, &clean, is_digit)) return std::nullopt;
  // Validate Python's grammar: digits [. digits] [e [+-] digits], at least one digit.
  std::size_t i = 0, n = clean.size();
  std::size_t int_digits = 0, frac_digits = 0;
  while (i < n && is_digit(clean[i])) ++i, ++int_digits;
  if (i < n && clean[i] == '.') {
    ++i;
    while (i < n && is_digit(clean[i])) ++i, ++frac_digits;
  }
  if (int_digits + frac_digits == 0) return std::nullopt;
  if (i < n && clean[i] == 'e') {
    ++i;
    if (i < n && (clean[i] == '+' || clean[i] == '-')) ++i;
    std::size_t exp_digits = 0;
    while (i < n && is_digit(clean[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return std::nullopt;
  }
  if (i != n) return std::nullopt;
  double v = 0;
  auto r = std::from_chars(clean.data(), clean.data() + n, v);
  if (r.ec == std::errc::result_out_of_range) {
    // Overflow reads as inf, underflow as 0, as in Python.
    bool big = clean.find('e') == std::string::npos || clean[clean.find('e') + 1] != '-';
    v = big ? std::numeric_limits<double>::infinity() : 0.0;
  } else if (r.ec != std::errc()) {
    return std::nullopt;
  }
  return negative ? -v : v;
}

std::optional<long long> ParseInt(std::string_view text, int base) {
  if (base != 0 && (base < 2 || base > 36)) return std::nullopt;
  std::string_view s = StripSpace(text);
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  auto prefix_base = [](std::string_view t) -> int {
    if (t.size() >= 2 && t[0] == '0') {
      char p = static_cast<char>(t[1] | 0x20);
      if (p == 'x') return 16;
      if (p == 'o') return 8;
      if (p == 'b') return 2;
    }
    return 0;
  };
  int pb = prefix_base(s);
  if (base == 0) {
    if (pb) {
      base = pb;
      s.remove_prefix(2);
    } else {
      base = 10;
      // Python: no leading zeros in a base-0 decimal literal, except for zero itself.
      std::size_t k = 0;
      while (k < s.size() && (s[k] == '0' || s[k] == '_')) ++k;
      if (k > 0 && k < s.size()) return std::nullopt;
    }
  } else if (pb == base) {
    s.remove_prefix(2);
  }
  if (!s.empty() && s[0] == '_') s.remove_prefix(1);  // allowed right after a prefix
  auto digit_value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'z') return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
    return 99;
  };
  std::string clean;
  auto ok_digit = [&](char c) { return digit_value(c) < base; };
  if (s.empty() || !StripUnderscores(s, &clean, ok_digit)) return std::nullopt;
  unsigned long long v = 0;
  for (char c : clean) {
    int d = digit_value(c);
    if (d >= base) return std::nullopt;
    if (__builtin_mul_overflow(v, static_cast<unsigned long long>(base), &v) ||
        __builtin_add_overflow(v, static_cast<unsigned long long>(d), &v)) {
      return std::nullopt;
    }
  }
  if (negative) {
    if (v > 9223372036854775808ULL) return std::nullopt;
    return v == 9223372036854775808ULL ? std::numeric_limits<long long>::min()
                                       : -static_cast<long long>(v);
  }
  if (v > 9223372036854775807ULL) return std::nullopt;
  return static_cast<long long>(v);
}

// ---- UTF-8 ----

char32_t DecodeUtf8(std::string_view s, std::size_t& i) {
  auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  int len = 0;
  char32_t cp = 0;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    len = 2;
    cp = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3;
    cp = b0 & 0x0f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    ++i;
    return 0xfffd;
  }
  if (i + static_cast<std::size_t>(len) > s.size()) {
    ++i;
    return 0xfffd;
  }
  for (int k = 1; k < len; ++k) {
    auto b = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
    if ((b & 0xc0) != 0x80) {
      ++i;
      return 0xfffd;
    }
    cp = (cp << 6) | (b & 0x3f);
  }
  bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
  if (overlong || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
    ++i;
    return 0xfffd;
  }
  i += static_cast<std::size_t>(len);
  return cp;
}

void AppendUtf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

std::size_t CodePointCount(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size();) {
    DecodeUtf8(s, i);
    ++n;
  }
  return n;
}

char32_t ToLower(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  locale_t loc = Utf8Locale();
  if (loc == static_cast<locale_t>(nullptr)) return cp;
  return static_cast<char32_t>(towlower_l(static_cast<wint_t>(cp), loc));
}

char32_t ToUpper(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') ? cp - 32 : cp;
  locale_t loc = Utf8Locale();
  if (loc == static_cast<locale_t>(nullptr)) return cp;
  return static_cast<char32_t>(towupper_l(static_cast<wint_t>(cp), loc));
}

std::string Lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      char c = s[i++];
      out.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c);
      continue;
    }
    AppendUtf8(out, ToLower(DecodeUtf8(s, i)));
  }
  return out;
}

std::string Upper(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      char c = s[i++];
      out.push_back((c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c);
      continue;
    }
    AppendUtf8(out, ToUpper(DecodeUtf8(s, i)));
  }
  return out;
}

std::string Capitalize(std::string_view s) {
  std::string r = Lower(s);
  if (r.empty()) return r;
  std::size_t i = 0;
  char32_t first = DecodeUtf8(r, i);
  std::string head;
  AppendUtf8(head, ToUpper(first));
  return head + r.substr(i);
}

bool IsSpace(char32_t cp) {
  if (cp < 0x80) return (cp >= 9 && cp <= 13) || (cp >= 28 && cp <= 32);
  return cp == 0x85 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

bool IsDigit(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  // Starts of common Unicode decimal-digit (Nd) runs of ten.
  static const char32_t kRuns[] = {0x660,  0x6f0,  0x7c0,  0x966,  0x9e6,  0xa66,  0xae6,
                                   0xb66,  0xbe6,  0xc66,  0xce6,  0xd66,  0xde6,  0xe50,
                                   0xed0,  0xf20,  0x1040, 0x1090, 0x17e0, 0x1810, 0x1946,
                                   0x19d0, 0x1a80, 0x1a90, 0x1b50, 0x1bb0, 0x1c40, 0x1c50,
                                   0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xaa50, 0xabf0, 0xff10};
  for (char32_t start : kRuns) {
    if (cp >= start && cp < start + 10) return true;
  }
  return false;
}

bool IsAlnum(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  }
  if (IsDigit(cp)) return true;
  locale_t loc = Utf8Locale();
  return loc != static_cast<locale_t>(nullptr) && iswalnum_l(static_cast<wint_t>(cp), loc) != 0;
}

}  // namespace gale::expr::py

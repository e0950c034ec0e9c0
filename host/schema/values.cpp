#include "host/schema/values.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "host/schema/compiled.h"

namespace gale::schema::detail {

namespace {

bool IsIntegral(double d) {
  return std::isfinite(d) && std::trunc(d) == d;
}

bool IsNegativeInteger(const Json& v) {
  return v.is_number_integer() && !v.is_number_unsigned() && v.get<std::int64_t>() < 0;
}

}  // namespace

std::uint8_t TypeBitsOf(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return kNull;
    case Json::value_t::boolean:
      return kBoolean;
    case Json::value_t::object:
      return kObject;
    case Json::value_t::array:
      return kArray;
    case Json::value_t::string:
      return kString;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return kNumber | kInteger;
    case Json::value_t::number_float:
      return IsIntegral(v.get<double>()) ? (kNumber | kInteger) : kNumber;
    default:
      return 0;  // binary / discarded never come from JSON text
  }
}

std::optional<std::uint8_t> TypeBitFromName(std::string_view name) {
  if (name == "null") return kNull;
  if (name == "boolean") return kBoolean;
  if (name == "object") return kObject;
  if (name == "array") return kArray;
  if (name == "number") return kNumber;
  if (name == "integer") return kInteger;
  if (name == "string") return kString;
  return std::nullopt;
}

std::string TypeNameOf(const Json& v) {
  std::uint8_t bits = TypeBitsOf(v);
  if (bits & kInteger) return "integer";
  if (bits & kNumber) return "number";
  if (bits & kString) return "string";
  if (bits & kObject) return "object";
  if (bits & kArray) return "array";
  if (bits & kBoolean) return "boolean";
  if (bits & kNull) return "null";
  return "unknown";
}

std::string TypeNames(std::uint8_t bits) {
  static constexpr std::pair<std::uint8_t, const char*> kNames[] = {
      {kString, "string"}, {kInteger, "integer"}, {kNumber, "number"}, {kBoolean, "boolean"},
      {kObject, "object"}, {kArray, "array"},     {kNull, "null"},
  };
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if (!(bits & bit)) continue;
    if (!out.empty()) out += " or ";
    out += name;
  }
  return out;
}

int CompareNumbers(const Json& a, const Json& b) {
  if (a.is_number_integer() && b.is_number_integer()) {
    bool a_neg = IsNegativeInteger(a);
    bool b_neg = IsNegativeInteger(b);
    if (a_neg != b_neg) return a_neg ? -1 : 1;
    if (a_neg) {
      auto x = a.get<std::int64_t>(), y = b.get<std::int64_t>();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    auto x = a.get<std::uint64_t>(), y = b.get<std::uint64_t>();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  double x = a.get<double>(), y = b.get<double>();
  return x < y ? -1 : (x > y ? 1 : 0);
}

bool IsMultipleOf(const Json& value, const Json& divisor) {
  if (value.is_number_integer() && divisor.is_number_integer()) {
    // Magnitudes as unsigned so INT64_MIN and large unsigned values stay exact.
    auto magnitude = [](const Json& v) -> std::uint64_t {
      if (IsNegativeInteger(v)) return 0 - static_cast<std::uint64_t>(v.get<std::int64_t>());
      return v.get<std::uint64_t>();
    };
    std::uint64_t d = magnitude(divisor);
    return d != 0 && magnitude(value) % d == 0;
  }
  double x = value.get<double>(), d = divisor.get<double>();
  if (d == 0) return false;
  double q = x / d;
  if (!std::isfinite(q)) return false;
  // Decimal divisors such as 0.0001 are inexact in binary: 0.0075 / 0.0001 = 74.99999999999999.
  // Accept a quotient within rounding error of an integer; the tolerance grows with |q| so it
  // stays a few ulps and never swallows a real fraction.
  double tolerance = std::max(1e-9, std::fabs(q) * std::numeric_limits<double>::epsilon() * 4);
  return std::fabs(q - std::round(q)) <= tolerance;
}

std::optional<std::uint64_t> AsCount(const Json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer()) {
    auto i = v.get<std::int64_t>();
    if (i < 0) return std::nullopt;
    return static_cast<std::uint64_t>(i);
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (!IsIntegral(d) || d < 0 || d >= 18446744073709551616.0) return std::nullopt;
    return static_cast<std::uint64_t>(d);
  }
  return std::nullopt;
}

bool JsonEqual(const Json& a, const Json& b) {
  // nlohmann's operator== already has JSON Schema's rules: numbers compare by value across
  // integer/unsigned/float, other types only equal their own kind, containers deeply.
  return a == b;
}

std::size_t CodePoints(std::string_view utf8) {
  std::size_t n = 0;
  for (unsigned char c : utf8) {
    if ((c & 0xC0) != 0x80) ++n;  // count every byte that is not a continuation byte
  }
  return n;
}

std::string Brief(const Json& v, std::size_t max) {
  std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > max) {
    // Cut on a code point boundary: a message holding half a UTF-8 sequence would make
    // nlohmann throw when the caller serialises it.
    while (max > 0 && (static_cast<unsigned char>(s[max]) & 0xC0) == 0x80) --max;
    s.resize(max);
    s += "...";
  }
  return s;
}

}  // namespace gale::schema::detail

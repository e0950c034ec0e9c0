// JSON value helpers with JSON Schema semantics: types, numeric comparison, equality, lengths.
#pragma once

#include "host/common/json_pointer.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "host/common/json.h"

namespace gale::schema::detail {

// TypeBit set of an instance (see compiled.h).
std::uint8_t TypeBitsOf(const Json& v);
// Bit for a "type" name; nullopt for names JSON Schema does not define.
std::optional<std::uint8_t> TypeBitFromName(std::string_view name);
// "integer", "number", "string", ... for messages.
std::string TypeNameOf(const Json& v);
// "string", "string or null", ... for messages.
std::string TypeNames(std::uint8_t bits);

// -1, 0, 1; exact for two integers, double precision otherwise. Both must be numbers.
int CompareNumbers(const Json& a, const Json& b);
bool IsMultipleOf(const Json& value, const Json& divisor);
// A non-negative integer keyword value (3 or 3.0).
std::optional<std::uint64_t> AsCount(const Json& v);

// JSON Schema equality: 1 == 1.0, no equality across other types, deep for arrays/objects.
bool JsonEqual(const Json& a, const Json& b);

// Unicode code points in valid UTF-8 (what minLength/maxLength count).
std::size_t CodePoints(std::string_view utf8);

// Compact JSON text cut to about `max` bytes, for messages.
std::string Brief(const Json& v, std::size_t max = 80);

// JSON pointer token escaping, shared with the YAML reader.
using ::gale::AppendPointerToken;

}  // namespace gale::schema::detail

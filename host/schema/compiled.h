// The compiled form of a schema: a flat table of nodes that refer to each other by index, so
// $ref cycles (recursive schemas) need no ownership tricks. Internal to host/schema.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "host/common/json.h"
#include "host/schema/regex.h"

namespace gale::schema::detail {

// Bits of the JSON Schema "type" keyword. An instance of 3 or 3.0 carries both kNumber and
// kInteger; 3.5 only kNumber.
enum TypeBit : std::uint8_t {
  kNull = 1,
  kBoolean = 2,
  kObject = 4,
  kArray = 8,
  kNumber = 16,
  kInteger = 32,
  kString = 64,
};

struct PatternNode {
  Regex regex;
  int node = -1;
};

struct Dependency {
  std::string property;
  std::vector<std::string> required;  // array form
  int schema = -1;                    // schema form
};

struct Node {
  enum class Kind : std::uint8_t { kTrue, kFalse, kSchema };
  Kind kind = Kind::kSchema;
  int doc = 0;              // 0 = the schema given to Compile; others come from $ref
  std::string schema_path;  // JSON pointer of this subschema inside its document

  // In draft-04..07 a $ref replaces every sibling keyword.
  int ref = -1;

  std::uint8_t types = 0;  // 0 = no "type" keyword
  std::optional<Json> enum_values;
  std::optional<Json> const_value;

  // Numbers. Draft-04's boolean exclusiveMinimum is folded into minimum_exclusive; draft-07's
  // numeric form is kept separately since both may appear together.
  std::optional<Json> minimum, maximum, exclusive_minimum, exclusive_maximum, multiple_of;
  bool minimum_exclusive = false;
  bool maximum_exclusive = false;

  // Strings (lengths in code points).
  std::optional<std::uint64_t> min_length, max_length;
  std::optional<Regex> pattern;

  // Arrays.
  int items = -1;                // schema form
  std::vector<int> tuple_items;  // array form
  bool has_tuple = false;
  int additional_items = -1;
  int contains = -1;
  std::optional<std::uint64_t> min_items, max_items;
  bool unique_items = false;

  // Objects.
  std::vector<std::pair<std::string, int>> properties;  // sorted by name
  std::vector<PatternNode> pattern_properties;
  int additional_properties = -1;
  int property_names = -1;
  std::vector<std::string> required;
  std::optional<std::uint64_t> min_properties, max_properties;
  std::vector<Dependency> dependencies;

  // Combinators.
  std::vector<int> all_of, any_of, one_of;
  int not_schema = -1, if_schema = -1, then_schema = -1, else_schema = -1;

  std::optional<Json> default_value;  // annotation: ApplyDefaults / CheckDefaults only
};

struct Compiled {
  std::vector<Node> nodes;
  int root = 0;
};

// Guards against stack exhaustion on hostile or accidental deep nesting.
inline constexpr int kMaxSchemaDepth = 200;
inline constexpr int kMaxEvalDepth = 400;

}  // namespace gale::schema::detail

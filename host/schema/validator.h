// JSON Schema validation for pack metadata, trigger payloads and action parameters. Debian has
// no C++ JSON Schema library, so this is the subset Gale uses (draft-04 and draft-07 keywords,
// local and supplied $ref documents). Schemas compile once; validation is then allocation-light.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "host/common/json.h"
#include "host/common/result.h"

namespace gale::schema {

// One reason an instance does not match. `path` is a JSON pointer into the instance ("" = root).
struct Violation {
  std::string path;
  std::string message;  // one line, e.g. "expected type string, got integer"
};

// "<path>: <message>", with "/" shown for the root.
std::string Format(const Violation& v);

namespace detail {
struct Compiled;
}

// Schemas that `$ref` may name by absolute URI (key without fragment, e.g.
// "http://example.com/types.json"). Nothing is fetched from the network; the draft-04 and
// draft-07 meta-schemas are built in.
using DocumentMap = std::map<std::string, Json>;

class Validator {
 public:
  // Fails for a malformed schema (e.g. "type" not a string/array, a bad "pattern" regex, an
  // unresolvable or endlessly looping $ref); the message starts with the schema path.
  static Result<Validator> Compile(const Json& schema);
  static Result<Validator> Compile(const Json& schema, const DocumentMap& documents);

  // Every violation found; empty = valid.
  std::vector<Violation> Validate(const Json& instance) const;
  // Same verdict as Validate().empty(), but stops at the first failure and builds no messages.
  bool IsValid(const Json& instance) const;
  // Returns `instance` with `default` values filled in for absent object properties,
  // recursively through "properties" (following $ref and allOf) and array "items".
  Json ApplyDefaults(const Json& instance) const;

 private:
  friend std::vector<Violation> CheckDefaults(const Json& schema);
  explicit Validator(std::shared_ptr<const detail::Compiled> compiled)
      : compiled_(std::move(compiled)) {}
  // Shared and immutable, so copies are cheap and one Validator may be used from many threads.
  std::shared_ptr<const detail::Compiled> compiled_;
};

// Reports every `default` in `schema` that violates the subschema it sits in; the path points at
// the default (and into it), e.g. "/properties/count/default". A schema that does not compile is
// reported as one violation at "" carrying the compile error.
std::vector<Violation> CheckDefaults(const Json& schema);

}  // namespace gale::schema

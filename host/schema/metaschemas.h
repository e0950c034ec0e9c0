// Built-in schema documents that $ref may name without the caller supplying them.
#pragma once

#include <string>

#include "host/common/json.h"

namespace gale::schema::detail {

// The meta-schema for a URI without fragment ("http://json-schema.org/draft-07/schema"), or
// nullptr if none is built in.
const Json* BuiltinDocument(const std::string& uri);

}  // namespace gale::schema::detail

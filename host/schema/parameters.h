// StackStorm parameter maps -> standard JSON Schema.
#pragma once

#include "host/common/json.h"

namespace gale::schema {

// StackStorm writes action/trigger parameters as {name: {type, description, default,
// required: true|false, secret, immutable, position, enum, ...}}. This returns
// {"type":"object","properties":{...},"required":[names...],"additionalProperties":<arg>} with
// the per-property `required`/`secret`/`immutable`/`position` removed. A boolean `required` on
// nested properties of object parameters is turned into the parent's "required" array as well;
// an array-valued `required` (already JSON Schema) is kept. Non-object input yields a schema with
// no properties.
Json ParametersToSchema(const Json& st2_parameters, bool additional_properties = true);

}  // namespace gale::schema

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
// `default: ~` and `description: ~` are dropped (no default, no description), and a boolean
// `required` on array items is ignored, as StackStorm's Draft-4 validator does.
Json ParametersToSchema(const Json& st2_parameters, bool additional_properties = true);

// Casts each parameter's default the way StackStorm casts a parameter value before it runs
// (st2common.util.casts, applied to defaults as well): for a single `type`, "5" -> 5 for integer
// (and 5.7 -> 5), "1.5" -> 1.5 for number, "true"/"False" -> bool for boolean, JSON text ->
// array/object. A default StackStorm's cast would reject is left as written (the schema check of
// defaults then reports it). Top-level parameters only, as StackStorm's cast.
void CastParameterDefaults(Json& st2_parameters);

}  // namespace gale::schema

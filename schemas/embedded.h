// JSON Schemas kept in schemas/ (pack metadata, bus messages), compiled into the binary.
#pragma once

#include <string_view>

namespace gale::schemas {

// The schema text for `name` (its path under schemas/ without ".json", e.g. "pack/action"),
// or an empty view when there is none.
std::string_view Find(std::string_view name);

}  // namespace gale::schemas

// JSON for pack authors. Values cross the .so boundary as text (see abi.h); these helpers parse
// and print them inside the pack, so a pack never shares a JSON object's layout with the host.
#pragma once

#include <nlohmann/json.hpp>

namespace gale::plugin {
using Json = nlohmann::json;
}  // namespace gale::plugin

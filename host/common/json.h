#pragma once

#include <nlohmann/json.hpp>

namespace gale {
using Json = nlohmann::json;
}

#pragma once

#include <string>
#include <string_view>

namespace gale::packs {

// Runner names Gale implements (StackStorm's names where it has one).
bool IsKnownRunnerType(std::string_view name);
std::string KnownRunnerTypes();  // "http-request, local-shell-cmd, ..." for error messages

}  // namespace gale::packs

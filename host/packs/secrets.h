// Parameters marked `secret: true` in an action's metadata (StackStorm's name and behaviour): their
// values are replaced with a mask wherever an execution is stored, listed or logged. The real
// values travel only in the execution request on the bus, to the runner that needs them.
#pragma once

#include <set>
#include <string>

#include "host/common/json.h"

namespace gale::packs {

inline constexpr const char* kSecretMask = "********";  // StackStorm's MASKED_ATTRIBUTE_VALUE

// Names of the parameters of a StackStorm parameter map that are marked `secret: true`.
std::set<std::string> SecretParameters(const Json& declared);

// `params` with the value of every parameter in `secrets` that is present replaced by kSecretMask.
Json MaskSecrets(const Json& params, const std::set<std::string>& secrets);

}  // namespace gale::packs

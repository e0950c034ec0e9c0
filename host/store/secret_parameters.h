// Secret parameters of an execution (an action parameter with `secret: true`) kept in its record
// sealed with the datastore cipher, bound to the execution and the parameter's name: the record
// shows them masked, the runner opens them, and no bus message ever carries them.
#pragma once

#include <set>
#include <string>

#include "host/common/json.h"
#include "host/common/result.h"
#include "host/store/key_cipher.h"
#include "host/store/store.h"

namespace gale::store {

inline constexpr const char* kMaskedValue = "********";  // StackStorm's MASKED_ATTRIBUTE_VALUE

// Moves the parameters of `secrets` found in `params` into e->secret_parameters (each value's
// JSON text sealed for e->id and its name) and sets e->parameters to `params` with them masked.
// `cipher` may be null only when no secret parameter is present; otherwise that is an error
// (the value cannot be kept, so the execution cannot run).
Status SealSecretParameters(const KeyCipher* cipher, const std::set<std::string>& secrets,
                            const Json& params, Execution* e);

// e.parameters with every secret parameter opened: what the runner runs. An error names the
// parameter (never its value) when one does not open.
Result<Json> OpenSecretParameters(const KeyCipher* cipher, const Execution& e);

}  // namespace gale::store

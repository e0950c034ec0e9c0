// Resolving the user a helper process drops to (in the parent: NSS cannot run in a forked child).
#pragma once

#include <string>

#include "host/common/result.h"
#include "host/common/subprocess.h"

namespace gale {

// `user` is a name or a numeric uid; the group is the user's primary group (from the passwd
// database either way). Errors: "unknown user 'x'".
Result<Credentials> ResolveUser(const std::string& user);

}  // namespace gale

#pragma once

#include <string>

#include "host/packs/metadata.h"

namespace gale::packs {

// Reads and validates one pack directory's YAML (no library is loaded here). Problems go to
// Pack::errors as "file:line: message" lines; reading never stops at the first one.
Pack ReadPackMetadata(const std::string& dir);

}  // namespace gale::packs

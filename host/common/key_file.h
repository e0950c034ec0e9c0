// A 256-bit key kept in a file only its owner can read (64 hex digits and a newline): the
// datastore key and the bus signing key. Created on first use with a fresh random key.
#pragma once

#include <array>
#include <string>

#include "host/common/result.h"

namespace gale {

using Key256 = std::array<unsigned char, 32>;

// Reads the key from `path`, or creates the file (mode 0600, its directory 0700) with a fresh
// random key when it does not exist; nodes starting together all end up with the one key that
// was linked first. Refuses a symbolic link, a file another uid owns, and a file others can read:
// whoever can replace or read the key can forge or read what it protects. `what` names the key
// in errors ("the datastore key") and `setting` the gale.yaml key that points at it.
Result<Key256> LoadOrCreateKeyFile(const std::string& path, const std::string& what,
                                   const std::string& setting);

}  // namespace gale

#pragma once

#include <string>

#include "host/packs/metadata.h"

namespace gale::packs {

struct ReadOptions {
  // Where StackStorm-style pack configs live (<configs_dir>/<pack ref>.yaml; gale.yaml's
  // packs.configs_path). Such a file is the pack's config, in place of the pack's config.yaml.
  std::string configs_dir;
};

// Reads and validates one pack directory's YAML (no library is loaded here). Problems of the
// pack itself go to Pack::errors, a broken resource file to Pack::refused, as "file:line:
// message" lines; reading never stops at the first one.
Pack ReadPackMetadata(const std::string& dir, const ReadOptions& options = {});

}  // namespace gale::packs

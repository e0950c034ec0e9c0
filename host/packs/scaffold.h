#pragma once

#include <string>

#include "host/common/result.h"

namespace gale::packs {

struct ScaffoldOptions {
  std::string name;            // the pack ref: [a-z0-9_]+
  std::string parent;          // the pack is created at <parent>/<name>
  std::string gale_cmake_dir;  // where find_package(Gale) looks first ("" = nowhere special)
};

// Writes a pack that builds and loads with no edits: pack.yaml, config.yaml, a polling sensor
// with its trigger type, a native action, a rule joining them, CMakeLists.txt, src/pack.cpp and
// a README. Refuses an existing directory. Returns the pack directory.
Result<std::string> ScaffoldPack(const ScaffoldOptions& options);

}  // namespace gale::packs

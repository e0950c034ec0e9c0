#pragma once

#include <CLI/CLI.hpp>

namespace gale::cli {

// `gale pack list|init`.
void AddPackCommands(CLI::App& app);

}  // namespace gale::cli

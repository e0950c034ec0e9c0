// `gale topics list|groups|tail`: the bus itself (embedded or a real cluster), read directly
// without joining any consumer group.
#pragma once

#include <CLI/CLI.hpp>

namespace gale::cli {

void AddTopicsCommands(CLI::App& app);

}  // namespace gale::cli

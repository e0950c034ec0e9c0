#pragma once

#include <CLI/CLI.hpp>

namespace gale::cli {

// `gale up` and the node's internal subprocess `gale sensor-host`.
void AddNodeCommands(CLI::App& app);

}  // namespace gale::cli

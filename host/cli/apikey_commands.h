// `gale apikey create|list|delete`: API keys, written straight to the node's store (an admin
// acts on the node's machine, so a key is never needed to make the first key).
#pragma once

#include <CLI/CLI.hpp>

namespace gale::cli {

void AddApiKeyCommands(CLI::App& app);

}  // namespace gale::cli

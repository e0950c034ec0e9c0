#pragma once

#include <CLI/CLI.hpp>
#include <memory>

#include "host/cli/api_client.h"

namespace gale::cli {

// `gale pack list|validate|init` (local) and `gale pack reload` (through the API).
void AddPackCommands(CLI::App& app, std::shared_ptr<ApiFlags> api);

}  // namespace gale::cli

// `gale rule list|enable|disable`, `gale trigger fire`, `gale node list`, `gale pack reload`:
// the node's catalog and state, through the API.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

#include "host/cli/api_client.h"

namespace gale::cli {

void AddRuleCommands(CLI::App& app, std::shared_ptr<ApiFlags> api);

}  // namespace gale::cli

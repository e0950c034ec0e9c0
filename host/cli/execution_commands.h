// `gale run` and `gale execution list|get|tail|cancel|rerun`, through the API.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

#include "host/cli/api_client.h"

namespace gale::cli {

void AddExecutionCommands(CLI::App& app, std::shared_ptr<ApiFlags> api);

}  // namespace gale::cli

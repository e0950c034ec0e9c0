// `gale key set|get|list|delete`: the datastore, through the API.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

#include "host/cli/api_client.h"

namespace gale::cli {

void AddKeyCommands(CLI::App& app, std::shared_ptr<ApiFlags> api);

}  // namespace gale::cli

// `gale policy list`: the policies in force on the node (StackStorm's `st2 policy list`), through
// the API.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

#include "host/cli/api_client.h"

namespace gale::cli {

void AddPolicyCommands(CLI::App& app, std::shared_ptr<ApiFlags> api);

}  // namespace gale::cli

// `gale up`: one node. Opens the store, starts the embedded bus when no brokers are configured,
// keeps private copies of the packs, supervises one sensor host per pack, and reloads packs when
// their files change. Later roles (rules, runner, api) hang off the same node.
#pragma once

#include <string>

#include "host/config/config.h"

namespace gale::node {

// Runs until SIGTERM or SIGINT; returns the process exit code. Startup errors are one line on
// stderr and a non-zero code.
int RunNode(const config::Config& config, const std::string& gale_binary);

}  // namespace gale::node

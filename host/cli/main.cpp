// gale: one binary for the node (`gale up`), its subprocesses and every CLI verb.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "host/cli/apikey_commands.h"
#include "host/cli/execution_commands.h"
#include "host/cli/key_commands.h"
#include "host/cli/node_commands.h"
#include "host/cli/pack_commands.h"
#include "host/cli/policy_commands.h"
#include "host/cli/rule_commands.h"
#include "host/cli/topics_commands.h"

int main(int argc, char** argv) {
  // Logs go to stderr: stdout is for what commands print (--json output, `gale exec` results).
  spdlog::set_default_logger(spdlog::stderr_color_mt("gale"));
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
  CLI::App app{
      "Gale: event-driven automation. Sensors fire triggers, rules request actions, "
      "runners execute them in sandboxed subprocesses."};
  app.name("gale");
  app.require_subcommand(1);
  app.set_version_flag("--version", "gale 0.1.0");
  // Where the API verbs find the node; accepted before or after the verb.
  auto api = std::make_shared<gale::cli::ApiFlags>();
  app.add_option("--api", api->url,
                 "Gale API URL (default: $GALE_API_URL, else $GALE_HOME/api.addr, else "
                 "http://127.0.0.1:9101)");
  app.add_option("--api-key", api->key, "API key (default: $GALE_API_KEY)");
  app.fallthrough();
  gale::cli::AddNodeCommands(app);
  gale::cli::AddPackCommands(app, api);
  gale::cli::AddExecutionCommands(app, api);
  gale::cli::AddKeyCommands(app, api);
  gale::cli::AddRuleCommands(app, api);
  gale::cli::AddPolicyCommands(app, api);
  gale::cli::AddApiKeyCommands(app);
  gale::cli::AddTopicsCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "gale: " << e.what() << '\n';
    return 1;
  }
  return 0;
}

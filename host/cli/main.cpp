// gale: one binary for the node (`gale up`), its subprocesses and every CLI verb.
#include <CLI/CLI.hpp>
#include <iostream>

#include "host/cli/node_commands.h"
#include "host/cli/pack_commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "Gale: event-driven automation. Sensors fire triggers, rules request actions, "
      "runners execute them in sandboxed subprocesses."};
  app.name("gale");
  app.require_subcommand(1);
  app.set_version_flag("--version", "gale 0.1.0");
  gale::cli::AddNodeCommands(app);
  gale::cli::AddPackCommands(app);
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

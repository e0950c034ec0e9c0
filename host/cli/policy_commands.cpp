#include "host/cli/policy_commands.h"

#include <iostream>

#include "host/cli/output.h"

namespace gale::cli {
namespace {

// "threshold=2, action=delay": a policy's parameters on one line, in their JSON order.
std::string Parameters(const Json& parameters) {
  if (!parameters.is_object()) return "-";
  std::string out;
  for (const auto& [name, value] : parameters.items()) {
    out += (out.empty() ? "" : ", ") + name + "=" +
           (value.is_string() ? value.get<std::string>() : value.dump());
  }
  return out.empty() ? "-" : out;
}

}  // namespace

void AddPolicyCommands(CLI::App& app, std::shared_ptr<ApiFlags> flags) {
  auto json = std::make_shared<bool>(false);
  auto* policy = app.add_subcommand("policy", "List the policies in force (concurrency, retry)");
  policy->require_subcommand(1);
  auto* list = policy->add_subcommand("list", "Every policy of the active packs");
  list->add_flag("--json", *json, "Print JSON");
  list->callback([flags, json] {
    ApiClient api(*flags);
    Json all = Expect("policy list", api.Call("GET", "/v1/policies"));
    if (*json) {
      std::cout << all.dump(2) << '\n';
      return;
    }
    Table table({"REF", "ENABLED", "TYPE", "RESOURCE", "PARAMETERS"});
    for (const auto& p : all) {
      const bool enabled = p.value("enabled", false);
      table.AddRow({p.value("ref", ""), enabled ? Green("yes") : Red("no"),
                    p.value("policy_type", ""), p.value("resource_ref", ""),
                    Parameters(p.value("parameters", Json::object()))});
    }
    table.Print(std::cout);
  });
}

}  // namespace gale::cli

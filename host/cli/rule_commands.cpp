#include "host/cli/rule_commands.h"

#include <iostream>

#include "host/api/http.h"
#include "host/cli/output.h"

namespace gale::cli {

void AddRuleCommands(CLI::App& app, std::shared_ptr<ApiFlags> flags) {
  auto ref = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);

  auto* rule = app.add_subcommand("rule", "List, enable and disable rules");
  rule->require_subcommand(1);
  auto* list = rule->add_subcommand("list", "Every rule of the active packs");
  list->add_flag("--json", *json, "Print JSON");
  list->callback([flags, json] {
    ApiClient api(*flags);
    Json all = Expect("rule list", api.Call("GET", "/v1/rules"));
    if (*json) {
      std::cout << all.dump(2) << '\n';
      return;
    }
    Table table({"REF", "ENABLED", "TRIGGER", "ACTION"});
    for (const auto& r : all) {
      const bool enabled = r.value("enabled", false);
      table.AddRow({r.value("ref", ""), enabled ? Green("yes") : Red("no"),
                    r["trigger"].value("type", ""), r["action"].value("ref", "")});
    }
    table.Print(std::cout);
  });
  for (const bool enable : {true, false}) {
    const std::string verb = enable ? "enable" : "disable";
    auto* cmd = rule->add_subcommand(
        verb, (enable ? "Enable" : "Disable") + std::string(" a rule on every node"));
    cmd->add_option("REF", *ref, "PACK.RULE")->required();
    cmd->callback([flags, ref, enable, verb] {
      ApiClient api(*flags);
      Json body = {{"enabled", enable}};
      Expect("rule " + verb, api.Call("PUT", "/v1/rules/" + api::UrlEncode(*ref), &body));
      std::cout << "rule " << *ref << " " << verb << "d\n";
    });
  }

  auto payload = std::make_shared<std::string>("{}");
  auto* trigger = app.add_subcommand("trigger", "Fire triggers by hand");
  trigger->require_subcommand(1);
  auto* fire = trigger->add_subcommand(
      "fire", "Fire a trigger type with a payload (checked against its schema)");
  fire->add_option("TRIGGER", *ref, "Trigger type ref, e.g. core.st2.webhook")->required();
  fire->add_option("--payload", *payload, "Payload JSON object (default {})");
  fire->add_flag("--json", *json, "Print the trigger instance as JSON");
  fire->callback([flags, ref, payload, json] {
    Json p = Json::parse(*payload, nullptr, false);
    if (!p.is_object()) Fail("trigger fire", "--payload must be a JSON object");
    ApiClient api(*flags);
    Json body = {{"trigger", *ref}, {"payload", p}};
    Json fired = Expect("trigger fire", api.Call("POST", "/v1/webhooks/st2", &body));
    if (*json) {
      std::cout << fired.dump(2) << '\n';
    } else {
      std::cout << "trigger instance " << fired.value("id", "") << " fired\n";
    }
  });

  auto* node = app.add_subcommand("node", "The nodes of this deployment");
  node->require_subcommand(1);
  auto* nodes =
      node->add_subcommand("list", "Nodes: roles, when they were last seen, the sensors they run");
  nodes->add_flag("--json", *json, "Print JSON");
  nodes->callback([flags, json] {
    ApiClient api(*flags);
    Json all = Expect("node list", api.Call("GET", "/v1/nodes"));
    if (*json) {
      std::cout << all.dump(2) << '\n';
      return;
    }
    Table table({"NAME", "ROLES", "ALIVE", "LAST SEEN (ms ago)", "SENSORS"});
    auto joined = [](const Json& list) {
      std::string out;
      for (const auto& item : list.is_array() ? list : Json::array()) {
        if (item.is_string()) out += (out.empty() ? "" : ",") + item.get<std::string>();
      }
      return out;
    };
    for (const auto& n : all) {
      const Json info = n.value("info", Json::object());
      std::string sensors = joined(info.value("sensors", Json::array()));
      if (info.contains("partition_provider")) {
        sensors = (sensors.empty() ? "-" : sensors) + " (" +
                  info["partition_provider"].get<std::string>() + ")";
      }
      table.AddRow({n.value("name", ""), joined(n.value("roles", Json::array())),
                    n.value("alive", false) ? Green("yes") : Red("no"),
                    std::to_string(n.value("last_seen_ms_ago", int64_t{0})), sensors});
    }
    table.Print(std::cout);
  });
}

}  // namespace gale::cli

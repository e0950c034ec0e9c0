#include "host/cli/pack_commands.h"

#include <iostream>

#include "host/cli/output.h"
#include "host/cli/paths.h"
#include "host/common/json.h"
#include "host/packs/catalog.h"
#include "host/packs/scaffold.h"

namespace gale::cli {
namespace {

Json PackToJson(const packs::Pack& p) {
  Json sensors = Json::array(), triggers = Json::array(), actions = Json::array(),
       rules = Json::array();
  for (const auto& s : p.sensors) {
    sensors.push_back({{"ref", s.ref},
                       {"class_name", s.class_name},
                       {"poll_interval", s.poll_interval},
                       {"enabled", s.enabled},
                       {"trigger_types", s.trigger_types}});
  }
  for (const auto& t : p.trigger_types) {
    triggers.push_back({{"ref", t.ref}, {"payload_schema", t.payload_schema}});
  }
  for (const auto& a : p.actions) {
    actions.push_back({{"ref", a.ref},
                       {"runner_type", a.runner_type},
                       {"entry_point", a.entry_point},
                       {"enabled", a.enabled}});
  }
  for (const auto& r : p.rules) {
    rules.push_back({{"ref", r.ref},
                     {"trigger", r.trigger_type},
                     {"action", r.action_ref},
                     {"enabled", r.enabled}});
  }
  Json out = {{"ref", p.ref},
              {"name", p.name},
              {"version", p.version},
              {"description", p.description},
              {"author", p.author},
              {"dir", p.dir},
              {"status", p.ok() ? "loaded" : "invalid"},
              {"sensors", sensors},
              {"trigger_types", triggers},
              {"actions", actions},
              {"rules", rules},
              {"errors", p.errors}};
  if (p.library) {
    out["library"] = {{"path", p.library->path}, {"abi_version", p.library->abi_version}};
  }
  return out;
}

template <class T>
std::string Refs(const std::vector<T>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i.ref;
  return out.empty() ? "-" : out;
}

int ListPacks(const std::vector<std::string>& paths, bool json) {
  auto catalog = packs::Catalog::Load(paths);
  if (json) {
    Json out = {{"packs", Json::array()}, {"errors", catalog.errors()}};
    for (const auto& p : catalog.packs()) out["packs"].push_back(PackToJson(p));
    std::cout << out.dump(2) << '\n';
    return 0;
  }
  Table table({"PACK", "VERSION", "STATUS", "SENSORS", "TRIGGER TYPES", "ACTIONS", "RULES"});
  for (const auto& p : catalog.packs()) {
    table.AddRow({p.ref, p.version, p.ok() ? Green("loaded") : Red("invalid"), Refs(p.sensors),
                  Refs(p.trigger_types), Refs(p.actions), Refs(p.rules)});
  }
  table.Print(std::cout);
  for (const auto& e : catalog.errors()) std::cout << Red("error: ") << e << '\n';
  for (const auto& p : catalog.packs()) {
    for (const auto& e : p.errors) std::cout << Red("error: ") << e << '\n';
  }
  if (catalog.packs().empty()) {
    std::cout << "no packs found in";
    for (const auto& path : paths) std::cout << ' ' << path;
    std::cout << '\n';
  }
  return 0;
}

}  // namespace

void AddPackCommands(CLI::App& app) {
  auto* pack = app.add_subcommand("pack", "List, scaffold and reload packs");
  pack->require_subcommand(1);

  auto* list = pack->add_subcommand("list", "Show each pack, its contents and its load errors");
  auto paths = std::make_shared<std::vector<std::string>>();
  auto json = std::make_shared<bool>(false);
  list->add_option(
      "--packs", *paths,
      "Directory holding pack directories (repeatable; default: " + DefaultPacksDir() + ")");
  list->add_flag("--json", *json, "Print JSON");
  list->callback([paths, json] {
    if (paths->empty()) paths->push_back(DefaultPacksDir());
    throw CLI::RuntimeError(ListPacks(*paths, *json));
  });

  auto* init = pack->add_subcommand(
      "init", "Scaffold a pack (sensor, trigger type, native action, rule, CMakeLists.txt)");
  auto name = std::make_shared<std::string>();
  auto dir = std::make_shared<std::string>(".");
  init->add_option("NAME", *name, "Pack name: lower-case letters, digits, underscores")->required();
  init->add_option("--dir", *dir, "Create the pack in DIR/NAME (default: current directory)");
  init->callback([name, dir] {
    auto created = packs::ScaffoldPack({*name, *dir, GaleCMakeDir()});
    if (!created.ok()) {
      std::cerr << "gale pack init: " << created.message() << '\n';
      throw CLI::RuntimeError(1);
    }
    std::cout << "created pack " << *name << " in " << *created << "\n"
              << "build it:  cmake -S " << *created << " -B " << *created
              << "/build -G Ninja && cmake --build " << *created << "/build\n"
              << "check it:  gale pack list --packs " << *created << "/build/packs\n";
  });
}

}  // namespace gale::cli

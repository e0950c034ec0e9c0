#include "host/cli/pack_commands.h"

#include <filesystem>
#include <iostream>
#include <map>

#include "host/cli/api_client.h"
#include "host/cli/output.h"
#include "host/cli/paths.h"
#include "host/common/json.h"
#include "host/config/config.h"
#include "host/packs/catalog.h"
#include "host/packs/scaffold.h"
#include "host/store/open.h"

namespace gale::cli {
namespace {

// A resource's file as the validate output names it: relative to the pack directory (a node
// matches a refused file with the previous version's resource by it), else as read.
std::string PackFile(const packs::Pack& p, const std::string& file) {
  const std::filesystem::path rel =
      std::filesystem::path(file).lexically_relative(std::filesystem::path(p.dir));
  return rel.empty() || *rel.begin() == ".." ? file : rel.string();
}

// With `strict` (pack authors' CI), every refused resource is an error of the pack.
std::vector<std::string> Errors(const packs::Pack& p, bool strict) {
  std::vector<std::string> errors = p.errors;
  if (strict) {
    for (const auto& r : p.refused) errors.insert(errors.end(), r.errors.begin(), r.errors.end());
  }
  return errors;
}

Json PackToJson(const packs::Pack& p, bool strict = false) {
  Json sensors = Json::array(), triggers = Json::array(), actions = Json::array(),
       rules = Json::array(), policies = Json::array();
  for (const auto& s : p.sensors) {
    sensors.push_back({{"ref", s.ref},
                       {"class_name", s.class_name},
                       {"poll_interval", s.poll_interval},
                       {"runtime", s.python ? "python" : "native"},
                       {"enabled", s.enabled},
                       {"trigger_types", s.trigger_types},
                       {"file", PackFile(p, s.origin.file)}});
  }
  for (const auto& t : p.trigger_types) {
    triggers.push_back({{"ref", t.ref}, {"payload_schema", t.payload_schema}});
  }
  for (const auto& a : p.actions) {
    actions.push_back({{"ref", a.ref},
                       {"runner_type", a.runner_type},
                       {"entry_point", a.entry_point},
                       {"enabled", a.enabled},
                       {"file", PackFile(p, a.origin.file)}});
  }
  for (const auto& r : p.rules) {
    rules.push_back({{"ref", r.ref},
                     {"trigger", r.trigger_type},
                     {"trigger_parameters", r.trigger_parameters},
                     {"action", r.action_ref},
                     {"enabled", r.enabled},
                     {"file", PackFile(p, r.origin.file)}});
  }
  for (const auto& r : p.policies) {
    policies.push_back({{"ref", r.ref},
                        {"policy_type", r.policy_type},
                        {"resource_ref", r.resource_ref},
                        {"parameters", r.parameters},
                        {"enabled", r.enabled},
                        {"file", PackFile(p, r.origin.file)}});
  }
  Json refused = Json::array();
  for (const auto& r : p.refused) {
    refused.push_back(
        {{"kind", r.kind}, {"ref", r.ref}, {"file", PackFile(p, r.file)}, {"errors", r.errors}});
  }
  const std::vector<std::string> errors = Errors(p, strict);
  Json out = {{"ref", p.ref},
              {"name", p.name},
              {"version", p.version},
              {"description", p.description},
              {"author", p.author},
              {"dir", p.dir},
              {"status", errors.empty() ? "loaded" : "invalid"},
              {"sensors", sensors},
              {"trigger_types", triggers},
              {"actions", actions},
              {"rules", rules},
              {"policies", policies},
              {"refused", refused},
              {"notes", p.notes},
              {"errors", errors}};
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

// Sensor states recorded by the node(s) in the store, when one is configured and exists.
std::map<std::string, store::SensorStatus> SensorStates(const config::Overrides& overrides) {
  std::map<std::string, store::SensorStatus> states;
  auto config = config::Load(overrides);
  if (!config.ok()) return states;
  const std::string& url = config->store_url;
  if (url.rfind("sqlite://", 0) == 0 && !std::filesystem::exists(url.substr(9))) return states;
  store::StoreOptions options;
  options.server_timeout = std::chrono::seconds(2);
  auto store = store::OpenStore(url, options);
  if (!store.ok()) return states;
  auto all = (*store)->ListSensorStatus("");
  if (!all.ok()) return states;
  for (auto& s : *all) states[s.ref] = s;
  return states;
}

// A pack's sensors' state: "failed" if any failed, else the most common state; "-" if none.
std::string PackState(const packs::Pack& p,
                      const std::map<std::string, store::SensorStatus>& states) {
  std::string state = "-";
  for (const auto& s : p.sensors) {
    auto it = states.find(s.ref);
    if (it == states.end()) continue;
    if (it->second.state == "failed") return "failed";
    state = it->second.state;
  }
  return state;
}

// One line per refused resource and its errors, then the notes.
void PrintRefused(const packs::Pack& p) {
  for (const auto& r : p.refused) {
    std::cout << "refused: " << r.kind << ' ' << (r.ref.empty() ? r.file : r.ref)
              << " (the pack loads without it)\n";
    for (const auto& e : r.errors) std::cout << "  " << e << '\n';
  }
  for (const auto& n : p.notes) std::cout << "note: " << n << '\n';
}

int ListPacks(const std::vector<std::string>& paths, const std::string& configs_dir, bool json,
              const config::Overrides& overrides) {
  auto catalog = packs::Catalog::Load(paths, {.configs_dir = configs_dir});
  auto states = SensorStates(overrides);
  if (json) {
    Json out = {{"packs", Json::array()}, {"errors", catalog.errors()}};
    for (const auto& p : catalog.packs()) {
      Json pj = PackToJson(p);
      pj["state"] = PackState(p, states);
      for (auto& s : pj["sensors"]) {
        auto it = states.find(s["ref"]);
        if (it == states.end()) continue;
        s["state"] = {{"state", it->second.state},
                      {"node", it->second.node},
                      {"restarts", it->second.restarts},
                      {"last_error", it->second.last_error}};
      }
      out["packs"].push_back(pj);
    }
    std::cout << out.dump(2) << '\n';
    return 0;
  }
  Table table(
      {"PACK", "VERSION", "STATUS", "STATE", "SENSORS", "TRIGGER TYPES", "ACTIONS", "RULES"});
  for (const auto& p : catalog.packs()) {
    const std::string state = PackState(p, states);
    table.AddRow({p.ref, p.version, p.ok() ? Green("loaded") : Red("invalid"),
                  state == "failed" ? Red(state) : state, Refs(p.sensors), Refs(p.trigger_types),
                  Refs(p.actions), Refs(p.rules)});
  }
  table.Print(std::cout);
  for (const auto& e : catalog.errors()) std::cout << Red("error: ") << e << '\n';
  for (const auto& p : catalog.packs()) {
    for (const auto& e : p.errors) std::cout << Red("error: ") << e << '\n';
    PrintRefused(p);
  }
  if (catalog.packs().empty()) {
    std::cout << "no packs found in";
    for (const auto& path : paths) std::cout << ' ' << path;
    std::cout << '\n';
  }
  return 0;
}

}  // namespace

void AddPackCommands(CLI::App& app, std::shared_ptr<ApiFlags> api_flags) {
  auto* pack = app.add_subcommand("pack", "List, scaffold and reload packs");
  pack->require_subcommand(1);

  auto* list = pack->add_subcommand("list", "Show each pack, its contents and its load errors");
  auto paths = std::make_shared<std::vector<std::string>>();
  auto json = std::make_shared<bool>(false);
  auto overrides = std::make_shared<config::Overrides>();
  list->add_option("--home", overrides->home,
                   "GALE_HOME whose store holds the sensors' states (default: $GALE_HOME)");
  list->add_option("--config", overrides->config_file, "gale.yaml naming the store and packs");
  list->add_option("--packs", *paths,
                   "Directory holding pack directories (repeatable; default: packs.paths, else " +
                       DefaultPacksDir() + ")");
  list->add_flag("--json", *json, "Print JSON");
  list->callback([paths, json, overrides] {
    // --packs, else the configured packs.paths, else the packs shipped beside the binary.
    overrides->packs_paths = *paths;
    overrides->default_packs_dir = DefaultPacksDir();
    auto config = config::Load(*overrides);
    if (!config.ok()) {
      std::cerr << "gale pack list: " << config.message() << '\n';
      throw CLI::RuntimeError(2);
    }
    throw CLI::RuntimeError(
        ListPacks(config->packs_paths, config->packs_configs_path, *json, *overrides));
  });

  auto* validate = pack->add_subcommand(
      "validate", "Check pack directories (metadata, library, rules); exit 1 when one is invalid");
  auto vdirs = std::make_shared<std::vector<std::string>>();
  auto vcontext = std::make_shared<std::vector<std::string>>();
  auto vjson = std::make_shared<bool>(false);
  auto vstrict = std::make_shared<bool>(false);
  auto vconfigs = std::make_shared<std::string>();
  validate->add_option("DIR", *vdirs, "The pack directory (several: JSON {\"packs\": [...]})")
      ->required();
  validate->add_option("--packs", *vcontext,
                       "Packs paths whose packs the rules may refer to (repeatable; without it, "
                       "only the pack's references into itself are checked)");
  validate->add_option("--configs", *vconfigs,
                       "Directory of pack configs (<ref>.yaml wins over the pack's config.yaml)");
  validate->add_flag("--json", *vjson, "Print JSON");
  validate->add_flag("--strict", *vstrict,
                     "Refuse the whole pack on any error, a broken resource file included (for "
                     "pack authors' CI)");
  validate->callback([vdirs, vcontext, vjson, vstrict, vconfigs] {
    bool all_valid = true;
    Json described = Json::array();
    for (const auto& dir : *vdirs) {
      auto catalog = packs::Catalog::LoadOne(dir, *vcontext, {.configs_dir = *vconfigs});
      const packs::Pack& p = catalog.packs().front();
      const std::vector<std::string> errors = Errors(p, *vstrict);
      all_valid = all_valid && errors.empty();
      if (*vjson) {
        described.push_back(PackToJson(p, *vstrict));
      } else if (errors.empty()) {
        std::cout << "pack " << p.ref << " " << p.version << ": " << Green("valid")
                  << (p.refused.empty() ? ""
                                        : " (without " + std::to_string(p.refused.size()) +
                                              " refused resource(s))")
                  << '\n';
        PrintRefused(p);
      } else {
        for (const auto& e : errors) std::cout << Red("error: ") << e << '\n';
        if (!*vstrict) PrintRefused(p);
      }
    }
    if (*vjson) {
      std::cout << (described.size() == 1 ? described[0] : Json{{"packs", described}}).dump(2)
                << '\n';
    }
    throw CLI::RuntimeError(all_valid ? 0 : 1);
  });

  auto* reload = pack->add_subcommand(
      "reload", "Make the running node rescan its packs directories now (through the API)");
  reload->callback([api_flags] {
    ApiClient api(*api_flags);
    Json r = Expect("pack reload", api.Call("POST", "/v1/packs/reload"));
    std::cout << "packs reloaded: " << r.value("active_packs", 0) << " active\n";
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

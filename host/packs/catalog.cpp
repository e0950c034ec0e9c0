#include "host/packs/catalog.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "host/packs/core_triggers.h"
#include "host/packs/library.h"
#include "host/packs/metadata_reader.h"
#include "host/packs/runner_types.h"

namespace gale::packs {
namespace fs = std::filesystem;
namespace {

std::string Names(const std::vector<std::string>& names) {
  if (names.empty()) return "nothing";
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string At(const Origin& o) {
  return o.line > 0 ? o.file + ":" + std::to_string(o.line) : o.file;
}

// Whether the action's entry_point is a symbol of the pack's library (native actions).
bool RunsLibraryExport(const ActionMeta& a) {
  const RunnerType* runner = FindRunnerType(a.runner_type);
  return runner && runner->entry_point == EntryPoint::kLibraryExport;
}

bool IsNativeSensor(const SensorMeta& s) {
  return !s.python;
}

// Python sensors (entry_point x.py) need no library; native ones and native actions do.
bool NeedsLibrary(const Pack& pack) {
  return std::any_of(pack.sensors.begin(), pack.sensors.end(), IsNativeSensor) ||
         std::any_of(pack.actions.begin(), pack.actions.end(), RunsLibraryExport);
}

// Opens the pack's library and checks that it exports every sensor class and native action the
// metadata names.
void InspectLibrary(Pack& pack) {
  const std::string path = pack.LibraryPath();
  if (!fs::exists(path)) {
    pack.errors.push_back(path +
                          ": missing: the pack declares sensors or native actions but has "
                          "no library (build it with gale_add_pack)");
    return;
  }
  auto lib = PackLibrary::Load(path);
  if (!lib.ok()) {
    pack.errors.push_back(lib.message());
    return;
  }
  pack.library = (*lib)->info();
  const LibraryInfo& info = *pack.library;
  const std::string so = fs::path(path).filename().string();
  for (const auto& s : pack.sensors) {
    if (s.python) continue;
    if (std::find(info.sensor_classes.begin(), info.sensor_classes.end(), s.class_name) ==
        info.sensor_classes.end()) {
      pack.errors.push_back(At(s.origin) + ": class_name '" + s.class_name +
                            "' is not exported by " + so + " (it exports " +
                            Names(info.sensor_classes) + ")");
    }
  }
  for (const auto& a : pack.actions) {
    if (!RunsLibraryExport(a) || a.entry_point.empty()) continue;
    if (std::find(info.actions.begin(), info.actions.end(), a.entry_point) == info.actions.end()) {
      pack.errors.push_back(At(a.origin) + ": entry_point '" + a.entry_point +
                            "' is not exported by " + so + " (it exports " + Names(info.actions) +
                            ")");
    }
  }
}

}  // namespace

Catalog Catalog::Load(const std::vector<std::string>& packs_paths, const CatalogOptions& options) {
  Catalog catalog;
  catalog.Read(packs_paths, options, {});
  catalog.CheckChains();
  catalog.CheckRules();
  catalog.CheckPolicies();
  return catalog;
}

void Catalog::Read(const std::vector<std::string>& packs_paths, const CatalogOptions& options,
                   const std::set<std::string>& skip) {
  Catalog& catalog = *this;
  std::set<std::string> seen;
  for (const auto& root : packs_paths) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
      catalog.errors_.push_back(root + ": packs path is not a directory");
      continue;
    }
    std::vector<fs::path> dirs;
    for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_directory() && fs::exists(it->path() / "pack.yaml")) dirs.push_back(it->path());
    }
    std::sort(dirs.begin(), dirs.end());
    for (const auto& dir : dirs) {
      Pack pack = ReadPackMetadata(dir.string(), {.configs_dir = options.configs_dir});
      if (skip.contains(pack.ref)) continue;
      if (seen.contains(pack.ref)) {
        catalog.errors_.push_back(dir.string() + ": pack '" + pack.ref +
                                  "' is already loaded from " + catalog.FindPack(pack.ref)->dir);
        continue;
      }
      seen.insert(pack.ref);
      if (pack.ok() && options.inspect_libraries && NeedsLibrary(pack)) InspectLibrary(pack);
      catalog.packs_.push_back(std::move(pack));
    }
  }
}

Catalog Catalog::LoadOne(const std::string& pack_dir, const std::vector<std::string>& context_paths,
                         const CatalogOptions& options) {
  Catalog catalog;
  Pack pack = ReadPackMetadata(pack_dir, {.configs_dir = options.configs_dir});
  if (pack.ok() && options.inspect_libraries && NeedsLibrary(pack)) InspectLibrary(pack);
  const std::string ref = pack.ref;
  catalog.packs_.push_back(std::move(pack));
  catalog.Read(context_paths, {.inspect_libraries = false, .configs_dir = options.configs_dir},
               {ref});
  catalog.CheckChains(context_paths.empty());
  catalog.CheckRules(context_paths.empty());
  catalog.CheckPolicies(context_paths.empty());
  return catalog;
}

// An action-chain action's chain file is read once all packs are read, since its links may
// name actions of any pack; a chain that cannot run (a link naming no link, a missing action, a
// template that does not parse) refuses its action, as a rule on a missing action is refused.
void Catalog::CheckChains(bool own_refs_only) {
  for (auto& pack : packs_) {
    if (!pack.ok()) continue;
    std::set<std::string> refused;  // actions are looked up while checked: moved after
    for (auto& action : pack.actions) {
      if (action.runner_type != "action-chain" && action.runner_type != "orquesta") continue;
      std::vector<std::string> errors;
      const std::string path = pack.dir + "/actions/" + action.entry_point;
      if (action.runner_type == "orquesta") {
        auto wf = ReadOrquestaWorkflow(path, &errors);
        for (const auto& task : wf.ok() ? (*wf)->tasks : std::vector<OrquestaTask>{}) {
          const bool checked = !own_refs_only || task.action.rfind(pack.ref + ".", 0) == 0;
          if (checked && !task.action.empty() && !FindAction(task.action)) {
            errors.push_back(path + ":" + std::to_string(task.action_line) + ": task '" +
                             task.name + "': unknown action '" + task.action + "'");
          }
        }
        if (errors.empty()) {
          action.orquesta = std::move(wf).value();
        } else {
          refused.insert(action.ref);
          pack.refused.push_back({"action", action.ref, action.origin.file, std::move(errors)});
        }
        continue;
      }
      auto chain = ReadActionChain(path, &errors);
      if (chain.ok()) {
        for (const auto& link : (*chain)->links) {
          const bool checked = !own_refs_only || link.ref.rfind(pack.ref + ".", 0) == 0;
          if (checked && !link.ref.empty() && !FindAction(link.ref)) {
            errors.push_back(path + ":" + std::to_string(link.ref_line) + ": link '" + link.name +
                             "': unknown action '" + link.ref + "'");
          }
        }
      }
      if (errors.empty()) {
        action.chain = std::move(chain).value();
      } else {
        refused.insert(action.ref);
        pack.refused.push_back({"action", action.ref, action.origin.file, std::move(errors)});
      }
    }
    std::erase_if(pack.actions, [&](const ActionMeta& a) { return refused.contains(a.ref); });
  }
}

// Rules may name trigger types and actions of any pack, so they are checked once all packs are
// read. A rule pointing into a broken pack, or at a refused resource, is itself refused (the
// rest of its pack loads), as StackStorm's rules registrar skips it.
void Catalog::CheckRules(bool own_refs_only) {
  for (auto& pack : packs_) {
    // A reference is checked unless it points outside this pack and only own refs are checked.
    auto checked = [&](const std::string& ref) {
      return !own_refs_only || ref.rfind(pack.ref + ".", 0) == 0 || ref.rfind("core.st2.", 0) == 0;
    };
    std::vector<RuleMeta> kept;
    for (auto& rule : pack.rules) {
      std::vector<std::string> errors;
      if (checked(rule.trigger_type) && !FindTriggerType(rule.trigger_type)) {
        errors.push_back(At(rule.origin) + ": rule '" + rule.name + "': unknown trigger type '" +
                         rule.trigger_type + "'");
      }
      if (checked(rule.action_ref) && !FindAction(rule.action_ref)) {
        errors.push_back(At(rule.origin) + ": rule '" + rule.name + "': unknown action '" +
                         rule.action_ref + "'");
      }
      if (errors.empty()) {
        kept.push_back(std::move(rule));
      } else {
        pack.refused.push_back({"rule", rule.ref, rule.origin.file, std::move(errors)});
      }
    }
    pack.rules = std::move(kept);
  }
}

// A policy names its action by ref, like a rule: checked once all packs are read, and a policy
// on a missing action (or on parameters its action does not have) is refused on its own, as
// StackStorm's policies registrar skips it.
void Catalog::CheckPolicies(bool own_refs_only) {
  for (auto& pack : packs_) {
    std::vector<PolicyMeta> kept;
    for (auto& policy : pack.policies) {
      std::vector<std::string> errors;
      const std::string at = policy.origin.file + ":" +
                             std::to_string(policy.resource_ref_line > 0 ? policy.resource_ref_line
                                                                         : policy.origin.line);
      const bool checked = !own_refs_only || policy.resource_ref.rfind(pack.ref + ".", 0) == 0;
      const ActionMeta* action = checked ? FindAction(policy.resource_ref) : nullptr;
      if (checked && !action) {
        errors.push_back(at + ": policy '" + policy.name + "': unknown action '" +
                         policy.resource_ref + "'");
      }
      for (size_t i = 0; action && i < policy.attributes.size(); ++i) {
        const std::string& name = policy.attributes[i];
        if (action->parameters.contains(name) || IsRunnerParameter(action->runner_type, name)) {
          continue;
        }
        std::vector<std::string> known;
        for (const auto& [param, spec] : action->parameters.items()) known.push_back(param);
        const int line = i < policy.attribute_lines.size() ? policy.attribute_lines[i] : 0;
        errors.push_back(policy.origin.file + ":" +
                         std::to_string(line > 0 ? line : policy.origin.line) + ": policy '" +
                         policy.name + "': attribute '" + name +
                         "' is not a parameter of action '" + action->ref +
                         "' (its parameters: " + Names(known) + ")");
      }
      if (errors.empty()) {
        kept.push_back(std::move(policy));
      } else {
        pack.refused.push_back({"policy", policy.ref, policy.origin.file, std::move(errors)});
      }
    }
    pack.policies = std::move(kept);
  }
}

const Pack* Catalog::FindPack(const std::string& ref) const {
  for (const auto& p : packs_) {
    if (p.ref == ref) return &p;
  }
  return nullptr;
}

const TriggerType* Catalog::FindTriggerType(const std::string& ref) const {
  for (const auto& t : CoreTriggerTypes()) {
    if (t.ref == ref) return &t;
  }
  for (const auto& p : packs_) {
    if (!p.ok()) continue;
    for (const auto& t : p.trigger_types) {
      if (t.ref == ref) return &t;
    }
  }
  return nullptr;
}

const ActionMeta* Catalog::FindAction(const std::string& ref) const {
  for (const auto& p : packs_) {
    if (!p.ok()) continue;
    for (const auto& a : p.actions) {
      if (a.ref == ref) return &a;
    }
  }
  return nullptr;
}

}  // namespace gale::packs

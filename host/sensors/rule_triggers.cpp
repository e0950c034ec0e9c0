#include "host/sensors/rule_triggers.h"

#include <map>

namespace gale::sensors {
namespace {

std::map<std::string, Json> ByRule(const Json& triggers) {
  std::map<std::string, Json> by_rule;
  if (!triggers.is_array()) return by_rule;
  for (const auto& t : triggers) {
    if (t.is_object() && t.value("rule", "") != "") by_rule[t.value("rule", "")] = t;
  }
  return by_rule;
}

Json ParametersOf(const Json& trigger) {
  auto it = trigger.find("parameters");
  return it != trigger.end() && it->is_object() ? *it : Json::object();
}

}  // namespace

std::vector<TriggerChange> RuleTriggerChanges(const Json& before, const Json& after) {
  const std::map<std::string, Json> old_set = ByRule(before), new_set = ByRule(after);
  std::vector<TriggerChange> removed, updated, added;
  for (const auto& [rule, old_trigger] : old_set) {
    auto now = new_set.find(rule);
    if (now == new_set.end() || now->second.value("type", "") != old_trigger.value("type", "")) {
      removed.push_back({"remove_trigger", old_trigger});
    } else if (ParametersOf(now->second) != ParametersOf(old_trigger)) {
      updated.push_back({"update_trigger", now->second});
    }
  }
  for (const auto& [rule, new_trigger] : new_set) {
    auto was = old_set.find(rule);
    if (was == old_set.end() || was->second.value("type", "") != new_trigger.value("type", "")) {
      added.push_back({"add_trigger", new_trigger});
    }
  }
  std::vector<TriggerChange> changes = std::move(removed);
  changes.insert(changes.end(), updated.begin(), updated.end());
  changes.insert(changes.end(), added.begin(), added.end());
  return changes;
}

}  // namespace gale::sensors

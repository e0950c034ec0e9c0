// The rule triggers a pack's Python sensors are given: one {"rule", "type", "parameters"} per
// enabled rule (of any pack) on one of the pack's trigger types. When the rules change, the
// supervisor sends the running host the hook calls that take its sensors from the old set to
// the new one (control_protocol.h), as StackStorm's trigger watcher does, instead of
// restarting them.
#pragma once

#include <string>
#include <vector>

#include "host/common/json.h"

namespace gale::sensors {

struct TriggerChange {
  std::string hook;  // add_trigger, update_trigger or remove_trigger
  Json trigger;      // {rule, type, parameters}: the new one, or for remove_trigger the old one
};

// What changed from `before` to `after` (arrays of rule triggers, keyed by "rule"): removals
// first, then updates, then additions, each by rule ref. A rule whose trigger type changed is a
// removal and an addition (the sensors given the old type may not have the new one).
std::vector<TriggerChange> RuleTriggerChanges(const Json& before, const Json& after);

}  // namespace gale::sensors

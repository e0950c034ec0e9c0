#pragma once

#include <vector>

#include "host/packs/metadata.h"

namespace gale::packs {

// Trigger types the host itself provides, with StackStorm's names so its rules port unmodified:
// core.st2.webhook and the timers core.st2.IntervalTimer, core.st2.CronTimer, core.st2.DateTimer.
const std::vector<TriggerType>& CoreTriggerTypes();

}  // namespace gale::packs

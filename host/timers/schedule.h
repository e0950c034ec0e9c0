// StackStorm's timer trigger types as schedules (st2timersengine uses APScheduler for them):
//   core.st2.IntervalTimer {unit, delta}   every `delta` units; Gale aligns the ticks to the Unix
//                                          epoch so that every node computes the same ticks
//   core.st2.CronTimer {year, month, day, week, day_of_week, hour, minute, second}
//                                          APScheduler's CronTrigger: a field left out defaults to
//                                          `*` when a less significant field is given, else to
//                                          its minimum ({hour: 9} fires at 09:00:00 daily);
//                                          day_of_week counts from mon = 0
//   core.st2.DateTimer {date}              once, at an ISO 8601 time
// `timezone` (an IANA name, default UTC; the system's tz database) is the wall clock that cron
// fields and a DateTimer's offset-less date are read in; interval ticks do not depend on it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "host/common/json.h"
#include "host/common/result.h"

namespace gale::timers {

using TimeMs = int64_t;  // ms since the Unix epoch, UTC

bool IsTimerTrigger(std::string_view trigger_type);

class Schedule {
 public:
  virtual ~Schedule() = default;
  // The first tick strictly after `after`, or nullopt when there is none (a past DateTimer).
  virtual std::optional<TimeMs> NextAfter(TimeMs after) const = 0;
};

// Errors name the parameter: "core.st2.CronTimer minute: '*/0': step must be positive".
Result<std::unique_ptr<Schedule>> MakeSchedule(std::string_view trigger_type,
                                               const Json& parameters);

// StackStorm's `executed_at` text for `at`: "2026-12-04 09:00:00.000000+00:00".
std::string ExecutedAt(TimeMs at);

}  // namespace gale::timers

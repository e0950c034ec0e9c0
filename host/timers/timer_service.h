// Fires the timer triggers (core.st2.IntervalTimer, CronTimer, DateTimer) that the active rules
// use: each distinct (trigger type, parameters) is one timer. Part of a node's sensors role.
//
// Once per tick, cluster-wide:
//  - ownership: with `auto` partitioning a timer belongs to the node owning its slot (ref
//    "timer:<type>:<parameters>"); otherwise one node at a time holds the store lease
//    "timers" (renewed every second, taken over when it expires);
//  - a tick's trigger instance id is derived (uuid v5 of the timer and the tick), so even a tick
//    fired twice across a failover is one trigger instance and one execution per rule;
//  - the last fired tick is stored (scope gale), and a new owner starts after it: a tick fired
//    before a failover is not fired again, and a tick missed during one (at most the latest,
//    within `catch_up`) is fired late.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "host/bus/bus.h"
#include "host/common/json.h"
#include "host/packs/catalog.h"
#include "host/partition/partitioner.h"
#include "host/store/store.h"
#include "host/timers/schedule.h"

namespace gale::timers {

struct TimerSpec {
  std::string trigger;  // core.st2.IntervalTimer, ...
  Json parameters = Json::object();
  std::string Ref() const;  // "timer:<trigger>:<parameters as canonical JSON>"
};

// The distinct timers the enabled rules of `catalog` use.
std::vector<TimerSpec> TimersOf(const packs::Catalog& catalog);

struct TimerServiceOptions {
  bus::BusConfig bus;
  store::Store* store = nullptr;  // not owned
  std::string node;
  // Not owned; null or not `auto`: the "timers" lease decides.
  const partition::Partitioner* owner = nullptr;
  std::chrono::milliseconds lease_ttl = std::chrono::seconds(10);
  std::chrono::milliseconds catch_up = std::chrono::seconds(60);
  // The time the service sees (ticks, leases, records); default: now. Tests drive a clock of
  // their own and wait for passes instead of sleeping through real seconds.
  std::function<TimeMs()> clock;
  // How long the loop waits between passes (real time).
  std::chrono::milliseconds pass_interval = std::chrono::milliseconds(100);
};

struct TimerStats {
  uint64_t fired = 0;
  uint64_t errors = 0;
  bool owner = false;   // holds the lease / any timer's slot
  uint64_t passes = 0;  // loop passes completed: each looked at `clock` once
};

class TimerService {
 public:
  static Result<std::unique_ptr<TimerService>> Start(TimerServiceOptions options);
  ~TimerService();  // Stop()
  TimerService(const TimerService&) = delete;
  TimerService& operator=(const TimerService&) = delete;

  // The timers to run from now on (a rule reload). Bad parameters are logged and skipped.
  void Update(const std::vector<TimerSpec>& timers);
  void Stop();
  TimerStats stats() const;

 private:
  struct Timer {
    TimerSpec spec;
    std::unique_ptr<Schedule> schedule;
    bool active = false;         // owned here, and its next tick is known
    std::optional<TimeMs> next;  // the next tick to fire
  };
  explicit TimerService(TimerServiceOptions options) : options_(std::move(options)) {}
  void Loop();
  bool HoldsLease(TimeMs now);
  void Activate(Timer& t, TimeMs now);
  Status Fire(Timer& t, TimeMs tick);

  TimerServiceOptions options_;
  std::unique_ptr<bus::Producer> producer_;
  mutable std::mutex mu_;
  std::map<std::string, Timer> timers_;  // by ref
  TimerStats stats_;
  bool lease_held_ = false;
  TimeMs lease_renewed_at_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace gale::timers

// Periodic garbage collection by TTL (StackStorm's st2garbagecollector), run by one node at a
// time: each round first takes the store lease `lease_name`, so when several nodes run a
// GarbageCollector only the lease holder collects, and another takes over when it stops renewing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "host/common/result.h"
#include "host/store/open.h"
#include "host/store/store.h"

namespace gale::store {

struct GcOptions {
  GcPolicy policy;
  std::string holder;  // this node's name
  std::chrono::milliseconds interval{std::chrono::minutes(10)};
  std::string lease_name = "gale.garbage-collector";
  std::function<TimeMs()> clock = NowMs;
  LogFn log;  // one line per round that deleted something, and per error; may be empty
};

class GarbageCollector {
 public:
  // `store` must outlive the collector.
  GarbageCollector(Store& store, GcOptions options);
  ~GarbageCollector();  // stops the thread
  GarbageCollector(const GarbageCollector&) = delete;
  GarbageCollector& operator=(const GarbageCollector&) = delete;

  // Runs RunOnce now and then every `interval` on a thread of its own, until Stop().
  void Start();
  void Stop();

  // One round: takes (or renews) the lease for 3 x interval and collects when it holds it.
  // nullopt when another node holds the lease.
  Result<std::optional<GcCounts>> RunOnce();

 private:
  void Loop();

  Store& store_;
  GcOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace gale::store

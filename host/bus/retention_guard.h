// Keeps the embedded bus from dropping messages nobody consumed yet (its partitions retain a
// bounded log, see EmbeddedBroker::kLogMaxBytes). A thread samples each watched partition's
// unconsumed use; while a topic has a partition at or above `hold_at`, the topic's producers,
// in this process or not (sensor hosts), are held back at the broker (HoldProduce) until every
// partition of it is below `release_below`. In-process callers that cannot wait for long (the
// API) ask WaitReleased() first.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "host/bus/bus.h"

namespace gale::bus {

class RetentionGuard {
 public:
  struct Options {
    std::vector<GroupTopics> groups;  // the consumers whose progress counts, e.g. GaleGroups()
    double hold_at = 0.8;
    double release_below = 0.7;
    std::chrono::milliseconds interval{25};
  };
  // `broker` must outlive the guard.
  RetentionGuard(EmbeddedBroker* broker, Options options);
  ~RetentionGuard();  // stops the thread; producers are released within a few requests
  RetentionGuard(const RetentionGuard&) = delete;
  RetentionGuard& operator=(const RetentionGuard&) = delete;

  struct Sample {
    std::vector<RetentionUse> partitions;
    std::set<std::string> held;  // topics whose producers are held now
  };
  // As of the last check.
  Sample Last() const;
  // True at once when `topic` is not held; else waits up to `timeout` for its release.
  bool WaitReleased(const std::string& topic, std::chrono::milliseconds timeout);

 private:
  void Run();
  void Check();

  EmbeddedBroker* broker_;
  Options options_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  bool stop_ = false;
  Sample last_;
  std::thread thread_;
};

}  // namespace gale::bus

#include "host/bus/retention_guard.h"

#include <spdlog/spdlog.h>

#include <map>

namespace gale::bus {

RetentionGuard::RetentionGuard(EmbeddedBroker* broker, Options options)
    : broker_(broker), options_(std::move(options)) {
  broker_->WatchRetention(options_.groups, options_.hold_at);
  Check();  // a first sample before anyone asks
  thread_ = std::thread([this] { Run(); });
}

RetentionGuard::~RetentionGuard() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
  broker_->WatchRetention({}, 1);
}

RetentionGuard::Sample RetentionGuard::Last() const {
  std::lock_guard lock(mu_);
  return last_;
}

bool RetentionGuard::WaitReleased(const std::string& topic, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [&] { return stop_ || !last_.held.contains(topic); });
}

void RetentionGuard::Run() {
  std::unique_lock lock(mu_);
  while (!changed_.wait_for(lock, options_.interval, [this] { return stop_; })) {
    lock.unlock();
    Check();
    lock.lock();
  }
}

void RetentionGuard::Check() {
  Sample next;
  next.partitions = broker_->Retention(options_.groups);
  std::map<std::string, double> fullest;  // by topic
  for (const auto& p : next.partitions) {
    fullest[p.topic] = std::max(fullest[p.topic], p.used_ratio);
  }
  std::set<std::string> was;
  {
    std::lock_guard lock(mu_);
    was = last_.held;
  }
  for (const auto& [topic, ratio] : fullest) {
    // Hysteresis: a topic held stays held until it has drained somewhat.
    const bool hold =
        was.contains(topic) ? ratio >= options_.release_below : ratio >= options_.hold_at;
    if (!hold) {
      if (was.contains(topic)) spdlog::info("embedded bus: producers of {} released", topic);
      continue;
    }
    if (!was.contains(topic)) {
      spdlog::warn(
          "embedded bus: {} is {:.0f}% of the way to dropping unconsumed messages; holding its "
          "producers until its consumers catch up",
          topic, ratio * 100);
    }
    broker_->HoldProduce(topic);
    next.held.insert(topic);
  }
  {
    std::lock_guard lock(mu_);
    last_ = std::move(next);
  }
  changed_.notify_all();
}

}  // namespace gale::bus

#include "host/partition/slot_owner.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace gale::partition {

Result<std::unique_ptr<SlotOwner>> SlotOwner::Start(const bus::BusConfig& bus, int slots,
                                                    OwnershipChanged on_change,
                                                    const std::string& member) {
  std::unique_ptr<SlotOwner> owner(new SlotOwner(slots, std::move(on_change)));
  SlotOwner* self = owner.get();
  bus::Consumer::Options options;
  options.group_id = bus::Group(bus, bus::kSensorOwnersGroup);
  options.topics = {bus::Topic(bus, bus::kSensorOwners)};
  options.from_beginning = false;
  options.on_revoked = [self](const std::vector<bus::TopicPartition>& parts) {
    {
      std::lock_guard lock(self->mu_);
      for (const auto& p : parts) self->owned_.erase(p.partition);
    }
    self->Changed(true);
  };
  options.on_assigned = [self](const std::vector<bus::TopicPartition>& parts) {
    {
      std::lock_guard lock(self->mu_);
      for (const auto& p : parts) self->owned_.insert(p.partition);
    }
    self->Changed(false);
  };
  // A dead owner is noticed when its session times out: the broker's minimum (6 s) rather
  // than the 10 s of the work-queue consumers, unless gale.yaml sets its own.
  bus::BusConfig config = bus;
  config.properties.try_emplace("consumer.session.timeout.ms", "6000");
  config.properties.try_emplace("consumer.heartbeat.interval.ms", "500");
  // A node killed and restarted (same name) within the session rejoins with its old slots and
  // no rebalance, instead of making every sensor of the deployment stop and start twice.
  if (!member.empty()) config.properties.try_emplace("consumer.group.instance.id", member);
  auto consumer = bus::Consumer::Create(config, std::move(options));
  if (!consumer.ok()) return consumer.status().WithContext("sensor ownership (auto)");
  owner->consumer_ = std::move(consumer).value();
  owner->thread_ = std::thread([self] { self->Loop(); });
  return owner;
}

SlotOwner::~SlotOwner() {
  closing_ = true;  // leaving: the node is stopping its sensors itself
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (consumer_) consumer_->Close().ok();  // best effort: the session times out anyway
}

bool SlotOwner::Owns(const std::string& ref) const {
  std::lock_guard lock(mu_);
  return owned_.contains(SlotOf(ref, slot_count_));
}

std::set<int> SlotOwner::slots() const {
  std::lock_guard lock(mu_);
  return owned_;
}

void SlotOwner::Changed(bool revoking) {
  if (closing_ || !on_change_) return;
  const size_t n = slots().size();
  spdlog::info("sensor ownership: {} {} slot(s) owned now", revoking ? "revoked," : "assigned,", n);
  on_change_(revoking);
}

void SlotOwner::Loop() {
  auto last_error = std::chrono::steady_clock::time_point{};
  while (!stop_) {
    // Polling keeps this node in the group; rebalance callbacks run inside Poll.
    auto polled = consumer_->Poll(std::chrono::milliseconds(200));
    if (!polled.ok()) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last_error > std::chrono::seconds(30)) {
        spdlog::warn("sensor ownership: {}", polled.message());
        last_error = now;
      }
    }
  }
}

}  // namespace gale::partition

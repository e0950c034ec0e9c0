#include "host/store/gc.h"

namespace gale::store {

GarbageCollector::GarbageCollector(Store& store, GcOptions options)
    : store_(store), options_(std::move(options)) {}

GarbageCollector::~GarbageCollector() {
  Stop();
}

void GarbageCollector::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void GarbageCollector::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Hand the lease over at once instead of letting it run out.
  if (!options_.holder.empty()) (void)store_.ReleaseLease(options_.lease_name, options_.holder);
}

Result<std::optional<GcCounts>> GarbageCollector::RunOnce() {
  TimeMs now = options_.clock();
  GALE_ASSIGN_OR_RETURN(bool held, store_.TryAcquireLease(options_.lease_name, options_.holder,
                                                          3 * options_.interval.count(), now));
  if (!held) return std::optional<GcCounts>();
  GALE_ASSIGN_OR_RETURN(GcCounts counts, store_.CollectGarbage(options_.policy, now));
  return std::optional<GcCounts>(counts);
}

void GarbageCollector::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    Result<std::optional<GcCounts>> round = RunOnce();
    if (options_.log) {
      if (!round.ok()) {
        options_.log("garbage collection failed: " + round.message());
      } else if (*round) {
        const GcCounts& c = **round;
        if (c.executions + c.output_chunks + c.trigger_instances + c.keys + c.dedupe_keys > 0) {
          options_.log("garbage collection deleted " + std::to_string(c.executions) +
                       " executions, " + std::to_string(c.output_chunks) + " output chunks, " +
                       std::to_string(c.trigger_instances) + " trigger instances, " +
                       std::to_string(c.keys) + " expired keys, " + std::to_string(c.dedupe_keys) +
                       " dedupe keys");
        }
      }
    }
    lock.lock();
    cv_.wait_for(lock, options_.interval, [this] { return stopping_; });
  }
}

}  // namespace gale::store

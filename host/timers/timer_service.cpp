#include "host/timers/timer_service.h"

#include <spdlog/spdlog.h>

#include <set>

#include "host/bus/messages.h"
#include "host/common/uuid.h"

namespace gale::timers {
namespace {

constexpr const char* kLease = "timers";
constexpr TimeMs kLeaseRenewMs = 1000;

std::string TickKey(const std::string& ref) {
  return "timer-tick:" + UuidV5(kGaleNamespace, ref);
}

}  // namespace

std::string TimerSpec::Ref() const {
  return "timer:" + trigger + ":" + parameters.dump();
}

std::vector<TimerSpec> TimersOf(const packs::Catalog& catalog) {
  std::vector<TimerSpec> out;
  std::set<std::string> seen;
  for (const auto& pack : catalog.packs()) {
    for (const auto& rule : pack.rules) {
      if (!rule.enabled || !IsTimerTrigger(rule.trigger_type)) continue;
      TimerSpec spec{rule.trigger_type, rule.trigger_parameters};
      if (seen.insert(spec.Ref()).second) out.push_back(std::move(spec));
    }
  }
  return out;
}

Result<std::unique_ptr<TimerService>> TimerService::Start(TimerServiceOptions options) {
  if (options.store == nullptr) return Status::Error("timers: no store");
  if (!options.clock) options.clock = [] { return store::NowMs(); };
  std::unique_ptr<TimerService> service(new TimerService(std::move(options)));
  auto producer = bus::Producer::Create(service->options_.bus);
  if (!producer.ok()) return producer.status().WithContext("timers: producer");
  service->producer_ = std::move(producer).value();
  service->thread_ = std::thread([s = service.get()] { s->Loop(); });
  return service;
}

TimerService::~TimerService() {
  Stop();
}

void TimerService::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  if (lease_held_) {
    // The next node need not wait for the lease to expire.
    options_.store->ReleaseLease(kLease, options_.node).ok();
    lease_held_ = false;
  }
}

TimerStats TimerService::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void TimerService::Update(const std::vector<TimerSpec>& timers) {
  std::lock_guard lock(mu_);
  std::map<std::string, Timer> next;
  for (const TimerSpec& spec : timers) {
    const std::string ref = spec.Ref();
    if (auto it = timers_.find(ref); it != timers_.end()) {
      next.emplace(ref, std::move(it->second));
      continue;
    }
    auto schedule = MakeSchedule(spec.trigger, spec.parameters);
    if (!schedule.ok()) {
      spdlog::error("timers: {} not scheduled: {}", ref, schedule.message());
      continue;
    }
    Timer t;
    t.spec = spec;
    t.schedule = std::move(schedule).value();
    next.emplace(ref, std::move(t));
  }
  timers_ = std::move(next);
}

bool TimerService::HoldsLease(TimeMs now) {
  if (lease_held_ && now - lease_renewed_at_ < kLeaseRenewMs) return true;
  auto got =
      options_.store->TryAcquireLease(kLease, options_.node, options_.lease_ttl.count(), now);
  const bool held = got.ok() && *got;
  if (!got.ok()) spdlog::warn("timers: lease: {}", got.message());
  if (held != lease_held_) {
    spdlog::info("timers: {} the timers lease", held ? "node holds" : "node lost");
  }
  lease_held_ = held;
  lease_renewed_at_ = now;
  return held;
}

void TimerService::Activate(Timer& t, TimeMs now) {
  // Start after the last tick any node fired: never that one again. A tick missed since (a
  // failover gap) is fired late if it is recent enough; a timer never fired starts from now.
  TimeMs base = now;
  auto last = options_.store->GetKey({TickKey(t.spec.Ref()), store::KeyScope::kGale, ""}, now);
  if (!last.ok()) return;  // decided on a later pass, once the store answers
  if (last->has_value()) {
    try {
      base = std::max<TimeMs>(std::stoll((*last)->value), now - options_.catch_up.count());
    } catch (const std::exception&) {
    }
  }
  t.next = t.schedule->NextAfter(base);
  t.active = true;
}

Status TimerService::Fire(Timer& t, TimeMs tick) {
  const std::string ref = t.spec.Ref();
  auto instance = bus::TriggerInstanceMessage::New(
      t.spec.trigger, {{"executed_at", ExecutedAt(tick)}, {"schedule", t.spec.parameters}},
      "timers", options_.node);
  // One id per tick, whichever node fires it: the rules engine sees a tick fired twice once.
  instance.id = UuidV5(kGaleNamespace, ref + "@" + std::to_string(tick));
  instance.occurred_at = tick;
  instance.trigger_parameters = t.spec.parameters;
  const std::string topic = bus::Topic(options_.bus, bus::kTriggers);
  GALE_TRY(producer_->Produce(topic, instance.id, bus::Encode(instance)));
  GALE_TRY(producer_->Flush(std::chrono::seconds(10)));
  store::KeyValue kv;
  kv.name = TickKey(ref);
  kv.value = std::to_string(tick);
  kv.scope = store::KeyScope::kGale;
  return options_.store->SetKey(kv, options_.clock());
}

void TimerService::Loop() {
  while (!stop_) {
    {
      std::lock_guard lock(mu_);
      const TimeMs now = options_.clock();
      const bool by_slot = options_.owner != nullptr && options_.owner->provider() == "auto";
      const bool lease = !by_slot && !timers_.empty() && HoldsLease(now);
      bool any = false;
      for (auto& [ref, t] : timers_) {
        const bool owned = by_slot ? options_.owner->Owns(ref) : lease;
        if (!owned) {
          t.active = false;
          continue;
        }
        any = true;
        if (!t.active) Activate(t, now);
        if (!t.active || !t.next || *t.next > now) continue;
        // Behind by several ticks (a stall): fire only the latest.
        TimeMs tick = *t.next;
        for (auto n = t.schedule->NextAfter(tick); n && *n <= now;
             n = t.schedule->NextAfter(tick)) {
          tick = *n;
        }
        if (Status s = Fire(t, tick); !s.ok()) {
          stats_.errors++;
          spdlog::warn("timers: {} tick {}: {} (retrying)", ref, tick, s.message());
          continue;
        }
        stats_.fired++;
        t.next = t.schedule->NextAfter(tick);
      }
      stats_.owner = any;
      stats_.passes++;
    }
    std::this_thread::sleep_for(options_.pass_interval);
  }
}

}  // namespace gale::timers

#include "host/common/log_limit.h"

#include <algorithm>
#include <vector>

namespace gale {

std::optional<uint64_t> LogLimiter::Allow(std::string_view key, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= max_keys_) Trim(now);
    entries_.emplace(std::string(key), Entry{now, 0});
    return 0;
  }
  Entry& e = it->second;
  if (now - e.last < interval_) {
    ++e.held;
    return std::nullopt;
  }
  const uint64_t held = e.held;
  e = Entry{now, 0};
  return held;
}

void LogLimiter::Trim(Clock::time_point now) {
  std::erase_if(entries_, [&](const auto& kv) {
    return now - kv.second.last >= interval_ && kv.second.held == 0;
  });
  if (entries_.size() < max_keys_) return;
  // Still full of busy keys: forget the oldest half (their held counts are lost, not their
  // events' effects).
  std::vector<std::pair<Clock::time_point, std::string>> by_age;
  by_age.reserve(entries_.size());
  for (const auto& [k, e] : entries_) by_age.emplace_back(e.last, k);
  std::sort(by_age.begin(), by_age.end());
  for (size_t i = 0; i < by_age.size() / 2 + 1; ++i) entries_.erase(by_age[i].second);
}

}  // namespace gale

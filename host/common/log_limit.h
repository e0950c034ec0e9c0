// Rate-limited logging for lines a remote peer (or a bad message) can make repeat: at most one
// line per key per interval, the next one saying how many were held back ("(N more since)"), so
// a flood of connections, requests or messages cannot flood the log. Thread-safe.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace gale {

class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  // At most `max_keys` keys are remembered: past that, keys quiet for an interval are
  // forgotten, and if that is not enough the oldest are (a forgotten key logs at once again).
  explicit LogLimiter(Clock::duration interval = std::chrono::minutes(1), size_t max_keys = 1024)
      : interval_(interval), max_keys_(max_keys) {}

  // Counts one event of `key`. Returns how many events of `key` were held back since its last
  // line when a line may be written now, std::nullopt when this one is held back.
  std::optional<uint64_t> Allow(std::string_view key, Clock::time_point now = Clock::now());

  // Logs `fmt` at `level` when Allow(key), with " (N more since)" when some were held back.
  template <typename... Args>
  void Log(spdlog::level::level_enum level, std::string_view key,
           spdlog::format_string_t<Args...> fmt, Args&&... args) {
    const auto held = Allow(key);
    if (!held) return;
    std::string line = spdlog::fmt_lib::format(fmt, std::forward<Args>(args)...);
    if (*held > 0) line += " (" + std::to_string(*held) + " more since)";
    spdlog::log(level, "{}", line);
  }

 private:
  struct Entry {
    Clock::time_point last{};
    uint64_t held = 0;
  };
  void Trim(Clock::time_point now);  // mu_ held

  const Clock::duration interval_;
  const size_t max_keys_;
  std::mutex mu_;
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace gale

#include "host/common/log_limit.h"

#include <gtest/gtest.h>

namespace gale {
namespace {

using namespace std::chrono_literals;

TEST(LogLimiterTest, OneLinePerKeyPerIntervalWithTheHeldBackCount) {
  LogLimiter limiter(60s);
  const auto t0 = LogLimiter::Clock::now();
  EXPECT_EQ(limiter.Allow("a", t0), 0u);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limiter.Allow("a", t0 + 1s).has_value());
  EXPECT_EQ(limiter.Allow("b", t0 + 1s), 0u);  // keys are independent
  EXPECT_EQ(limiter.Allow("a", t0 + 61s), 5u);
  EXPECT_FALSE(limiter.Allow("a", t0 + 62s).has_value());
  EXPECT_EQ(limiter.Allow("a", t0 + 200s), 1u);
}

TEST(LogLimiterTest, RemembersABoundedNumberOfKeys) {
  LogLimiter limiter(60s, 8);
  const auto t0 = LogLimiter::Clock::now();
  for (int i = 0; i < 1000; ++i) limiter.Allow("peer-" + std::to_string(i), t0);
  // Every new key was let through once, and the limiter did not grow without bound: an old key
  // forgotten logs again, a recent one stays quiet.
  EXPECT_FALSE(limiter.Allow("peer-999", t0 + 1s).has_value());
  EXPECT_TRUE(limiter.Allow("peer-0", t0 + 1s).has_value());
}

TEST(LogLimiterTest, LogWritesNoMoreThanOneLinePerInterval) {
  LogLimiter limiter(60s);
  for (int i = 0; i < 1000; ++i) limiter.Log(spdlog::level::debug, "k", "event {}", i);
  EXPECT_FALSE(limiter.Allow("k").has_value());
}

}  // namespace
}  // namespace gale

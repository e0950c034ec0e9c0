// Result and GALE_TRY: a misused Result stops the process with its error in every build (the
// tests run NDEBUG builds, where an assert would be silent undefined behaviour).
#include "host/common/result.h"

#include <gtest/gtest.h>

#include <string>

namespace gale {
namespace {

Result<int> ParseInt(const std::string& text) {
  if (text.empty()) return Status::Error("empty input");
  return static_cast<int>(text.size());
}

Status Step(bool fail, int* ran) {
  ++*ran;
  return fail ? Status::Error("step failed", true) : Status::Ok();
}

Status TwoSteps(bool first_fails, int* ran) {
  GALE_TRY(Step(first_fails, ran));
  GALE_TRY(Step(false, ran));
  return Status::Ok();
}

TEST(ResultTest, ValueAndError) {
  auto good = ParseInt("abc");
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 3);
  auto bad = ParseInt("");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.message(), "empty input");
}

TEST(ResultDeathTest, ValueOfAnErrorAbortsWithTheMessage) {
  EXPECT_DEATH(
      {
        auto bad = ParseInt("");
        [[maybe_unused]] int v = bad.value();
      },
      "value\\(\\) of a Result holding an error: empty input");
  EXPECT_DEATH(
      {
        auto bad = ParseInt("");
        [[maybe_unused]] int v = *bad;
      },
      "empty input");
}

TEST(ResultDeathTest, AResultFromAnOkStatusAborts) {
  EXPECT_DEATH({ [[maybe_unused]] Result<int> r(Status::Ok()); }, "from an ok Status");
}

TEST(ResultTest, TryReturnsTheFirstErrorAndStopsThere) {
  int ran = 0;
  Status s = TwoSteps(true, &ran);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "step failed");
  EXPECT_TRUE(s.retryable());
  EXPECT_EQ(ran, 1);
  ran = 0;
  EXPECT_TRUE(TwoSteps(false, &ran).ok());
  EXPECT_EQ(ran, 2);
}

}  // namespace
}  // namespace gale

#include "host/common/uuid.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

namespace gale {
namespace {

TEST(UuidTest, V4IsRandomAndWellFormed) {
  static const std::regex kV4(
      "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = UuidV4();
    EXPECT_TRUE(std::regex_match(id, kV4)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(UuidTest, V5MatchesRfc4122Vector) {
  // Python: uuid.uuid5(uuid.NAMESPACE_DNS, "python.org") == 886313e1-3b8a-5372-9b90-0c9aee199e5d
  EXPECT_EQ(UuidV5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "python.org"),
            "886313e1-3b8a-5372-9b90-0c9aee199e5d");
}

TEST(UuidTest, V5IsStableAndNameSensitive) {
  EXPECT_EQ(UuidV5(kGaleNamespace,
                   "a"
                   "rule"),
            UuidV5(kGaleNamespace, "arule"));
  EXPECT_NE(UuidV5(kGaleNamespace, "trigger-1pack.rule"),
            UuidV5(kGaleNamespace, "trigger-2pack.rule"));
}

}  // namespace
}  // namespace gale

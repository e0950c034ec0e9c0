#include "host/common/uuid.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

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
  // Execution ids derive from these: the same name gives the same id in every process and run
  // (Python: uuid.uuid5(UUID(kGaleNamespace), "arule")), built from its parts at run time.
  const std::string parts[] = {"a", "rule"};
  EXPECT_EQ(UuidV5(kGaleNamespace, parts[0] + parts[1]), "23bc6531-f7ce-5144-8c98-b299903b5787");
  EXPECT_EQ(UuidV5(kGaleNamespace, std::string("arule")), "23bc6531-f7ce-5144-8c98-b299903b5787");
  EXPECT_NE(UuidV5(kGaleNamespace, "trigger-1pack.rule"),
            UuidV5(kGaleNamespace, "trigger-2pack.rule"));
}

}  // namespace
}  // namespace gale

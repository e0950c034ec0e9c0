#include "sandbox/settings.h"

#include <gtest/gtest.h>

namespace gale::sandbox {
namespace {

using namespace std::chrono_literals;

TEST(SeccompProfileName, ParsesTheThreeProfiles) {
  EXPECT_EQ(*ParseSeccompProfile("default"), SeccompProfile::kDefault);
  EXPECT_EQ(*ParseSeccompProfile("no-network"), SeccompProfile::kNoNetwork);
  EXPECT_EQ(*ParseSeccompProfile("strict"), SeccompProfile::kStrict);
  EXPECT_FALSE(ParseSeccompProfile("none").ok());
  EXPECT_FALSE(ParseSeccompProfile("Default").ok());
  for (auto p : {SeccompProfile::kDefault, SeccompProfile::kNoNetwork, SeccompProfile::kStrict}) {
    EXPECT_EQ(*ParseSeccompProfile(ToString(p)), p);
  }
}

TEST(SandboxBlock, EmptyOrNullKeepsNodeDefaults) {
  Settings node;
  node.timeout = 42s;
  node.profile = SeccompProfile::kStrict;
  for (const Json& block : {Json(), Json::object()}) {
    auto s = SettingsFromSandboxBlock(block, node);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(s->timeout, 42s);
    EXPECT_EQ(s->profile, SeccompProfile::kStrict);
  }
}

TEST(SandboxBlock, OverridesNodeDefaults) {
  Settings node;
  auto s = SettingsFromSandboxBlock(
      Json{{"profile", "no-network"}, {"timeout", 2.5}, {"memory", 512}, {"cpu", 1.2}}, node);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s->profile, SeccompProfile::kNoNetwork);
  EXPECT_EQ(s->timeout, 2500ms);
  EXPECT_EQ(s->limits.address_space_bytes, 512ULL << 20);
  EXPECT_EQ(s->limits.memory_bytes, 512ULL << 20);
  EXPECT_EQ(s->limits.cpu_seconds, 2u);  // rounded up
  // Untouched fields keep the node's values.
  EXPECT_EQ(s->kill_grace, node.kill_grace);
  EXPECT_EQ(s->limits.open_files, node.limits.open_files);
}

TEST(SandboxBlock, NetworkFalseNarrowsDefaultToNoNetwork) {
  Settings node;
  auto s = SettingsFromSandboxBlock(Json{{"network", false}}, node);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->profile, SeccompProfile::kNoNetwork);
  s = SettingsFromSandboxBlock(Json{{"network", false}, {"profile", "strict"}}, node);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->profile, SeccompProfile::kStrict);
  s = SettingsFromSandboxBlock(Json{{"network", true}}, node);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->profile, SeccompProfile::kDefault);
}

TEST(SandboxBlock, NetworkTrueContradictingTheProfileIsAnError) {
  auto s = SettingsFromSandboxBlock(Json{{"network", true}, {"profile", "no-network"}}, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("contradicts"), std::string::npos) << s.message();
  Settings strict_node;
  strict_node.profile = SeccompProfile::kStrict;
  EXPECT_FALSE(SettingsFromSandboxBlock(Json{{"network", true}}, strict_node).ok());
}

TEST(SandboxBlock, RejectsWhatTheSchemaRejects) {
  const Json bad[] = {
      Json::array(),           Json{{"profile", "none"}}, Json{{"profile", 3}},
      Json{{"timeout", 0}},    Json{{"timeout", -1}},     Json{{"timeout", "10"}},
      Json{{"memory", 0}},     Json{{"memory", 1.5}},     Json{{"cpu", 0}},
      Json{{"network", "no"}}, Json{{"user", "root"}},  // not an action's business
  };
  for (const auto& block : bad) {
    auto s = SettingsFromSandboxBlock(block, {});
    EXPECT_FALSE(s.ok()) << block.dump();
    if (!s.ok()) {
      EXPECT_EQ(s.message().rfind("sandbox", 0), 0u) << s.message();
    }
  }
}

TEST(NodeConfig, ReadsEveryKey) {
  Json section = {{"profile", "strict"},
                  {"on_violation", "kill"},
                  {"timeout", 0},
                  {"kill_grace", 1.5},
                  {"memory", 64},
                  {"cpu", 3},
                  {"open_files", 32},
                  {"processes", 10},
                  {"file_size_mb", 2},
                  {"output_cap_kb", 8},
                  {"env_allow", {"PATH", "GALE_*"}},
                  {"user", "nobody"},
                  {"group", "nogroup"},
                  {"cgroup", "off"},
                  {"cgroup_parent", "/sys/fs/cgroup/gale"},
                  {"working_dir", "/tmp"}};
  auto s = SettingsFromNodeConfig(section);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s->profile, SeccompProfile::kStrict);
  EXPECT_EQ(s->on_violation, ViolationAction::kKill);
  EXPECT_EQ(s->timeout, 0ms);
  EXPECT_EQ(s->kill_grace, 1500ms);
  EXPECT_EQ(s->limits.address_space_bytes, 64ULL << 20);
  EXPECT_EQ(s->limits.cpu_seconds, 3u);
  EXPECT_EQ(s->limits.open_files, 32u);
  EXPECT_EQ(s->limits.processes, 10u);
  EXPECT_EQ(s->limits.file_size_bytes, 2ULL << 20);
  EXPECT_EQ(s->output_cap_bytes, 8u * 1024);
  EXPECT_EQ(s->env_allow, (std::vector<std::string>{"PATH", "GALE_*"}));
  EXPECT_EQ(s->user, "nobody");
  EXPECT_EQ(s->group, "nogroup");
  EXPECT_EQ(s->cgroup, CgroupMode::kOff);
  EXPECT_EQ(s->cgroup_parent, "/sys/fs/cgroup/gale");
  EXPECT_EQ(s->working_dir, "/tmp");
}

TEST(NodeConfig, RejectsUnknownKeysAndBadValues) {
  EXPECT_FALSE(SettingsFromNodeConfig(Json{{"profil", "strict"}}).ok());
  EXPECT_FALSE(SettingsFromNodeConfig(Json{{"open_files", 8}}).ok());  // the child needs some
  EXPECT_FALSE(SettingsFromNodeConfig(Json{{"on_violation", "trap"}}).ok());
  EXPECT_FALSE(SettingsFromNodeConfig(Json{{"cgroup", true}}).ok());
  EXPECT_FALSE(SettingsFromNodeConfig(Json{{"env_allow", "PATH"}}).ok());
  EXPECT_FALSE(SettingsFromNodeConfig(Json::array()).ok());
  EXPECT_TRUE(SettingsFromNodeConfig(Json()).ok());
}

TEST(NodeConfig, ThenActionBlock) {
  auto node = SettingsFromNodeConfig(Json{{"timeout", 60}, {"profile", "no-network"}});
  ASSERT_TRUE(node.ok());
  auto s = SettingsFromSandboxBlock(Json{{"timeout", 5}}, *node);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->timeout, 5s);
  EXPECT_EQ(s->profile, SeccompProfile::kNoNetwork);
}

}  // namespace
}  // namespace gale::sandbox

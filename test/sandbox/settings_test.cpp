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

// The resulting profile is the stricter of the node's and the action's, whatever the action asks.
TEST(SandboxBlock, ProfileIsTheStricterOfNodeAndAction) {
  const SeccompProfile kStrict = SeccompProfile::kStrict, kNoNet = SeccompProfile::kNoNetwork,
                       kDefault = SeccompProfile::kDefault;
  struct Row {
    SeccompProfile node;
    const char* action;
    SeccompProfile want;
  };
  const Row table[] = {
      {kDefault, "default", kDefault}, {kDefault, "no-network", kNoNet},
      {kDefault, "strict", kStrict},   {kNoNet, "default", kNoNet},
      {kNoNet, "no-network", kNoNet},  {kNoNet, "strict", kStrict},
      {kStrict, "default", kStrict},   {kStrict, "no-network", kStrict},
      {kStrict, "strict", kStrict},    {SeccompProfile::kNone, "default", kDefault},
  };
  for (const auto& row : table) {
    Settings node;
    node.profile = row.node;
    auto s = SettingsFromSandboxBlock(Json{{"profile", row.action}}, node);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(s->profile, row.want) << ToString(row.node) << " + " << row.action;
    EXPECT_EQ(Stricter(row.node, s->profile), row.want);
  }
}

TEST(SandboxBlock, LimitsAreTheMinimumOfNodeAndAction) {
  Settings node;
  node.limits.address_space_bytes = 256ULL << 20;
  node.limits.memory_bytes.reset();  // unset on the node: the action's value applies
  node.limits.cpu_seconds = 10;
  auto more = SettingsFromSandboxBlock(Json{{"memory", 1024}, {"cpu", 60}}, node);
  ASSERT_TRUE(more.ok()) << more.message();
  EXPECT_EQ(more->limits.address_space_bytes, 256ULL << 20);
  EXPECT_EQ(more->limits.memory_bytes, 1024ULL << 20);
  EXPECT_EQ(more->limits.cpu_seconds, 10u);
  auto less = SettingsFromSandboxBlock(Json{{"memory", 64}, {"cpu", 2}}, node);
  ASSERT_TRUE(less.ok()) << less.message();
  EXPECT_EQ(less->limits.address_space_bytes, 64ULL << 20);
  EXPECT_EQ(less->limits.memory_bytes, 64ULL << 20);
  EXPECT_EQ(less->limits.cpu_seconds, 2u);
  node.limits.cpu_seconds.reset();
  auto unset = SettingsFromSandboxBlock(Json{{"cpu", 60}}, node);
  ASSERT_TRUE(unset.ok());
  EXPECT_EQ(unset->limits.cpu_seconds, 60u);
}

TEST(SandboxBlock, TimeoutIsCappedByTheNodesMaxTimeout) {
  Settings node;
  EXPECT_EQ(node.max_timeout, 1h);
  node.timeout = 60s;
  auto longer = SettingsFromSandboxBlock(Json{{"timeout", 1800}}, node);
  ASSERT_TRUE(longer.ok());
  EXPECT_EQ(longer->timeout, 1800s);  // past the node's default, within its ceiling
  auto too_long = SettingsFromSandboxBlock(Json{{"timeout", 7200}}, node);
  ASSERT_TRUE(too_long.ok());
  EXPECT_EQ(too_long->timeout, 1h);
  node.max_timeout = 30s;
  EXPECT_EQ(SettingsFromSandboxBlock(Json{{"timeout", 40}}, node)->timeout, 30s);
  EXPECT_EQ(SettingsFromSandboxBlock(Json::object(), node)->timeout, 30s);
  node.timeout = 0ms;  // built in code without a limit: bounded all the same
  EXPECT_EQ(SettingsFromSandboxBlock(Json(), node)->timeout, 30s);
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

TEST(SandboxBlock, NetworkTrueNeverWidensTheNodesProfile) {
  for (auto p : {SeccompProfile::kNoNetwork, SeccompProfile::kStrict}) {
    Settings node;
    node.profile = p;
    auto s = SettingsFromSandboxBlock(Json{{"network", true}}, node);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(s->profile, p);
    s = SettingsFromSandboxBlock(Json{{"network", true}, {"profile", "default"}}, node);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(s->profile, p);
  }
}

TEST(SandboxBlock, NetworkTrueContradictingTheBlocksOwnProfileIsAnError) {
  for (const char* profile : {"no-network", "strict"}) {
    auto s = SettingsFromSandboxBlock(Json{{"network", true}, {"profile", profile}}, {});
    ASSERT_FALSE(s.ok()) << profile;
    EXPECT_EQ(s.message(), "sandbox.network: true contradicts profile '" + std::string(profile) +
                               "', which has no network");
  }
}

TEST(SandboxBlock, RejectsWhatTheSchemaRejects) {
  const Json bad[] = {
      Json::array(),
      Json{{"profile", "none"}},
      Json{{"profile", 3}},
      Json{{"timeout", 0}},
      Json{{"timeout", -1}},
      Json{{"timeout", "10"}},
      Json{{"memory", 0}},
      Json{{"memory", 1.5}},
      Json{{"cpu", 0}},
      Json{{"network", "no"}},
      Json{{"user", "root"}},     // not an action's business
      Json{{"max_timeout", 10}},  // nor this
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
                  {"max_timeout", 120},
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
  EXPECT_EQ(s->timeout, 120s);  // 0 ("none") is the node's max_timeout
  EXPECT_EQ(s->max_timeout, 120s);
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
  for (const Json& bad : {Json(0), Json(-5), Json("60"), Json(1e12)}) {
    auto s = SettingsFromNodeConfig(Json{{"max_timeout", bad}});
    ASSERT_FALSE(s.ok()) << bad.dump();
    EXPECT_EQ(s.message().rfind("sandbox.max_timeout: ", 0), 0u) << s.message();
  }
}

TEST(NodeConfig, MaxTimeoutDefaultsToAnHourAndCapsTheNodesTimeout) {
  auto defaults = SettingsFromNodeConfig(Json());
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->max_timeout, 1h);
  EXPECT_EQ(defaults->timeout, 600s);
  EXPECT_EQ(SettingsFromNodeConfig(Json{{"timeout", 0}})->timeout, 1h);
  EXPECT_EQ(SettingsFromNodeConfig(Json{{"timeout", 86400}})->timeout, 1h);
  // Either order of the keys, and a base timeout (runner.default_timeout) too.
  auto capped = SettingsFromNodeConfig(Json{{"timeout", 900}, {"max_timeout", 300}});
  ASSERT_TRUE(capped.ok());
  EXPECT_EQ(capped->timeout, 300s);
  Settings base;
  base.timeout = 2h;
  EXPECT_EQ(SettingsFromNodeConfig(Json::object(), base)->timeout, 1h);
  EXPECT_EQ(SettingsFromNodeConfig(Json{{"max_timeout", 7200}}, base)->timeout, 2h);
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

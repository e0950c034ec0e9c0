// action_context and config_context in templates (issue 19, item 7), through a real node: a
// rule's action parameters and an action's parameter defaults see StackStorm's names, and the
// execution record holds what they rendered to.
#include <gtest/gtest.h>

#include <filesystem>

#include "test/support/api_fixture.h"
#include "test/support/pack_dir.h"

namespace gale::testing {
namespace {

namespace fs = std::filesystem;

// Pack `ctxpack`: a config, an action whose defaults use both contexts, and a webhook rule whose
// parameters do.
void WriteContextPack(const fs::path& root) {
  WriteFiles(root / "ctxpack",
             {{"pack.yaml", "---\nref: ctxpack\nname: ctxpack\nversion: 0.1.0\n"},
              {"config.yaml", "---\nregion: eu-west-1\nlimits: {disk: 90}\n"},
              {"actions/show.yaml",
               "---\nname: show\nrunner_type: local-shell-cmd\nparameters:\n"
               "  rule_ref: {type: string}\n"
               "  rule_name: {type: string}\n"
               "  instance: {type: string}\n"
               "  user: {type: string}\n"
               "  tagged: {type: string}\n"
               "  region:\n    type: string\n    default: '{{ config_context.region }}'\n"
               "  disk:\n    default: '{{ config_context.limits.disk }}'\n"
               "  requested_by:\n    type: string\n    default: '{{ action_context.user }}'\n"
               "  from_pack:\n    type: string\n    default: '{{ action_context.pack }}'\n"
               "  cmd:\n    type: string\n    immutable: true\n"
               "    default: 'printf ''%s\\n'' \"$PARAM_REGION\"'\n"},
              {"rules/on_hook.yaml",
               "---\nname: on_hook\npack: ctxpack\ntrigger:\n  type: core.st2.webhook\n"
               "  parameters: {url: ctxhook}\n"
               "action:\n  ref: ctxpack.show\n  parameters:\n"
               "    rule_ref: '{{ action_context.rule.ref }}'\n"
               "    rule_name: '{{ action_context.rule.name }}'\n"
               "    instance: '{{ action_context.trigger_instance.id }}'\n"
               "    user: '{{ action_context.user }}'\n"
               "    tagged: '{{ config_context.region }}/{{ trigger.body.service }}'\n"}});
}

class TemplateContextTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    packs_ = std::make_unique<TempDir>();
    WriteContextPack(packs_->path());
    NodeOptions options;
    options.packs_paths = {packs_->str()};
    node_ = NodeProcess::Start(options);
  }
  static void TearDownTestSuite() {
    node_.reset();
    packs_.reset();
  }
  static cli::ApiClient Api() { return cli::ApiClient(ApiFlagsOf(*node_)); }
  static std::unique_ptr<TempDir> packs_;
  static std::unique_ptr<NodeProcess> node_;
};
std::unique_ptr<TempDir> TemplateContextTest::packs_;
std::unique_ptr<NodeProcess> TemplateContextTest::node_;

TEST_F(TemplateContextTest, ARulesParametersSeeItsActionContextAndThePackConfig) {
  auto api = Api();
  Json body = {{"service", "web"}};
  auto fired = api.Call("POST", "/v1/webhooks/ctxhook", &body);
  ASSERT_TRUE(fired.ok()) << fired.message();
  ASSERT_EQ(fired->status, 202) << fired->body << node_->Log();

  Json execution;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto listed = api.Call("GET", "/v1/executions?rule=ctxpack.on_hook");
        if (!listed.ok() || listed->status != 200) return false;
        Json list = listed->json();
        if (!list.is_array() || list.empty()) return false;
        execution = list[0];
        return true;
      },
      std::chrono::seconds(30)))
      << node_->Log();
  Json done = WaitFinal(api, execution["id"]);
  EXPECT_EQ(done["status"], "succeeded") << done.dump();
  const Json& p = done["parameters"];
  EXPECT_EQ(p["rule_ref"], "ctxpack.on_hook") << done.dump();
  EXPECT_EQ(p["rule_name"], "on_hook") << done.dump();
  ASSERT_TRUE(done["trigger_instance"].is_string()) << done.dump();
  EXPECT_FALSE(done["trigger_instance"].get<std::string>().empty());
  EXPECT_EQ(p["instance"], done["trigger_instance"]) << done.dump();
  EXPECT_EQ(p["user"], "stanley") << done.dump();
  EXPECT_EQ(p["tagged"], "eu-west-1/web") << done.dump();
  // The action's own defaults, not set by the rule: its pack's config and the same context.
  EXPECT_EQ(p["region"], "eu-west-1") << done.dump();
  EXPECT_EQ(p["disk"], 90) << done.dump();
  EXPECT_EQ(p["requested_by"], "stanley") << done.dump();
  EXPECT_EQ(p["from_pack"], "ctxpack") << done.dump();
  EXPECT_EQ(done["result"]["stdout"], "eu-west-1\n") << done.dump();
}

TEST_F(TemplateContextTest, AnExecutionRequestedByHandRendersDefaultsWithBothContexts) {
  auto api = Api();
  Json request = {{"action", "ctxpack.show"}, {"parameters", {{"user", "given"}}}};
  auto created = api.Call("POST", "/v1/executions", &request);
  ASSERT_TRUE(created.ok()) << created.message();
  ASSERT_EQ(created->status, 201) << created->body << node_->Log();
  Json done = WaitFinal(api, created->json()["id"]);
  EXPECT_EQ(done["status"], "succeeded") << done.dump();
  const Json& p = done["parameters"];
  EXPECT_EQ(p["region"], "eu-west-1") << done.dump();
  EXPECT_EQ(p["requested_by"], "stanley") << done.dump();
  EXPECT_EQ(p["from_pack"], "ctxpack") << done.dump();
  EXPECT_EQ(p["user"], "given") << done.dump();
  EXPECT_FALSE(p.contains("rule_ref")) << done.dump();
}

}  // namespace
}  // namespace gale::testing

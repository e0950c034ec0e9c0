// action_context's shape (StackStorm's) for each kind of execution, and defaults that use it,
// with a parameter of the same name hiding a context.
#include "host/requests/action_context.h"

#include <gtest/gtest.h>

#include "host/requests/action_defaults.h"

namespace gale::requests {
namespace {

TEST(ActionContextTest, ARulesExecutionNamesTheRuleAndTheTriggerInstance) {
  ActionContext c{.user = "stanley", .pack = "ops"};
  c.rule_ref = "ops.on_alert";
  c.rule_name = "on_alert";
  c.trigger_instance = "5f1c";
  EXPECT_EQ(ActionContextJson(c), Json::parse(R"({
    "user": "stanley", "pack": "ops",
    "rule": {"id": "ops.on_alert", "name": "on_alert", "ref": "ops.on_alert"},
    "trigger_instance": {"id": "5f1c", "name": null}})"));
}

TEST(ActionContextTest, AChildExecutionCarriesItsParentAndAnApiUserWhenThereIsOne) {
  ActionContext c{.user = "stanley", .pack = "ops"};
  c.parent = Json{{"execution_id", "e1"}, {"user", "dad"}};
  c.api_user = "chat-user";
  EXPECT_EQ(ActionContextJson(c), Json::parse(R"({
    "user": "stanley", "pack": "ops",
    "parent": {"execution_id": "e1", "user": "dad"}, "api_user": "chat-user"})"));
}

TEST(ActionContextTest, DefaultsSeeBothContextsAndParametersHideThem) {
  const Json vars = TemplateVars({.user = "stanley", .pack = "ops"}, Json{{"region", "eu"}});
  expr::TemplateContext ctx;
  ctx.vars = &vars;
  const Json declared = Json::parse(R"({
    "who": {"type": "string", "default": "{{ action_context.user }}@{{ config_context.region }}"}
  })");
  Json params = {{"who", declared["who"]["default"]}};
  ASSERT_TRUE(RenderTemplateDefaults(declared, Json::object(), ctx, &params).ok());
  EXPECT_EQ(params["who"], "stanley@eu");

  // Without the contexts the same default is an error naming the parameter.
  params["who"] = declared["who"]["default"];
  Status s = RenderTemplateDefaults(declared, Json::object(), {}, &params);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("default of parameter 'who'"), std::string::npos) << s.message();

  // A parameter called config_context hides the pack config.
  const Json hiding = Json::parse(R"({
    "config_context": {"type": "string"},
    "shadowed": {"type": "string", "default": "{{ config_context }}"}})");
  Json given = {{"config_context", "mine"}};
  Json hidden = {{"config_context", "mine"}, {"shadowed", "{{ config_context }}"}};
  ASSERT_TRUE(RenderTemplateDefaults(hiding, given, ctx, &hidden).ok());
  EXPECT_EQ(hidden["shadowed"], "mine");
}

}  // namespace
}  // namespace gale::requests

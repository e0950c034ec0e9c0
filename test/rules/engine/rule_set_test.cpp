// RuleSet: rules indexed by trigger type, the run-time enabled overlay, load problems reported.
#include "host/rules/engine/rule_set.h"

#include <gtest/gtest.h>

namespace gale::rules::engine {
namespace {

packs::RuleMeta Rule(const std::string& name, const std::string& trigger, const Json& criteria,
                     const std::string& action, bool enabled = true) {
  packs::RuleMeta r;
  r.pack = "p";
  r.name = name;
  r.ref = "p." + name;
  r.trigger_type = trigger;
  r.criteria = criteria;
  r.action_ref = action;
  r.enabled = enabled;
  return r;
}

packs::ActionMeta Action(const std::string& name, const Json& parameters) {
  packs::ActionMeta a;
  a.pack = "p";
  a.name = name;
  a.ref = "p." + name;
  a.runner_type = "local-shell-cmd";
  a.parameters = parameters;
  a.parameters_schema = {{"type", "object"}, {"properties", Json::object()}};
  return a;
}

std::vector<std::string> Refs(const std::vector<const CompiledRule*>& rules) {
  std::vector<std::string> out;
  for (const auto* r : rules) out.push_back(r->ref);
  return out;
}

TEST(RuleSetTest, IndexesEnabledRulesByTriggerTypeInLoadOrder) {
  auto set = RuleSet::FromMetadata(
      {Rule("a", "t.one", Json::object(), "p.act"), Rule("b", "t.two", Json::object(), "p.act"),
       Rule("c", "t.one", Json::object(), "p.act", false),
       Rule("d", "t.one", Json::object(), "p.act")},
      {Action("act", {{"cmd", {{"type", "string"}, {"immutable", true}, {"default", "x"}}}})});
  EXPECT_EQ(set->size(), 4u);
  EXPECT_EQ(Refs(set->ForTrigger("t.one")), (std::vector<std::string>{"p.a", "p.d"}));
  EXPECT_EQ(Refs(set->ForTrigger("t.two")), (std::vector<std::string>{"p.b"}));
  EXPECT_TRUE(set->ForTrigger("t.none").empty());
  ASSERT_NE(set->Find("p.a"), nullptr);
  ASSERT_NE(set->Find("p.a")->action, nullptr);
  EXPECT_EQ(set->Find("p.a")->action->immutable, (std::set<std::string>{"cmd"}));
  EXPECT_TRUE(set->warnings().empty()) << ::testing::PrintToString(set->warnings());
}

TEST(RuleSetTest, SetEnabledMakesACopyAndOverridesSurviveAReload) {
  auto set = RuleSet::FromMetadata(
      {Rule("a", "t", Json::object(), "p.act"), Rule("c", "t", Json::object(), "p.act", false)},
      {Action("act", Json::object())});
  auto changed = set->SetEnabled("p.a", false);
  ASSERT_TRUE(changed.ok());
  changed = (*changed)->SetEnabled("p.c", true);
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(Refs((*changed)->ForTrigger("t")), (std::vector<std::string>{"p.c"}));
  EXPECT_EQ(Refs(set->ForTrigger("t")), (std::vector<std::string>{"p.a"}));  // unchanged
  EXPECT_FALSE(set->SetEnabled("p.nope", true).ok());
  auto reloaded = RuleSet::FromMetadata({Rule("a", "t", Json::object(), "p.act")},
                                        {Action("act", Json::object())})
                      ->WithOverrides({{"p.a", false}, {"p.c", true}});
  EXPECT_TRUE(reloaded->ForTrigger("t").empty());
  EXPECT_FALSE(reloaded->IsEnabled("p.c"));  // no such rule any more
}

TEST(RuleSetTest, BadCriteriaAndMissingActionsAreReported) {
  auto set = RuleSet::FromMetadata(
      {Rule("bad", "t", {{"trigger.x", {{"type", "equalz"}, {"pattern", 1}}}}, "p.act"),
       Rule("orphan", "t", Json::object(), "p.missing")},
      {Action("act", Json::object())});
  ASSERT_EQ(set->warnings().size(), 2u);
  EXPECT_NE(set->warnings()[0].find("p.bad: "), std::string::npos);
  EXPECT_NE(set->warnings()[0].find("equalz"), std::string::npos);
  EXPECT_NE(set->warnings()[1].find("p.orphan: action 'p.missing' not found"), std::string::npos);
  EXPECT_FALSE(set->Find("p.bad")->criteria.has_value());
  EXPECT_EQ(set->Find("p.orphan")->action, nullptr);
}

}  // namespace
}  // namespace gale::rules::engine

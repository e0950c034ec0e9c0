// The hook calls the supervisor sends a running sensor host when rules change.
#include "host/sensors/rule_triggers.h"

#include <gtest/gtest.h>

namespace gale::sensors {
namespace {

Json Trigger(const std::string& rule, const std::string& type, Json parameters) {
  return {{"rule", rule}, {"type", type}, {"parameters", std::move(parameters)}};
}

std::vector<std::string> Calls(const std::vector<TriggerChange>& changes) {
  std::vector<std::string> out;
  for (const auto& c : changes) {
    out.push_back(c.hook + " " + c.trigger.value("rule", "") + " " + c.trigger.value("type", "") +
                  " " + c.trigger["parameters"].dump());
  }
  return out;
}

TEST(RuleTriggerChangesTest, AddedChangedAndRemovedRulesBecomeTheirHooks) {
  const Json before =
      Json::array({Trigger("p.kept", "s.t", {{"a", 1}}), Trigger("p.changed", "s.t", {{"a", 1}}),
                   Trigger("p.gone", "s.t", Json::object())});
  const Json after =
      Json::array({Trigger("p.kept", "s.t", {{"a", 1}}), Trigger("p.changed", "s.t", {{"a", 2}}),
                   Trigger("p.new", "s.u", {{"b", true}})});
  EXPECT_EQ(Calls(RuleTriggerChanges(before, after)),
            (std::vector<std::string>{"remove_trigger p.gone s.t {}",
                                      "update_trigger p.changed s.t {\"a\":2}",
                                      "add_trigger p.new s.u {\"b\":true}"}));
}

TEST(RuleTriggerChangesTest, ANewTriggerTypeIsARemovalAndAnAddition) {
  EXPECT_EQ(Calls(RuleTriggerChanges(Json::array({Trigger("p.r", "s.t", {{"a", 1}})}),
                                     Json::array({Trigger("p.r", "s.u", {{"a", 1}})}))),
            (std::vector<std::string>{"remove_trigger p.r s.t {\"a\":1}",
                                      "add_trigger p.r s.u {\"a\":1}"}));
}

TEST(RuleTriggerChangesTest, NothingChangedOrMalformedEntriesGiveNoCalls) {
  const Json same = Json::array({Trigger("p.r", "s.t", {{"a", 1}})});
  EXPECT_TRUE(RuleTriggerChanges(same, same).empty());
  // Missing parameters are the empty object, as the sensors get them.
  EXPECT_TRUE(RuleTriggerChanges(Json::array({Json{{"rule", "p.r"}, {"type", "s.t"}}}),
                                 Json::array({Trigger("p.r", "s.t", Json::object())}))
                  .empty());
  EXPECT_TRUE(RuleTriggerChanges(Json(), Json::array({42, "x", Json{{"type", "s.t"}}})).empty());
}

}  // namespace
}  // namespace gale::sensors

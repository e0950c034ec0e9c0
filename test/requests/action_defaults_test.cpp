// Template defaults of action parameters (StackStorm's core.echo cmd) rendered with the other
// parameters.
#include "host/requests/action_defaults.h"

#include <gtest/gtest.h>

namespace gale::requests {
namespace {

Json Declared() {
  return Json::parse(R"({
    "message": {"type": "string", "required": true},
    "count": {"type": "integer", "default": 2},
    "cmd": {"type": "string", "immutable": true, "default": "echo \"{{ message }}\" x{{ count }}"},
    "line": {"type": "string", "default": "[{{ cmd }}]"},
    "plain": {"type": "string", "default": "no template"}
  })");
}

TEST(ActionDefaultsTest, DefaultsSeeOtherParametersAndEachOther) {
  Json given = {{"message", "hi there"}};
  Json params = {{"message", "hi there"},
                 {"count", 2},
                 {"cmd", "echo \"{{ message }}\" x{{ count }}"},
                 {"line", "[{{ cmd }}]"},
                 {"plain", "no template"}};
  ASSERT_TRUE(RenderTemplateDefaults(Declared(), given, {}, &params).ok());
  EXPECT_EQ(params["cmd"], "echo \"hi there\" x2");
  EXPECT_EQ(params["line"], "[echo \"hi there\" x2]");
  EXPECT_EQ(params["plain"], "no template");
}

TEST(ActionDefaultsTest, GivenValuesAreNeverRendered) {
  Json given = {{"message", "{{ not rendered }}"}, {"cmd", "printf '{{x}}'"}};
  Json params = given;
  params["count"] = 2;
  params["line"] = "[{{ cmd }}]";
  ASSERT_TRUE(RenderTemplateDefaults(Declared(), given, {}, &params).ok());
  EXPECT_EQ(params["message"], "{{ not rendered }}");
  EXPECT_EQ(params["cmd"], "printf '{{x}}'");
  EXPECT_EQ(params["line"], "[printf '{{x}}']");
}

TEST(ActionDefaultsTest, SingleExpressionKeepsItsType) {
  Json declared = {{"n", {{"type", "integer"}}}, {"m", {{"default", "{{ n }}"}}}};
  Json params = {{"n", 7}, {"m", "{{ n }}"}};
  ASSERT_TRUE(RenderTemplateDefaults(declared, {{"n", 7}}, {}, &params).ok());
  EXPECT_EQ(params["m"], 7);
}

TEST(ActionDefaultsTest, UndefinedNamesAndCyclesAreErrorsNamingTheParameter) {
  Json declared = {{"a", {{"default", "{{ b }}"}}}, {"b", {{"default", "{{ a }}"}}}};
  Json params = {{"a", "{{ b }}"}, {"b", "{{ a }}"}};
  Status s = RenderTemplateDefaults(declared, Json::object(), {}, &params);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("default of parameter 'a'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("undefined"), std::string::npos) << s.message();

  Json bad = {{"c", {{"default", "{{ oops("}}}};
  Json p2 = {{"c", "{{ oops("}};
  EXPECT_FALSE(RenderTemplateDefaults(bad, Json::object(), {}, &p2).ok());
}

}  // namespace
}  // namespace gale::requests

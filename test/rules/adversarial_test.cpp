// Hostile inputs: each must come back as an error value (or a plain no-match), quickly, without
// crashing, overflowing the stack or allocating without bound.
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "host/expr/regex.h"
#include "host/expr/template/template.h"
#include "host/rules/criteria.h"

namespace gale::rules {
namespace {

Result<Json> Eval(const std::string& src, const expr::TemplateContext& ctx = {}) {
  auto t = expr::Template::Parse(src);
  if (!t.ok()) return t.status();
  return t->Evaluate(ctx);
}

// A JSON value nested `depth` levels deep (built iteratively: nlohmann parses deep input too).
Json Deep(int depth) {
  std::string text(static_cast<std::size_t>(depth), '[');
  text += "1";
  text.append(static_cast<std::size_t>(depth), ']');
  return Json::parse(text);
}

TEST(Adversarial, DeeplyNestedTemplatesAreRefused) {
  std::string parens = "{{ " + std::string(10'000, '(') + "1" + std::string(10'000, ')') + " }}";
  auto r = Eval(parens);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("nested too deeply"), std::string::npos) << r.message();
  std::string lists = "{{ " + std::string(5'000, '[') + std::string(5'000, ']') + " }}";
  EXPECT_FALSE(Eval(lists).ok());
  std::string nots = "{{ " + [] {
    std::string s;
    for (int i = 0; i < 5'000; ++i) s += "not ";
    return s;
  }() + "1 }}";
  EXPECT_FALSE(Eval(nots).ok());
  std::string sums = "{{ 1" + [] {
    std::string s;
    for (int i = 0; i < 100'000; ++i) s += " + 1";
    return s;
  }() + " }}";
  EXPECT_FALSE(Eval(sums).ok());
  std::string filters = "{{ 'x'" + [] {
    std::string s;
    for (int i = 0; i < 10'000; ++i) s += " | upper";
    return s;
  }() + " }}";
  EXPECT_FALSE(Eval(filters).ok());
  std::string ifs;
  for (int i = 0; i < 2'000; ++i) ifs += "{% if true %}";
  for (int i = 0; i < 2'000; ++i) ifs += "{% endif %}";
  EXPECT_FALSE(Eval(ifs).ok());
  std::string attrs = "{{ trigger" + [] {
    std::string s;
    for (int i = 0; i < 10'000; ++i) s += ".a";
    return s;
  }() + " }}";
  EXPECT_FALSE(Eval(attrs).ok());
}

TEST(Adversarial, OutputAndWorkAreCapped) {
  expr::TemplateContext ctx;
  ctx.limits.max_output_bytes = 1 << 20;
  ctx.limits.max_steps = 200'000;
  auto start = std::chrono::steady_clock::now();
  EXPECT_NE(Eval("{{ 'x' * 1000000000 }}", ctx).message().find("output exceeds"),
            std::string::npos);
  EXPECT_NE(Eval("{{ ['x'] * 1000000000 }}", ctx).message().find("output exceeds"),
            std::string::npos);
  EXPECT_FALSE(Eval("{{ ('x' * 1000000) ~ ('y' * 1000000) }}", ctx).ok());
  EXPECT_FALSE(Eval("{{ ('x' * 100000) | replace('x', 'yyyyyyyyyyyyyyyyyyyy') }}", ctx).ok());
  EXPECT_FALSE(Eval("{{ ('x' * 100000) | replace('', 'yyyyyyyyyyyyyyyyyyy') }}", ctx).ok());
  EXPECT_FALSE(Eval("{{ '%1000000000s' % 'x' }}", ctx).ok());
  EXPECT_FALSE(Eval("{{ range(100000000) }}", ctx).ok());
  auto loops = Eval(
      "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}", ctx);
  ASSERT_FALSE(loops.ok());
  auto nested_budget =
      Eval("{% for a in range(3000) %}{% for b in range(3000) %}{% endfor %}{% endfor %}", ctx);
  ASSERT_FALSE(nested_budget.ok());
  EXPECT_NE(nested_budget.message().find("budget"), std::string::npos) << nested_budget.message();
  EXPECT_FALSE(Eval("{{ 2 ** 100000 }}", ctx).ok());
  EXPECT_FALSE(Eval("{{ 9223372036854775807 + 1 }}", ctx).ok());
  EXPECT_FALSE(Eval("{{ -9223372036854775807 - 2 }}", ctx).ok());
  EXPECT_FALSE(Eval("{{ 99999999999999999999 }}", ctx).ok());
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(ms, 10'000);
}

TEST(Adversarial, HugeTemplatesAndParametersAreRefused) {
  std::string huge = "{{ 1 }}" + std::string(2 << 20, 'x');
  EXPECT_FALSE(expr::Template::Parse(huge).ok());
  Json deep = "{{ 1 }}";
  for (int i = 0; i < 500; ++i) deep = Json::array({deep});
  auto r = expr::RenderParameters(Json{{"p", deep}}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("nested too deeply"), std::string::npos);
  Json many = Json::object();
  for (int i = 0; i < 200; ++i) many["p" + std::to_string(i)] = "{{ 'x' * 100000 }}";
  expr::TemplateContext ctx;
  ctx.limits.max_output_bytes = 1 << 20;
  r = expr::RenderParameters(many, ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("rendered parameters exceed"), std::string::npos) << r.message();
}

TEST(Adversarial, DeeplyNestedPayloadsDoNotOverflowTheStack) {
  // Moved, never copied here: nlohmann's own copy constructor recurses.
  Json payload = Json::object();
  payload["d"] = Deep(100'000);
  expr::TemplateContext ctx;
  ctx.trigger = &payload;
  // Rendering, serialising and comparing stop at a depth limit with an error or a no-match.
  EXPECT_FALSE(Eval("x{{ trigger.d }}", ctx).ok());
  EXPECT_FALSE(Eval("{{ trigger.d | tojson }}", ctx).ok());
  EXPECT_FALSE(Eval("{{ trigger.d | to_json_string }}", ctx).ok());
  EXPECT_FALSE(Eval("{{ trigger.d | to_yaml_string }}", ctx).ok());
  EXPECT_FALSE(Eval("{{ trigger.d | to_complex }}", ctx).ok());
  EXPECT_TRUE(Eval("{{ trigger.d == trigger.d }}", ctx).ok());  // false past the depth limit
  for (const char* op : {"equals", "nequals", "lessthan", "contains", "inside"}) {
    auto c = Criteria::Compile({{"trigger.d", {{"type", op}, {"pattern", Json::array({1})}}}});
    ASSERT_TRUE(c.ok());
    std::string why;
    c->Matches(payload, ctx, &why);  // must return, whatever it says
  }
  auto deep_pattern =
      Criteria::Compile({{"trigger.d", {{"type", "equals"}, {"pattern", Deep(1000)}}}});
  ASSERT_FALSE(deep_pattern.ok());
  EXPECT_NE(deep_pattern.message().find("nested too deeply"), std::string::npos);
  auto c = Criteria::Compile({{"trigger.d", {{"type", "equals"}, {"pattern", Deep(150)}}}});
  ASSERT_TRUE(c.ok());
  std::string why;
  EXPECT_FALSE(c->Matches(payload, ctx, &why));
  EXPECT_FALSE(why.empty());
  // Wildcard paths and search over the deep value return without copying it.
  auto wild = Criteria::Compile({{"trigger.d[*]", {{"type", "exists"}}}});
  ASSERT_TRUE(wild.ok());
  EXPECT_TRUE(wild->Matches(payload, ctx));
  Json search = {{"trigger.d",
                  {{"type", "search"},
                   {"condition", "any"},
                   {"pattern", {{"item", {{"type", "equals"}, {"pattern", "{{ item }}"}}}}}}}};
  auto s = Criteria::Compile(search);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->Matches(payload, ctx));
  EXPECT_FALSE(Eval("{{ trigger.d[0] }}", ctx).ok());  // copying the result is refused
  EXPECT_FALSE(Eval("{{ [trigger.d] | length }}", ctx).ok());
  EXPECT_TRUE(Eval("{{ trigger.d | length }}", ctx).ok());  // no copy needed
  EXPECT_TRUE(Eval("{% for x in trigger.d %}{{ x | length }}{% endfor %}", ctx).ok());
}

TEST(Adversarial, HostileRegexesInRules) {
  std::string text(200'000, 'a');
  Json payload = {{"s", text}};
  auto start = std::chrono::steady_clock::now();
  for (const char* pattern :
       {"(a|aa)*b", "(a*)*b", "^(a+)+$x", "(.*){1,100}b", "(a|b|c|d|e|f)*z"}) {
    for (const char* op : {"regex", "iregex", "matchregex"}) {
      auto c = Criteria::Compile({{"trigger.s", {{"type", op}, {"pattern", pattern}}}});
      ASSERT_TRUE(c.ok());
      EXPECT_FALSE(c->Matches(payload, {})) << op << " " << pattern;
    }
  }
  auto wildcard = Criteria::Compile(
      {{"trigger.s", {{"type", "matchwildcard"}, {"pattern", "*a*a*a*a*a*a*a*a*a*b"}}}});
  ASSERT_TRUE(wildcard.ok());
  EXPECT_FALSE(wildcard->Matches(payload, {}));
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(ms, 20'000);
}

TEST(Adversarial, RandomTemplatesNeverCrash) {
  std::mt19937 rng(12345);
  const std::vector<std::string> pieces = {
      "{{",     "}}",   "{%",      "%}",  "{#",  "#}",     " ",       "trigger", ".",     "a",
      "[",      "]",    "(",       ")",   "|",   "upper",  "default", "'",       "\"",    "\\",
      "1",      "0",    "-",       "+",   "*",   "**",     "/",       "//",      "%",     "~",
      "if",     "else", "endif",   "for", "in",  "endfor", "set",     "=",       "not",   "and",
      "or",     "is",   "defined", ",",   ":",   "{",      "}",       "none",    "range", "raw",
      "endraw", "\n",   "é",       "x",   "loop"};
  Json payload = {{"a", {{"b", Json::array({1, 2})}}}};
  expr::TemplateContext ctx;
  ctx.trigger = &payload;
  ctx.limits.max_steps = 10'000;
  for (int i = 0; i < 20'000; ++i) {
    std::string src;
    int n = 1 + static_cast<int>(rng() % 24);
    for (int k = 0; k < n; ++k) src += pieces[rng() % pieces.size()];
    auto t = expr::Template::Parse(src);
    if (t.ok()) {
      (void)t->Evaluate(ctx);
      (void)t->Render(ctx);
    }
  }
}

TEST(Adversarial, RandomRegexesNeverCrash) {
  std::mt19937 rng(777);
  const std::string alphabet = "ab.*+?|()[]{}^$\\dwsSbBAZ0123,-:=!<>P#ix é";
  for (int i = 0; i < 50'000; ++i) {
    std::string p;
    int n = 1 + static_cast<int>(rng() % 16);
    for (int k = 0; k < n; ++k) p += alphabet[rng() % alphabet.size()];
    auto re = expr::Regex::Compile(p);
    if (re.ok()) {
      (void)re->Search("ab ab\nxx 12 é");
      std::vector<expr::Regex::Group> g;
      (void)re->Find("aab b1", 0, false, &g);
    }
  }
}

TEST(Adversarial, RandomBytesAsCriteriaPatterns) {
  std::mt19937 rng(99);
  Json payload = {{"s", "some value"}, {"n", 3}};
  for (int i = 0; i < 3'000; ++i) {
    std::string p;
    int n = 1 + static_cast<int>(rng() % 12);
    for (int k = 0; k < n; ++k) p += static_cast<char>(rng() % 256);
    for (const char* op : {"equals", "regex", "matchwildcard", "timediff_lt", "icontains"}) {
      auto c = Criteria::Compile({{"trigger.s", {{"type", op}, {"pattern", p}}}});
      ASSERT_TRUE(c.ok());  // bad patterns never fail compilation, they never match
      (void)c->Matches(payload, {});
    }
  }
}

}  // namespace
}  // namespace gale::rules

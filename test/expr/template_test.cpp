#include "host/expr/template/template.h"

#include <gtest/gtest.h>

#include <map>

#include "test/support/expr_cases.h"

namespace gale::expr {
namespace {

using testing::LoadJsonCases;

Result<Json> Eval(const std::string& src, const TemplateContext& ctx) {
  auto t = Template::Parse(src);
  if (!t.ok()) return t.status();
  return t->Evaluate(ctx);
}

std::string RenderOrError(const std::string& src, const TemplateContext& ctx) {
  auto t = Template::Parse(src);
  if (!t.ok()) return "ERROR: " + t.message();
  auto r = t->Render(ctx);
  return r.ok() ? *r : "ERROR: " + r.message();
}

// ---- rendering, checked case by case against Jinja2 3.1.6 with StackStorm's environment ----

TEST(TemplateJinjaParity, EveryCaseRendersAsStackStormDoes) {
  Json data = LoadJsonCases("expr/template_cases.json");
  int cases = 0;
  for (const Json& c : data["cases"]) {
    ++cases;
    const Json& trigger = data["contexts"][c["trigger"].get<std::string>()];
    TemplateContext ctx;
    ctx.trigger = &trigger;
    const std::string src = c["t"].get<std::string>();
    std::string got = RenderOrError(src, ctx);
    if (c.contains("error")) {
      EXPECT_EQ(got.rfind("ERROR: ", 0), 0u) << "template: " << src << "\n  rendered: " << got;
    } else {
      EXPECT_EQ(got, c["out"].get<std::string>()) << "template: " << src;
    }
  }
  EXPECT_GE(cases, 300);
}

// ---- type preservation ----

TEST(TemplateTypes, SingleExpressionKeepsItsJsonType) {
  Json trigger = Json::parse(
      R"({"n": 42, "f": 1.5, "b": true, "z": null, "s": "42", "o": {"k": [1, 2]}, "l": [1, "a"]})");
  TemplateContext ctx;
  ctx.trigger = &trigger;
  EXPECT_EQ(*Eval("{{ trigger.n }}", ctx), Json(42));
  EXPECT_TRUE(Eval("{{ trigger.n }}", ctx)->is_number_integer());
  EXPECT_EQ(*Eval("  {{ trigger.f }}\n", ctx), Json(1.5));
  EXPECT_EQ(*Eval("{{ trigger.b }}", ctx), Json(true));
  EXPECT_EQ(*Eval("{{ trigger.z }}", ctx), Json(nullptr));
  EXPECT_EQ(*Eval("{{ trigger.s }}", ctx), Json("42"));  // a string stays a string
  EXPECT_EQ(*Eval("{{ trigger.o }}", ctx), trigger["o"]);
  EXPECT_EQ(*Eval("{{ trigger.l }}", ctx), trigger["l"]);
  EXPECT_EQ(*Eval("{{ trigger.n + 1 }}", ctx), Json(43));
  EXPECT_EQ(*Eval("{{ [trigger.n, trigger.b] }}", ctx), Json::parse("[42, true]"));
  EXPECT_EQ(*Eval("{{ trigger.s | int }}", ctx), Json(42));
  EXPECT_EQ(*Eval("{{ trigger.z | use_none }}", ctx), Json(nullptr));
  // Mixed text renders a string, with Python's str() of each value.
  EXPECT_EQ(*Eval("n={{ trigger.n }}", ctx), Json("n=42"));
  EXPECT_EQ(*Eval("{{ trigger.n }}{{ trigger.n }}", ctx), Json("4242"));
  EXPECT_EQ(*Eval("{{ trigger.b }} {{ trigger.z }}", ctx), Json("True None"));
  EXPECT_EQ(*Eval("{% if trigger.b %}{{ trigger.n }}{% endif %}", ctx), Json("42"));
  EXPECT_EQ(*Eval("plain", ctx), Json("plain"));
  auto t = Template::Parse("{{ trigger.n }}");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->is_single_expression());
  EXPECT_FALSE(t->is_literal());
  EXPECT_TRUE(Template::Parse("no tags")->is_literal());
}

// ---- undefined names ----

TEST(TemplateUndefined, MissingKeysAreErrorsUnlessDefaulted) {
  Json trigger = {{"a", {{"b", 1}}}, {"z", nullptr}};
  TemplateContext ctx;
  ctx.trigger = &trigger;
  auto r = Eval("{{ trigger.missing }}", ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), "'trigger.missing' is undefined");
  EXPECT_EQ(Eval("x {{ trigger.a.nope }} y", ctx).message(), "'trigger.a.nope' is undefined");
  EXPECT_EQ(Eval("{{ trigger['a']['nope'] }}", ctx).message(),
            "'trigger['a']['nope']' is undefined");
  EXPECT_FALSE(Eval("{{ trigger.missing.deeper }}", ctx).ok());
  EXPECT_FALSE(Eval("{{ trigger.missing | upper }}", ctx).ok());
  EXPECT_FALSE(Eval("{{ trigger.missing ~ 'x' }}", ctx).ok());
  EXPECT_FALSE(Eval("{% if trigger.missing %}{% endif %}", ctx).ok());
  EXPECT_EQ(*Eval("{{ trigger.missing | default('x') }}", ctx), Json("x"));
  EXPECT_EQ(*Eval("{{ trigger.missing | default(none) }}", ctx), Json(nullptr));
  EXPECT_EQ(*Eval("{{ trigger.z | default('x') }}", ctx), Json(nullptr));  // None is defined
  EXPECT_EQ(*Eval("{{ trigger.z | default('x', true) }}", ctx), Json("x"));
  EXPECT_EQ(*Eval("{{ trigger.missing is defined }}", ctx), Json(false));
  EXPECT_EQ(*Eval("{{ trigger.a.b is defined }}", ctx), Json(true));
  EXPECT_FALSE(Eval("{{ unknown_name }}", ctx).ok());
  TemplateContext no_trigger;
  EXPECT_EQ(Eval("{{ trigger.x }}", no_trigger).message(), "'trigger' is undefined");
}

// ---- the datastore ----

class TemplateDatastore : public ::testing::Test {
 protected:
  std::map<std::pair<KvScope, std::string>, std::string> store = {
      {{KvScope::kSystem, "host"}, "db1"},
      {{KvScope::kSystem, "a.b"}, "dotted"},
      {{KvScope::kSystem, "secret"}, "cipher:s3cr3t"},
      {{KvScope::kUser, "token"}, "u-tok"},
      {{KvScope::kSystem, "count"}, "7"}};
  int lookups = 0;
  std::string decrypted_from;
  TemplateContext ctx() {
    TemplateContext c;
    c.kv = [this](KvScope scope, const std::string& name) -> std::optional<std::string> {
      ++lookups;
      auto it = store.find({scope, name});
      if (it == store.end()) return std::nullopt;
      return it->second;
    };
    c.decrypt = [this](const std::optional<KvKey>& from,
                       const std::string& cipher) -> Result<std::string> {
      decrypted_from = from ? from->name : "<literal>";
      if (cipher.rfind("cipher:", 0) != 0) return Status::Error("bad ciphertext");
      return cipher.substr(7);
    };
    return c;
  }
};

TEST_F(TemplateDatastore, LookupsAliasesAndScopes) {
  auto c = ctx();
  EXPECT_EQ(*Eval("{{ st2kv.system.host }}", c), Json("db1"));
  EXPECT_EQ(*Eval("{{ kv.system.host }}", c), Json("db1"));
  EXPECT_EQ(*Eval("{{ st2kv.system['host'] }}", c), Json("db1"));
  EXPECT_EQ(*Eval("{{ st2kv.system.a.b }}", c), Json("dotted"));
  EXPECT_EQ(*Eval("{{ st2kv.user.token }}", c), Json("u-tok"));
  EXPECT_EQ(*Eval("{{ system.host }}", c), Json("db1"));  // StackStorm's legacy name
  EXPECT_EQ(*Eval("{{ st2kv.system.count | int + 1 }}", c), Json(8));
  EXPECT_EQ(*Eval("{{ st2kv.system.host | upper }}-{{ st2kv.system.host }}", c), Json("DB1-db1"));
  // A missing key reads as "" (StackStorm's KeyValueLookup), so default() does not replace it.
  EXPECT_EQ(*Eval("{{ st2kv.system.nope }}", c), Json(""));
  EXPECT_EQ(*Eval("{{ st2kv.system.nope | default('x') }}", c), Json(""));
  EXPECT_EQ(*Eval("{{ st2kv.system.nope | default('x', true) }}", c), Json("x"));
  EXPECT_FALSE(Eval("{{ st2kv.system }}", c).ok());
  EXPECT_FALSE(Eval("{{ st2kv }}", c).ok());
  TemplateContext none;  // no datastore at all: every key is missing
  EXPECT_EQ(*Eval("{{ st2kv.system.host }}", none), Json(""));
}

TEST_F(TemplateDatastore, DecryptKv) {
  auto c = ctx();
  EXPECT_EQ(*Eval("{{ st2kv.system.secret | decrypt_kv }}", c), Json("s3cr3t"));
  EXPECT_EQ(decrypted_from, "secret") << "the key it was read from, to check the binding";
  EXPECT_EQ(*Eval("{{ 'cipher:x' | decrypt_kv }}", c), Json("x"));
  EXPECT_EQ(decrypted_from, "<literal>");
  auto missing = Eval("{{ st2kv.system.nope | decrypt_kv }}", c);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find(
                "Referenced datastore item \"st2kv.system.nope\" doesn't exist or it contains "
                "an empty string"),
            std::string::npos)
      << missing.message();
  EXPECT_NE(Eval("{{ st2kv.system.host | decrypt_kv }}", c).message().find("bad ciphertext"),
            std::string::npos);
  TemplateContext no_decrypt = c;
  no_decrypt.decrypt = nullptr;
  EXPECT_FALSE(Eval("{{ st2kv.system.secret | decrypt_kv }}", no_decrypt).ok());
}

TEST_F(TemplateDatastore, EachKeyIsLookedUpOncePerRender) {
  auto c = ctx();
  lookups = 0;
  EXPECT_TRUE(Eval("{{ kv.system.host }}{{ kv.system.host }}{{ st2kv.system.host }}", c).ok());
  EXPECT_EQ(lookups, 1);
}

// ---- filters (beyond the parity table) ----

TEST(TemplateFilters, StackStormFilters) {
  Json trigger = Json::parse(R"({"o": {"b": [1, "x"], "a": null}, "s": "line \"one\"\nté",
                                 "path": "/etc/app/conf.yaml", "v": "1.2.3"})");
  TemplateContext ctx;
  ctx.trigger = &trigger;
  EXPECT_EQ(*Eval("{{ trigger.o | to_json_string }}", ctx), Json(R"({"a": null,"b": [1,"x"]})"));
  EXPECT_EQ(*Eval("{{ trigger.o | to_json_string(separators=[',', ':']) }}", ctx),
            Json(R"({"a":null,"b":[1,"x"]})"));
  EXPECT_EQ(*Eval("{{ trigger.o | tojson }}", ctx), Json(R"({"a": null, "b": [1, "x"]})"));
  EXPECT_EQ(*Eval("{{ trigger.s | json_escape }}", ctx), Json(R"(line \"one\"\nt\u00e9)"));
  EXPECT_EQ(*Eval("{{ '{\"a\": [1]}' | from_json_string }}", ctx), Json::parse(R"({"a": [1]})"));
  EXPECT_FALSE(Eval("{{ '{bad' | from_json_string }}", ctx).ok());
  EXPECT_EQ(*Eval("{{ 'a: yes\\nb: [1, x]' | from_yaml_string }}", ctx),
            Json::parse(R"({"a": true, "b": [1, "x"]})"));
  EXPECT_EQ(*Eval("{{ trigger.o | to_yaml_string }}", ctx), Json("a: null\nb:\n  - 1\n  - x\n"));
  EXPECT_EQ(*Eval("{{ trigger.o | to_yaml_string | from_yaml_string }}", ctx), trigger["o"]);
  EXPECT_EQ(
      *Eval("{{ {'s': '123', 't': 'no', 'u': ''} | to_yaml_string | from_yaml_string }}", ctx),
      Json::parse(R"({"s": "123", "t": "no", "u": ""})"));
  EXPECT_EQ(*Eval("{{ trigger.path | basename }}", ctx), Json("conf.yaml"));
  EXPECT_EQ(*Eval("{{ trigger.path | dirname }}", ctx), Json("/etc/app"));
  EXPECT_EQ(*Eval("{{ trigger.v | regex_match('\\\\d') }}", ctx), Json(true));
  EXPECT_EQ(*Eval("{{ trigger.v | regex_search('\\\\.3$') }}", ctx), Json(true));
  EXPECT_EQ(*Eval("{{ trigger.v | regex_replace('\\\\.', '-') }}", ctx), Json("1-2-3"));
  EXPECT_EQ(*Eval("{{ trigger.v | regex_substring('(\\\\d)\\\\.(\\\\d)') }}", ctx),
            Json::parse(R"(["1", "2"])"));
  EXPECT_EQ(*Eval("{{ trigger.v | regex_substring('\\\\d', -1) }}", ctx), Json("3"));
  EXPECT_FALSE(Eval("{{ trigger.v | regex_match('(') }}", ctx).ok());
  EXPECT_EQ(*Eval("{{ trigger.o | jsonpath_query('b[1]') }}", ctx), Json::parse(R"(["x"])"));
  EXPECT_EQ(*Eval("{{ trigger.o | jsonpath_query('nope') }}", ctx), Json(nullptr));
  EXPECT_EQ(*Eval("{{ trigger.o.a | use_none }}", ctx), Json(nullptr));
  EXPECT_EQ(*Eval("{{ trigger.o | to_complex }}", ctx), Json(R"({"a": null, "b": [1, "x"]})"));
  EXPECT_EQ(*Eval("{{ 3.7 | round }}", ctx), Json(4.0));
  EXPECT_EQ(*Eval("{{ 3.14159 | round(2, 'floor') }}", ctx), Json(3.14));
}

// ---- malformed templates ----

TEST(TemplateErrors, SyntaxErrorsCarryAPosition) {
  struct Case {
    const char* src;
    const char* message;
  };
  const Case cases[] = {
      {"{{ trigger.a | uper }}", "unknown filter 'uper' at column 16"},
      {"{{ trigger.a is fancy }}", "unknown test 'fancy' at column 17"},
      {"echo {{ trigger.a }", "unexpected '}' at column 19"},
      {"echo {{ trigger.a ", "unexpected end of template, expected '}}' at column 19"},
      {"{{ }}", "unexpected '}}' at column 4"},
      {"{{ trigger.a + }}", "unexpected '}}' at column 16"},
      {"{{ trigger.a ) }}", "unexpected ')' at column 14"},
      {"{{ 'open }}", "unterminated string at column 4"},
      {"{{ a | replace('x') }}", "filter 'replace' is missing its argument 'new' at column 8"},
      {"{{ a | default(1, 2, 3) }}", "filter 'default' takes at most 2 arguments (3 given)"},
      {"{{ a | int(nope=1) }}", "filter 'int' got an unexpected keyword argument 'nope'"},
      {"{% if a %}x", "unexpected end of template, expected 'endif' at column 12"},
      {"{% endif %}", "unexpected 'endif' at column 1"},
      {"{% macro m() %}{% endmacro %}", "unknown tag 'macro' at column 1"},
      {"{# never closed", "missing end of comment tag at column 1"},
      {"a\n{{ b | nope }}", "unknown filter 'nope' at line 2, column 8"},
      {"{{ a $ b }}", "unexpected char '$' at column 6"},
  };
  for (const auto& c : cases) {
    auto t = Template::Parse(c.src);
    ASSERT_FALSE(t.ok()) << c.src;
    EXPECT_NE(t.message().find(c.message), std::string::npos)
        << "template: " << c.src << "\n  got:  " << t.message() << "\n  want: " << c.message;
  }
}

TEST(TemplateErrors, RuntimeErrorsAreValues) {
  Json trigger = {{"s", "x"}, {"n", 1}, {"l", Json::array()}};
  TemplateContext ctx;
  ctx.trigger = &trigger;
  EXPECT_EQ(Eval("{{ trigger.n / 0 }}", ctx).message(), "division by zero");
  EXPECT_EQ(Eval("{{ trigger.s + 1 }}", ctx).message(),
            "unsupported operand type(s) for +: 'str' and 'int'");
  EXPECT_EQ(Eval("{{ trigger.n | length }}", ctx).message(),
            "length: object of type 'int' has no len()");
  EXPECT_EQ(Eval("{{ trigger.s < 1 }}", ctx).message(),
            "'<' not supported between instances of 'str' and 'int'");
  EXPECT_EQ(Eval("{{ trigger.s.nope() }}", ctx).message(), "'str' object has no attribute 'nope'");
  EXPECT_EQ(Eval("{{ trigger.l | first }}", ctx).message(),
            "'first item of an empty sequence' is undefined");
  EXPECT_EQ(Eval("{{ trigger.n | basename }}", ctx).message(),
            "basename: expected str, bytes or os.PathLike object, not int");
}

// ---- action parameters ----

TEST(RenderParameters, RendersRecursivelyAndKeepsTypes) {
  Json trigger = Json::parse(R"({"host": "web1", "port": 8080, "tags": ["a", "b"], "z": null})");
  TemplateContext ctx;
  ctx.trigger = &trigger;
  Json params = Json::parse(R"({
    "cmd": "ssh {{ trigger.host }} -p {{ trigger.port }}",
    "port": "{{ trigger.port }}",
    "hosts": ["{{ trigger.host }}", "static", 3],
    "opts": {"tags": "{{ trigger.tags }}", "first": "{{ trigger.tags[0] | upper }}"},
    "nothing": "{{ trigger.z }}",
    "magic": "{{ trigger.z | use_none }}",
    "raw": "no template here\n",
    "braces": "a { b } c",
    "number": 5, "flag": true, "null": null})");
  auto r = RenderParameters(params, ctx);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(*r, Json::parse(R"({
    "cmd": "ssh web1 -p 8080", "port": 8080, "hosts": ["web1", "static", 3],
    "opts": {"tags": ["a", "b"], "first": "A"}, "nothing": null, "magic": null,
    "raw": "no template here\n", "braces": "a { b } c", "number": 5, "flag": true,
    "null": null})"));
}

TEST(RenderParameters, ErrorsNameTheParameter) {
  Json trigger = {{"x", 1}};
  TemplateContext ctx;
  ctx.trigger = &trigger;
  auto r = RenderParameters(Json::parse(R"({"cmd": "{{ trigger.x | uper }}"})"), ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), "parameters.cmd: unknown filter 'uper' at column 16");
  r = RenderParameters(Json::parse(R"({"hosts": ["ok", "{{ trigger.gone }}"]})"), ctx);
  EXPECT_EQ(r.message(), "parameters.hosts[1]: 'trigger.gone' is undefined");
  r = RenderParameters(Json::parse(R"({"a": {"b": "x {{ trigger.x } y"}})"), ctx);
  EXPECT_EQ(r.message(), "parameters.a.b: unexpected '}' at column 16");
  r = RenderValue(Json("{{ }}"), ctx, "action.cmd");
  EXPECT_EQ(r.message(), "action.cmd: unexpected '}}' at column 4");
}

TEST(RenderParameters, MalformedAsLiteralKeepsStackStormsFallback) {
  TemplateContext ctx;
  ctx.malformed_as_literal = true;
  Json params = {{"cmd", "docker inspect -f '{{.State.Running}}' web"}};
  auto r = RenderParameters(params, ctx);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(*r, params);
  ctx.malformed_as_literal = false;
  EXPECT_FALSE(RenderParameters(params, ctx).ok());
}

}  // namespace
}  // namespace gale::expr

// Workflow expressions: YAQL (<% %>) case by case from yaql_cases.json, the workflow functions in
// both YAQL and Jinja, parse-time rejection with positions, rendering and limits.
#include "host/expr/workflow_expr.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "host/expr/template/template.h"
#include "host/expr/yaql/yaql.h"
#include "test/support/expr_cases.h"

namespace gale::expr {
namespace {

using testing::LoadJsonCases;

// A workflow's view as the engine would give it: variables, the current task, its item,
// other tasks' records and the datastore.
class FakeContext : public ExprContext {
 public:
  Json vars = Json::object();
  std::optional<Json> result;
  std::optional<Json> item;
  std::string status;
  std::map<std::string, Json> tasks;
  std::string current_task;
  std::map<std::string, std::string> system_kv;
  std::map<std::string, std::string> user_kv;
  mutable std::vector<std::string> kv_calls;
  bool kv_fails = false;

  const Json& Vars() const override { return vars; }
  const Json* CurrentResult() const override { return result ? &*result : nullptr; }
  const Json* CurrentItem() const override { return item ? &*item : nullptr; }
  std::string CurrentStatus() const override { return status; }
  Status Task(const std::optional<std::string>& name, Json* out) const override {
    const std::string id = name ? *name : current_task;
    auto it = tasks.find(id);
    if (it == tasks.end()) return Status::Error("no task \"" + id + "\"");
    *out = it->second;
    return Status::Ok();
  }
  Result<std::optional<std::string>> Kv(KvScope scope, const std::string& name,
                                        bool decrypt) const override {
    kv_calls.push_back(std::string(scope == KvScope::kSystem ? "system:" : "user:") + name +
                       (decrypt ? ":decrypt" : ""));
    if (kv_fails) return Status::Error("datastore unreachable", true);
    const auto& kv = scope == KvScope::kSystem ? system_kv : user_kv;
    auto it = kv.find(name);
    if (it == kv.end()) return std::optional<std::string>();
    return std::optional<std::string>(decrypt ? "plain:" + it->second : it->second);
  }
};

std::string ParseError(const std::string& src) {
  auto e = WorkflowExpression::Parse(src);
  return e.ok() ? "parsed" : e.message();
}

Result<Json> Eval(const std::string& src, const ExprContext& ctx) {
  auto e = WorkflowExpression::Parse(src);
  if (!e.ok()) return e.status();
  return e->Evaluate(ctx);
}

std::string EvalError(const std::string& src, const ExprContext& ctx) {
  auto r = Eval(src, ctx);
  return r.ok() ? "no error: " + r->dump() : r.message();
}

bool SameJson(const Json& a, const Json& b) {
  if (a.is_number_float() != b.is_number_float()) return false;
  if (a.is_array() && b.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!SameJson(a[i], b[i])) return false;
    }
    return true;
  }
  return a == b;
}

// ---- YAQL, construct by construct ----

TEST(YaqlCases, EveryCaseEvaluatesAsYaqlDoes) {
  Json data = LoadJsonCases("expr/yaql_cases.json");
  FakeContext ctx;
  ctx.vars = data["data"];
  int cases = 0;
  for (const Json& c : data["cases"]) {
    ++cases;
    const std::string src = "<% " + c["e"].get<std::string>() + " %>";
    auto parsed = WorkflowExpression::Parse(src);
    if (c.contains("parse_error")) {
      ASSERT_FALSE(parsed.ok()) << src << " parsed";
      EXPECT_NE(parsed.message().find(c["parse_error"].get<std::string>()), std::string::npos)
          << src << "\n  error: " << parsed.message();
      continue;
    }
    ASSERT_TRUE(parsed.ok()) << src << ": " << parsed.message();
    EXPECT_EQ(parsed->language(), WorkflowExpression::Language::kYaql);
    auto got = parsed->Evaluate(ctx);
    if (c.contains("error")) {
      ASSERT_FALSE(got.ok()) << src << " gave " << got->dump();
      EXPECT_NE(got.message().find(c["error"].get<std::string>()), std::string::npos)
          << src << "\n  error: " << got.message();
      continue;
    }
    ASSERT_TRUE(got.ok()) << src << ": " << got.message();
    const Json want = c["v"] == "__DATA__" ? data["data"] : c["v"];
    EXPECT_TRUE(SameJson(*got, want))
        << src << "\n  got:  " << got->dump() << "\n  want: " << want.dump();
  }
  EXPECT_GE(cases, 250);
}

TEST(YaqlLambdas, DollarIsTheElementInsideAndTheDataOutside) {
  FakeContext ctx;
  ctx.vars = Json::parse(R"({"min": 3, "items": [{"size": 2, "name": "a"}, {"size": 4,
      "name": "b"}], "size": 100})");
  // Inside where() `$` is the element; ctx() still reaches the workflow's variables.
  EXPECT_EQ(*Eval("<% $.items.where($.size > ctx(min)).select($.name) %>", ctx),
            Json::parse(R"(["b"])"));
  // After the lambda, `$` is the data again.
  EXPECT_EQ(*Eval("<% $.items.select($.size).len() + $.size %>", ctx), Json(102));
  EXPECT_EQ(*Eval("<% $.items.where($.size < $.size) %>", ctx), Json::array());
}

TEST(YaqlValues, ResultsKeepTheirJsonTypes) {
  FakeContext ctx;
  ctx.vars = Json::parse(R"({"i": 2, "f": 0.5, "s": "x", "o": {"k": [1]}})");
  EXPECT_TRUE(Eval("<% ctx(i) %>", ctx)->is_number_integer());
  EXPECT_TRUE(Eval("<% ctx(i) * 2 %>", ctx)->is_number_integer());
  EXPECT_TRUE(Eval("<% ctx(i) / 2 %>", ctx)->is_number_integer());
  EXPECT_TRUE(Eval("<% ctx(i) / 2.0 %>", ctx)->is_number_float());
  EXPECT_TRUE(Eval("<% ctx(f) %>", ctx)->is_number_float());
  EXPECT_TRUE(Eval("<% ctx(o) %>", ctx)->is_object());
  EXPECT_TRUE(Eval("  <% ctx(o).k %>\n", ctx)->is_array());  // whitespace around: still the value
  // Numbers parsed from JSON text (a parameter) are unsigned: they still repeat a list.
  EXPECT_EQ(*Eval("<% ctx(i) * [1] %>", ctx), Json::parse("[1, 1]"));
  EXPECT_EQ(*Eval("<% 'ab' * ctx(i) %>", ctx), Json("abab"));
  EXPECT_EQ(*Eval("<% ctx(s) %>", ctx), Json("x"));
}

// ---- the workflow functions ----

TEST(WorkflowFunctionsYaql, ResultItemAndTaskStatus) {
  FakeContext ctx;
  ctx.result = Json::parse(R"({"stdout": "ok", "return_code": 0})");
  ctx.item = Json::parse(R"({"host": "a", "port": 22})");
  ctx.status = "succeeded";
  EXPECT_EQ(*Eval("<% result() %>", ctx), *ctx.result);
  EXPECT_EQ(*Eval("<% result().stdout %>", ctx), Json("ok"));
  EXPECT_EQ(*Eval("<% result().return_code = 0 %>", ctx), Json(true));
  EXPECT_EQ(*Eval("<% item() %>", ctx), *ctx.item);
  EXPECT_EQ(*Eval("<% item(host) %>", ctx), Json("a"));
  EXPECT_EQ(*Eval("<% item('port') + 1 %>", ctx), Json(23));
  EXPECT_EQ(*Eval("<% item().port %>", ctx), Json(22));
  EXPECT_NE(EvalError("<% item(user) %>", ctx).find("the item does not have key \"user\""),
            std::string::npos);
  EXPECT_EQ(*Eval("<% succeeded() %>", ctx), Json(true));
  EXPECT_EQ(*Eval("<% failed() %>", ctx), Json(false));
  EXPECT_EQ(*Eval("<% completed() %>", ctx), Json(true));
  EXPECT_EQ(*Eval("<% succeeded() and result().stdout = 'ok' %>", ctx), Json(true));
  for (const char* s : {"failed", "expired", "abandoned", "canceled"}) {
    ctx.status = s;
    EXPECT_EQ(*Eval("<% completed() %>", ctx), Json(true)) << s;
    EXPECT_EQ(*Eval("<% succeeded() %>", ctx), Json(false)) << s;
  }
  EXPECT_EQ(*Eval("<% failed() %>", ctx), Json(false));  // canceled is not failed
  ctx.status = "failed";
  EXPECT_EQ(*Eval("<% failed() %>", ctx), Json(true));
  for (const char* s : {"running", "pending", "paused"}) {
    ctx.status = s;
    EXPECT_EQ(*Eval("<% completed() %>", ctx), Json(false)) << s;
  }

  ctx.item = Json(5);
  EXPECT_EQ(*Eval("<% item() * 2 %>", ctx), Json(10));
  EXPECT_NE(EvalError("<% item(x) %>", ctx).find("the item is not a dict"), std::string::npos);

  FakeContext none;  // outside a task
  EXPECT_NE(EvalError("<% result() %>", none).find("result(): the current task is not set"),
            std::string::npos);
  EXPECT_NE(EvalError("<% succeeded() %>", none).find("the current task is not set"),
            std::string::npos);
  EXPECT_NE(EvalError("<% item() %>", none).find("not in a with-items task"), std::string::npos);
}

TEST(WorkflowFunctionsYaql, TaskLooksUpTaskRecords) {
  FakeContext ctx;
  ctx.current_task = "b";
  ctx.tasks["a"] = Json::parse(R"({"id": "a", "status": "succeeded", "result": {"x": 1}})");
  ctx.tasks["b"] = Json::parse(R"({"id": "b", "status": "running"})");
  EXPECT_EQ(*Eval("<% task(a).result.x %>", ctx), Json(1));
  EXPECT_EQ(*Eval("<% task('a').status %>", ctx), Json("succeeded"));
  EXPECT_EQ(*Eval("<% task().id %>", ctx), Json("b"));
  EXPECT_NE(EvalError("<% task(zz) %>", ctx).find("task(): no task \"zz\" at column 4"),
            std::string::npos);
  EXPECT_NE(EvalError("<% task(1) %>", ctx).find("the task name must be a string"),
            std::string::npos);
}

TEST(WorkflowFunctionsYaql, St2kvReadsTheDatastoreThroughTheContext) {
  FakeContext ctx;
  ctx.system_kv["api.token"] = "t0k";
  ctx.user_kv["pref"] = "dark";
  EXPECT_EQ(*Eval("<% st2kv('system.api.token') %>", ctx), Json("t0k"));
  EXPECT_EQ(*Eval("<% st2kv('pref') %>", ctx), Json("dark"));
  EXPECT_EQ(*Eval("<% st2kv('system.api.token', decrypt => true) %>", ctx), Json("plain:t0k"));
  EXPECT_EQ(*Eval("<% st2kv(key => 'pref', decrypt => false) %>", ctx), Json("dark"));
  EXPECT_EQ(ctx.kv_calls, (std::vector<std::string>{"system:api.token", "user:pref",
                                                    "system:api.token:decrypt", "user:pref"}));
  EXPECT_NE(EvalError("<% st2kv('system.nope') %>", ctx)
                .find("st2kv(): the key \"system.nope\" does not exist in the datastore"),
            std::string::npos);
  ctx.kv_fails = true;
  EXPECT_NE(EvalError("<% st2kv('pref') %>", ctx).find("datastore unreachable"), std::string::npos);
}

TEST(WorkflowFunctionsJinja, TheSameFunctionsAreCallableInJinja) {
  FakeContext ctx;
  ctx.vars = Json::parse(R"({"x": 5, "names": ["a", "b"], "o": {"k": "v"}})");
  ctx.result = Json::parse(R"({"stdout": "hi"})");
  ctx.item = Json("it");
  ctx.status = "failed";
  ctx.system_kv["k"] = "sys";
  ctx.tasks["t1"] = Json::parse(R"({"result": {"n": 3}})");
  EXPECT_EQ(*Eval("{{ ctx('x') }}", ctx), Json(5));
  EXPECT_EQ(*Eval("{{ ctx().x + 1 }}", ctx), Json(6));
  EXPECT_EQ(*Eval("{{ ctx().o.k }}", ctx), Json("v"));
  EXPECT_EQ(*Eval("{{ ctx() }}", ctx), ctx.vars);
  EXPECT_EQ(*Eval("{{ result().stdout }}", ctx), Json("hi"));
  EXPECT_EQ(*Eval("{{ item() }}", ctx), Json("it"));
  EXPECT_EQ(*Eval("{{ st2kv('system.k') }}", ctx), Json("sys"));
  EXPECT_EQ(*Eval("{{ st2kv('system.k', decrypt=true) }}", ctx), Json("plain:sys"));
  EXPECT_EQ(*Eval("{{ failed() }}", ctx), Json(true));
  EXPECT_EQ(*Eval("{{ succeeded() or completed() }}", ctx), Json(true));
  EXPECT_EQ(*Eval("{{ task('t1').result.n * 2 }}", ctx), Json(6));
  // Jinja itself still works around them: filters, statements, mixed text.
  EXPECT_EQ(*Eval("{{ ctx('names') | join(',') }}", ctx), Json("a,b"));
  EXPECT_EQ(*Eval("{% for n in ctx().names %}[{{ n }}]{% endfor %}", ctx), Json("[a][b]"));
  EXPECT_EQ(*Eval("x={{ ctx('x') }}, ok={{ failed() }}", ctx), Json("x=5, ok=True"));
  EXPECT_EQ(*Eval("{{ range(2) | list }}", ctx), Json::parse("[0, 1]"));
  auto e = WorkflowExpression::Parse("{{ ctx('x') }}");
  EXPECT_EQ(e->language(), WorkflowExpression::Language::kJinja);
  EXPECT_TRUE(e->is_single_expression());

  EXPECT_NE(EvalError("{{ ctx('nope') }}", ctx).find("ctx(): the variable \"nope\" is undefined"),
            std::string::npos);
  EXPECT_NE(EvalError("{{ ctx().nope }}", ctx).find("undefined"), std::string::npos);
}

TEST(WorkflowFunctionsJinja, UnknownFunctionsFailAtParseTime) {
  EXPECT_NE(ParseError("{{ ctxx('x') }}").find("unknown function 'ctxx' at column 4"),
            std::string::npos);
  EXPECT_NE(ParseError("a\n{{ lookup('x') }}")
                .find("unknown function 'lookup' at line 2, "
                      "column 4"),
            std::string::npos);
  EXPECT_NE(ParseError("{{ ctx('a', 'b') }}").find("ctx() takes at most 1 argument"),
            std::string::npos);
  EXPECT_NE(ParseError("{{ st2kv() }}").find("st2kv() missing required argument 'key'"),
            std::string::npos);
  EXPECT_NE(ParseError("{{ st2kv('k', nope=1) }}").find("unexpected keyword argument 'nope'"),
            std::string::npos);
  EXPECT_NE(ParseError("{{ ctx('x') | nofilter }}").find("unknown filter 'nofilter'"),
            std::string::npos);
  EXPECT_EQ(ParseError("{{ ctx('x').upper() }}"), "parsed");  // methods are not functions
}

TEST(TemplateFunctionHook, WithoutProviderTemplatesBehaveAsBefore) {
  // A template parsed without functions (rules, action parameters) keeps Jinja's behaviour: a
  // call of an unknown name fails when evaluated, not when parsed.
  auto t = Template::Parse("{{ ctx('x') }}");
  ASSERT_TRUE(t.ok()) << t.message();
  TemplateContext tctx;
  auto r = t->Evaluate(tctx);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("'ctx' is not callable"), std::string::npos) << r.message();
  // Parsed with the functions but evaluated without a provider: an error, not a crash.
  auto w = Template::Parse("{{ ctx('x') }}", &WorkflowFunctionCatalog());
  ASSERT_TRUE(w.ok());
  r = w->Evaluate(tctx);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("function 'ctx' is not available here"), std::string::npos);
  // The catalog alone cannot evaluate (no running workflow).
  tctx.functions = &WorkflowFunctionCatalog();
  r = w->Evaluate(tctx);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("not available outside a running workflow"), std::string::npos);
}

// ---- strings with expressions ----

TEST(WorkflowExpressionText, LiteralSingleAndMixed) {
  FakeContext ctx;
  ctx.vars = Json::parse(R"({"n": 7, "b": true, "z": null, "l": [1, "a"], "s": "str"})");
  auto lit = WorkflowExpression::Parse("just text, 50% off {not jinja}");
  ASSERT_TRUE(lit.ok());
  EXPECT_EQ(lit->language(), WorkflowExpression::Language::kLiteral);
  EXPECT_EQ(*lit->Evaluate(ctx), Json("just text, 50% off {not jinja}"));
  EXPECT_FALSE(HasWorkflowExpression("plain"));
  EXPECT_TRUE(HasWorkflowExpression("a <% 1 %>"));
  EXPECT_TRUE(HasWorkflowExpression("{{ 1 }}"));

  auto single = WorkflowExpression::Parse(" <% ctx(l) %> ");
  EXPECT_TRUE(single->is_single_expression());
  EXPECT_EQ(*single->Evaluate(ctx), Json::parse(R"([1, "a"])"));
  // Mixed text: every value as Python's str(), as Orquesta renders it.
  EXPECT_EQ(
      *Eval("n=<% ctx(n) %> b=<% ctx(b) %> z=<% ctx(z) %> l=<% ctx(l) %> s=<% ctx(s) %>", ctx),
      Json("n=7 b=True z=None l=[1, 'a'] s=str"));
  EXPECT_EQ(*Eval("<% ctx(n) %><% ctx(n) %>", ctx), Json("77"));
  EXPECT_FALSE(WorkflowExpression::Parse("<% 1 %><% 2 %>")->is_single_expression());
  // The inline-parameter form of an Orquesta task's action line.
  EXPECT_EQ(*Eval("core.local cmd=<% ctx(s) %> timeout=<% ctx(n) * 2 %>", ctx),
            Json("core.local cmd=str timeout=14"));
}

TEST(WorkflowExpressionText, ParseErrorsNameThePlace) {
  EXPECT_EQ(ParseError("abc <% 1 + "), "unterminated '<%' at column 5");
  EXPECT_EQ(ParseError("x: <% ctx(a) %> and <% lenn(1) %>"),
            "expression '<% lenn(1) %>': unknown function 'lenn' at column 24");
  EXPECT_NE(ParseError("first line\n  <% $.a +\n  nope(1) %>")
                .find("unknown function 'nope' at line 3, column 3"),
            std::string::npos);
  EXPECT_NE(ParseError("first line\n  <% $.a +\n  nope( %>")
                .find("unexpected end of expression at line 3, column 9"),
            std::string::npos);
  EXPECT_NE(ParseError("<% ctx(a) %> {{ ctx('b') }}").find("not both, at column 14"),
            std::string::npos);
  EXPECT_NE(ParseError("{{ ctx('b') }} <% 1 %>").find("not both, at column 16"), std::string::npos);
  EXPECT_NE(ParseError("{{ ctx('b') }").find("expression '{{ ctx('b') }': "), std::string::npos);
}

TEST(WorkflowExpressionText, ParseErrorsGiveAPositionForFileAndLine) {
  SourcePosition at;
  EXPECT_FALSE(WorkflowExpression::Parse("x: <% ctx(a) %> and <% lenn(1) %>", &at).ok());
  EXPECT_EQ(at.line, 1);
  EXPECT_EQ(at.column, 24);
  at = {};
  EXPECT_FALSE(WorkflowExpression::Parse("first\nsecond <% $.a +\n  nope(1) %>", &at).ok());
  EXPECT_EQ(at.line, 3);
  EXPECT_EQ(at.column, 3);
  at = {};
  EXPECT_FALSE(WorkflowExpression::Parse("a\n\n{{ ctx('x') | nope }}", &at).ok());
  EXPECT_EQ(at.line, 3);
  EXPECT_EQ(at.column, 15);
  at = {};
  EXPECT_FALSE(WorkflowExpression::Parse("é <% 1 +", &at).ok());  // columns count code points
  EXPECT_EQ(at.column, 3);
  at = {7, 7};
  EXPECT_TRUE(WorkflowExpression::Parse("<% 1 %>", &at).ok());
  EXPECT_EQ(at.line, 7);  // untouched on success
}

TEST(WorkflowExpressionText, EvaluationErrorsQuoteTheExpression) {
  FakeContext ctx;
  ctx.vars = Json::parse(R"({"a": {"b": 1}})");
  EXPECT_EQ(EvalError("value: <% ctx(a).c %>", ctx),
            "expression '<% ctx(a).c %>': key 'c' not found at column 17");
  EXPECT_EQ(EvalError("<% ctx(a).b + 'x' %>", ctx),
            "expression '<% ctx(a).b + 'x' %>': unsupported operand types for +: integer and "
            "string at column 13");
}

TEST(WorkflowExpressionText, TheExamplesInDocsWorkflowsMdHold) {
  EXPECT_EQ(ParseError("<% ctx(hosts).lenght() %>"),
            "expression '<% ctx(hosts).lenght() %>': unknown function 'lenght' at column 15");
  EXPECT_EQ(ParseError("<% $.a =~ 'x' %>"),
            "expression '<% $.a =~ 'x' %>': operator '=~' is not supported at column 8");
  EXPECT_EQ(ParseError("abc <% 1 + "), "unterminated '<%' at column 5");
  FakeContext ctx;
  ctx.vars = Json::parse(R"({"n": 7, "a": {}, "vms": [{"name": "a", "state": "running"},
      {"name": "b", "state": "stopped"}, {"name": "c", "state": "running"}]})");
  ctx.status = "succeeded";
  EXPECT_EQ(EvalError("<% ctx(a).c %>", ctx),
            "expression '<% ctx(a).c %>': key 'c' not found at column 10");
  EXPECT_EQ(*Eval("<% ctx(n) * 2 %>", ctx), Json(14));
  EXPECT_EQ(*Eval("n=<% ctx(n) %> ok=<% succeeded() %>", ctx), Json("n=7 ok=True"));
  EXPECT_EQ(*Eval("<% $.vms.where($.state = 'running').select($.name).join(', ') %>", ctx),
            Json("a, c"));
}

// ---- limits: hostile expressions fail, they do not hang or crash ----

TEST(YaqlLimits, ExpensiveOrDeepExpressionsFailCleanly) {
  FakeContext ctx;
  Json big = Json::array();
  for (int i = 0; i < 200; ++i) big.push_back(i);
  ctx.vars["l"] = big;
  const std::string cubic = EvalError("<% $.l.select(ctx(l).select(ctx(l).select($))) %>", ctx);
  EXPECT_NE(cubic.find("expression took too many steps"), std::string::npos) << cubic;
  ctx.vars["long"] = std::string(200000, 'a');
  ctx.vars["longs"] =
      Json::array({ctx.vars["long"], ctx.vars["long"], ctx.vars["long"], ctx.vars["long"]});
  EXPECT_EQ(*Eval("<% ctx(longs).where(regex_match($, 'a+$')).len() %>", ctx), Json(4));
  EXPECT_NE(EvalError("<% ctx(longs).select(ctx(longs).where(regex_match($, 'a+$'))) %>", ctx)
                .find("too many steps"),
            std::string::npos);
  std::string deep = "<% " + std::string(300, '(') + "1" + std::string(300, ')') + " %>";
  EXPECT_NE(ParseError(deep).find("nested too deeply"), std::string::npos);
  std::string negs = "<% " + std::string(500, '-') + "1 %>";
  EXPECT_NE(ParseError(negs).find("nested too deeply"), std::string::npos);
  std::string chain = "<% $";
  for (int i = 0; i < 300; ++i) chain += ".a";
  EXPECT_NE(ParseError(chain + " %>").find("nested too deeply"), std::string::npos);
  std::string lists = "<% " + std::string(300, '[') + std::string(300, ']') + " %>";
  EXPECT_NE(ParseError(lists).find("nested too deeply"), std::string::npos);
  EXPECT_NE(ParseError("<% '" + std::string(70000, 'a') + "' %>").find("too long"),
            std::string::npos);
  // A long chain nests as deeply as parentheses would: fine up to the limit, refused beyond.
  std::string sum = "<% 0";
  for (int i = 0; i < 150; ++i) sum += " + 1";
  EXPECT_EQ(*Eval(sum + " %>", ctx), Json(150));
  for (int i = 0; i < 10000; ++i) sum += " + 1";
  EXPECT_NE(ParseError(sum + " %>").find("nested too deeply"), std::string::npos);
  std::string ands = "<% true";
  for (int i = 0; i < 5000; ++i) ands += " and true";
  EXPECT_NE(ParseError(ands + " %>").find("nested too deeply"), std::string::npos);
  // The string size limit applies to built strings.
  EXPECT_NE(EvalError("<% ('x' * 600000) + ('x' * 600000) %>", ctx).find("string too long"),
            std::string::npos);
}

TEST(YaqlApi, ParsedOnceEvaluatedAgainstManyContexts) {
  auto e = yaql::Expression::Parse("$.a * 2");
  ASSERT_TRUE(e.ok());
  for (int i = 0; i < 5; ++i) {
    Json root = {{"a", i}};
    EXPECT_EQ(*e->Evaluate(root, nullptr), Json(i * 2));
  }
  // A host function parsed with a provider, evaluated without one: an error.
  auto c = yaql::Expression::Parse("ctx(a)", &WorkflowFunctionCatalog());
  ASSERT_TRUE(c.ok());
  auto r = c->Evaluate(Json::object(), nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), "function 'ctx' is not available here at column 1");
  // Without a provider, ctx is just an unknown function.
  EXPECT_EQ(yaql::Expression::Parse("ctx(a)").status().message(),
            "unknown function 'ctx' at column 1");
}

}  // namespace
}  // namespace gale::expr

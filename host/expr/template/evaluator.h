// Internal: evaluates a parsed template against a TemplateContext.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "host/expr/regex.h"
#include "host/expr/template/ast.h"

namespace gale::expr::tmpl {

// StackStorm's `use_none` marker: a parameter rendered to exactly this text becomes None.
inline constexpr std::string_view kNoneMagic = "%*****__%NONE%__*****%";

class Evaluator {
 public:
  Evaluator(const Program& program, const TemplateContext& ctx) : prog_(program), ctx_(ctx) {}

  Status Render(std::string* out);
  Status EvaluateSingle(Json* out);

  // ---- for filters, tests and methods ----
  const TemplateContext& ctx() const { return ctx_; }
  // Resolves datastore references; fails on undefined values.
  Status Need(Value& v);
  // Need() and a pointer to the JSON value.
  Status JsonOf(Value& v, const Json** out);
  // Python str() of the value.
  Status StrOf(Value& v, std::string* out);
  // Python truthiness (fails on undefined values, as StrictUndefined does).
  Status Truthy(Value& v, bool* out);
  // Fails when a string of `bytes` would exceed the output limit.
  Status CheckSize(std::size_t bytes) const;
  // Copies a value into a new one; fails when it is nested too deeply to copy safely.
  Status Copy(const Json& src, Json* dst) const;
  Status TooBig() const;
  // Compiles (and caches for this render) a regex for the regex_* filters.
  Status GetRegex(const std::string& pattern, bool icase, const Regex** out);
  std::string UndefinedMessage(const Value& v) const;
  std::string Source(const Expr& e) const;
  // Python comparison operators (`in` included) with Python's TypeErrors.
  Status Compare(CmpOp op, Value& a, Value& b, bool* out);

 private:
  Status Eval(const Expr& e, Value* out);
  // Eval's larger cases, one per kind of expression.
  Status EvalFilter(const Expr& e, Value* out);
  Status EvalTest(const Expr& e, Value* out);
  Status EvalSign(const Expr& e, Value* out);
  Status EvalCompare(const Expr& e, Value* out);
  Status EvalAndOr(const Expr& e, Value* out);
  Status EvalCond(const Expr& e, Value* out);
  Status EvalList(const Expr& e, Value* out);
  Status EvalDict(const Expr& e, Value* out);
  Status RenderNodes(const std::vector<Node>& nodes, std::string* out);
  Status RenderFor(const Node& n, std::string* out);
  Status Step();
  Status LookupName(const Expr& e, Value* out);
  Status GetAttr(Value& subject, const std::string& name, const Expr& e, Value* out);
  Status GetItem(Value& subject, Value& key, const Expr& e, Value* out);
  Status Slice(const Expr& e, Value* out);
  Status CallExpr(const Expr& e, Value* out);
  Status HostCall(const Expr& e, Value* out);
  Status Method(Value& receiver, const std::string& name, std::vector<Value>& args, Value* out);
  Status Binary(BinOp op, Value& a, Value& b, Value* out);
  // Binary's non-arithmetic cases: `~`, and operators on strs, lists and other non-numbers.
  Status Concat(Value& a, Value& b, Value* out);
  Status NonNumeric(BinOp op, const Json& x, const Json& y, Value& b, Value* out);
  Status Repeat(const Json& seq, long long times, Value* out);
  Status Format(const std::string& fmt, Value& arg, Value* out);

  const Program& prog_;
  const TemplateContext& ctx_;
  std::vector<std::pair<std::string, Value>> locals_;
  std::size_t steps_ = 0;
  std::map<std::pair<std::string, bool>, Regex> regexes_;
  std::map<std::pair<KvScope, std::string>, std::string> kv_cache_;
};

}  // namespace gale::expr::tmpl

// Internal: evaluates a parsed YAQL expression over JSON values.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "host/common/json.h"
#include "host/common/result.h"
#include "host/expr/yaql/ast.h"
#include "host/expr/yaql/yaql.h"

namespace gale::expr::yaql {

struct Program {
  std::string text;  // the whole string the expression came from, for positions in messages
  NodePtr root;
};

// A value during evaluation: borrowed from the data (no copy of a large context for ctx().x)
// or owned by `holder`. `query` marks a collection a query built (where, select, keys...): YAQL
// returns those as iterators, which list() spreads, as it does not spread a plain list.
struct Val {
  std::shared_ptr<const Json> holder;
  const Json* ref = nullptr;
  bool query = false;

  const Json& json() const { return *ref; }
  static Val Of(Json j, bool query = false) {
    Val v;
    v.holder = std::make_shared<const Json>(std::move(j));
    v.ref = v.holder.get();
    v.query = query;
    return v;
  }
  static Val Ref(const Json& j) {
    Val v;
    v.ref = &j;
    return v;
  }
  Val Child(const Json& j) const {
    Val v;
    v.holder = holder;
    v.ref = &j;
    return v;
  }
};

class Evaluator {
 public:
  Evaluator(const Program& program, const ExprFunctions* functions, const Limits& limits)
      : prog_(program), functions_(functions), limits_(limits) {}

  Status Eval(const Node& n, Val* out);
  // Evaluates a lambda argument with `$` bound to `element`.
  Status EvalLambda(const Node& n, const Val& element, Val* out);

  // ---- for builtins ----
  Status Error(const Node& n, const std::string& what) const;
  Status Step(const Node& n, std::size_t count = 1);
  Status CheckString(const Node& n, std::size_t bytes) const;
  Status CheckItems(const Node& n, std::size_t items) const;
  // Copies a value into a new one (depth-checked, so a hostile value cannot overflow the stack).
  Status Copy(const Node& n, const Json& src, Json* dst) const;
  void PushRoot(Val v) { roots_.push_back(std::move(v)); }

 private:
  Status EvalAttr(const Node& n, Val* out);
  Status EvalIndex(const Node& n, Val* out);
  Status EvalCall(const Node& n, Val* out);
  Status EvalHostCall(const Node& n, Val* out);
  Status EvalUnary(const Node& n, Val* out);
  Status EvalBinary(const Node& n, Val* out);
  Status EvalList(const Node& n, Val* out);
  Status EvalDict(const Node& n, Val* out);
  Status Arith(const Node& n, const Json& a, const Json& b, Val* out);
  Status Plus(const Node& n, const Json& a, const Json& b, Val* out);
  Status Times(const Node& n, const Json& a, const Json& b, Val* out);

  const Program& prog_;
  const ExprFunctions* functions_;
  const Limits& limits_;
  std::vector<Val> roots_;  // `$`: the data, then one per enclosing where()/select()
  std::size_t steps_ = 0;
};

// One builtin function. Arguments count a method call's receiver as the first.
using BuiltinFn = Status (*)(Evaluator& ev, const Node& call, std::vector<Val>& args, Val* out);
struct Builtin {
  std::string_view name;
  std::size_t min_args;
  std::size_t max_args;
  unsigned lambdas;  // bit k: argument k is a lambda, evaluated per element
  BuiltinFn fn;
};
const Builtin* FindBuiltin(std::string_view name);
// The type names messages use: null, boolean, integer, float, string, list, dict.
std::string TypeName(const Json& v);
// Python-style text of a value for str() and join(): strings as they are, true/false/null, and
// numbers, lists and dicts as JSON.
Status ToText(Evaluator& ev, const Node& n, const Json& v, std::string* out);

}  // namespace gale::expr::yaql

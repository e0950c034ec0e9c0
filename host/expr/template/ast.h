// Internal: the parsed form of a template, and the value type the evaluator works with.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "host/common/json.h"
#include "host/common/result.h"
#include "host/expr/template/context.h"

namespace gale::expr::tmpl {

// A value during evaluation: JSON (borrowed from the context or owned), an undefined name, or a
// datastore reference that is looked up when its value is needed (st2kv.system.a.b reads the
// key "a.b", as StackStorm's KeyValueLookup does).
struct Value {
  enum class Kind : std::uint8_t { kJson, kUndefined, kAbsent, kKvRoot, kKvScope, kKvKey };
  Kind kind = Kind::kJson;
  KvScope scope = KvScope::kSystem;
  bool tuple = false;    // a Jinja tuple (printed as one; `%` formatting spreads it)
  bool lenient = false;  // kUndefined from `a if c` without else: Jinja's plain Undefined
  // kJson: `ref` points at the value, which lives in the context, in the template, or in
  // `holder` (shared, so that `a.b` of a computed value needs no copy).
  std::shared_ptr<const Json> holder;
  const Json* ref = nullptr;
  std::string text;  // kKvKey: the key; kUndefined: the expression that was undefined

  const Json& json() const { return *ref; }
  static Value Of(Json j) {
    Value v;
    v.holder = std::make_shared<const Json>(std::move(j));
    v.ref = v.holder.get();
    return v;
  }
  static Value Ref(const Json& j) {
    Value v;
    v.ref = &j;
    return v;
  }
  // A value inside this one (same lifetime).
  Value Child(const Json& j) const {
    Value v;
    v.holder = holder;
    v.ref = &j;
    return v;
  }
  static Value Undefined(std::string what) {
    Value v;
    v.kind = Kind::kUndefined;
    v.text = std::move(what);
    return v;
  }
  static Value Absent() {
    Value v;
    v.kind = Kind::kAbsent;
    return v;
  }
  bool defined() const { return kind != Kind::kUndefined && kind != Kind::kAbsent; }
};

class Evaluator;
using FilterFn = Status (*)(Evaluator& ev, Value& in, std::vector<Value>& args, Value* out);
using TestFn = Status (*)(Evaluator& ev, Value& in, std::vector<Value>& args, bool* out);

struct FilterSpec {
  std::string_view name;
  FilterFn fn;
  std::vector<std::string_view> params;  // names of the arguments after the filtered value
  std::size_t required = 0;              // leading params that must be given
  bool accepts_undefined = false;        // `default`, `use_none`: the input may be undefined
};

struct TestSpec {
  std::string_view name;
  TestFn fn;
  std::size_t params = 0;  // 0 or 1 argument
  bool accepts_undefined = false;
};

const FilterSpec* FindFilter(std::string_view name);
const TestSpec* FindTest(std::string_view name);

enum class ExprKind : std::uint8_t {
  kLiteral,
  kName,
  kAttr,    // args[0].name
  kItem,    // args[0][args[1]]
  kSlice,   // args[0][args[1]:args[2]:args[3]] (null parts allowed)
  kCall,    // args[0](args[1..]); a host function: name, one slot per param (null: absent)
  kFilter,  // args[0] | filter(args[1..]) with one slot per FilterSpec param (null: absent)
  kTest,    // args[0] is [not] test(args[1..])
  kNeg,
  kPos,
  kNot,
  kBinary,   // args[0] op args[1]
  kCompare,  // args[0] op0 args[1] op1 args[2] ...
  kAnd,
  kOr,
  kCond,  // args[0] if args[1] else args[2] (args[2] may be null)
  kList,
  kTuple,
  kDict,  // args: key0, value0, key1, value1, ...
};

enum class BinOp : std::uint8_t { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow, kConcat };
enum class CmpOp : std::uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  std::size_t begin = 0;  // source span, for messages
  std::size_t end = 0;
  Json literal;
  std::string name;  // kName, kAttr, kCall on a method, kFilter, kTest
  BinOp bin_op = BinOp::kAdd;
  std::vector<CmpOp> cmp_ops;
  bool negated = false;        // `is not`
  bool host_function = false;  // kCall of an ExprFunctions function
  const FilterSpec* filter = nullptr;
  const TestSpec* test = nullptr;
  std::vector<std::unique_ptr<Expr>> args;
};

enum class NodeKind : std::uint8_t { kText, kOutput, kIf, kFor, kSet };

struct Node {
  NodeKind kind = NodeKind::kText;
  std::string text;                               // kText
  std::unique_ptr<Expr> expr;                     // kOutput value, kSet value, kFor iterable
  std::vector<std::unique_ptr<Expr>> conditions;  // kIf: one per branch (if, elif...)
  std::vector<std::vector<Node>> branches;        // kIf: bodies, parallel to conditions
  std::vector<Node> body;                         // kFor
  std::vector<Node> else_body;                    // kIf else, kFor else (ran when nothing iterated)
  std::vector<std::string> targets;               // kFor loop variables, kSet name
  bool uses_loop = false;                         // kFor: the body mentions `loop`
};

struct Program {
  std::string source;  // normalised (newlines as \n, one trailing newline removed)
  std::vector<Node> nodes;
  bool literal = false;
  std::string literal_text;
  int single_expression = -1;  // index of the only kOutput node when the template is one {{ }}
};

// Parses a template (see template.h for the syntax).
// With `functions`, a call of a bare name must be one of them (or range()): anything else is a
// syntax error ("unknown function 'foo'").
Result<std::shared_ptr<const Program>> ParseProgram(std::string_view source,
                                                    const ExprFunctions* functions = nullptr);

}  // namespace gale::expr::tmpl

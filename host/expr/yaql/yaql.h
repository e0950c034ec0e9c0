// YAQL, the subset StackStorm's Orquesta workflows use (docs/workflows.md, "Expressions").
//
// Syntax: literals (integers, decimals, 'single', "double" and `verbatim` strings, true, false,
// null, and bare identifiers, which YAQL reads as strings: ctx(name) is ctx('name')), `$` (the
// data, or the element inside where()/select()), attribute access `a.b` and `a?.b`, indexing
// `a[0]`, `a['k']`, list literals `[1, 2]`, dict literals `{a => 1}` and `dict(a => 1)`,
// function calls `f(x)` and method calls `x.f(y)` (the same as f(x, y)), operators by YAQL's
// precedence: unary + -; * / mod; + -; = != < > <= >= in; not; and; or.
// Functions: len keys values list dict str int float bool join split replace regex_match
// distinct where select first zip, plus whatever an ExprFunctions provider adds (ctx, result...).
// Anything else (another function, `$var`, =~, ->, a lambda where none is taken) is a syntax
// error at parse time, with its position.
//
// Semantics follow YAQL 1.1 under Python: integer division floors (7 / 2 is 3, 7 / 2.0 is
// 3.5), `mod` takes the divisor's sign, 1 = 1.0, lists and dicts compare by value, `a.b` on a
// dict is its key (missing: an error), on a list it maps over the elements, and/or return an
// operand, truthiness is Python's. Integers are 64-bit (overflow is an error).
// Every error is a value with a one-line message; nothing throws. A parsed Expression is
// immutable and may be evaluated from several threads at once.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "host/common/json.h"
#include "host/common/result.h"
#include "host/expr/template/context.h"

namespace gale::expr::yaql {

struct Program;

struct Limits {
  std::size_t max_steps = 1'000'000;       // node evaluations plus elements visited
  std::size_t max_string_bytes = 1 << 20;  // largest string an operator or function may build
  std::size_t max_items = 1'000'000;       // largest list or dict one may build
};

class Expression {
 public:
  // Parses the expression text[begin, end) (what lies between `<%` and `%>`). Positions in
  // messages count in the whole `text`: "unknown function 'foo' at column 12" ("at line 2,
  // column 3" when it has several lines). `functions` must outlive the Expression.
  static Result<Expression> Parse(std::string_view text, std::size_t begin, std::size_t end,
                                  const ExprFunctions* functions);
  static Result<Expression> Parse(std::string_view source,
                                  const ExprFunctions* functions = nullptr) {
    return Parse(source, 0, source.size(), functions);
  }

  // Evaluates with `$` = root. `functions` answers the host functions the expression was parsed
  // with (null: calling one is an error). Errors name the position: "key 'x' not found at
  // column 7".
  Result<Json> Evaluate(const Json& root, const ExprFunctions* functions,
                        const Limits& limits = {}) const;

 private:
  explicit Expression(std::shared_ptr<const Program> program) : program_(std::move(program)) {}
  std::shared_ptr<const Program> program_;
};

// "column 5", or "line 2, column 3" when `text` has several lines (1-based, in code points).
std::string Where(std::string_view text, std::size_t pos);

}  // namespace gale::expr::yaql

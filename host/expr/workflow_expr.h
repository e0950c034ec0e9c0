// Expressions in workflow definitions (Orquesta, action-chain), both of Orquesta's forms:
// `<% YAQL %>` (host/expr/yaql) and `{{ Jinja }}` / `{% %}` (host/expr/template), with the
// workflow functions ctx(), result(), item(), succeeded(), failed(), completed(), task() and
// st2kv() available in both. docs/workflows.md, "Expressions", lists what is supported.
//
// Everything is checked when the workflow is registered: WorkflowExpression::Parse rejects an
// unknown function, a wrong argument count, unsupported syntax or a malformed regex literal with
// its position ("unknown function 'foo' at column 12"), so the loader can report file:line.
// Evaluation errors (a missing key, a type mismatch) are returned as errors; nothing throws.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "host/common/json.h"
#include "host/common/result.h"
#include "host/expr/template/context.h"

namespace gale::expr {

// What an expression can see while a workflow runs. The engine implements it per evaluation.
class ExprContext {
 public:
  virtual ~ExprContext() = default;
  // ctx() and `$`: the workflow's variables (input, vars, published values), a JSON object.
  virtual const Json& Vars() const = 0;
  // result(): the current task's result; nullptr when no task is current.
  virtual const Json* CurrentResult() const { return nullptr; }
  // item(): the current with-items item; nullptr outside a with-items task.
  virtual const Json* CurrentItem() const { return nullptr; }
  // The current task's status ("succeeded", "failed", "running"...) for succeeded(), failed()
  // and completed(); empty when no task is current.
  virtual std::string CurrentStatus() const { return {}; }
  // task() (name: nullopt, the current task) and task('name'): the task's state record.
  virtual Status Task(const std::optional<std::string>& name, Json* out) const;
  // st2kv('system.key') and st2kv('key') (user scope): the stored value, nullopt when missing.
  virtual Result<std::optional<std::string>> Kv(KvScope scope, const std::string& name,
                                                bool decrypt) const;
};

// Where in a string an error is (1-based; columns count code points).
struct SourcePosition {
  int line = 1;
  int column = 1;
};

class WorkflowExpression {
 public:
  enum class Language { kLiteral, kYaql, kJinja };

  // Finds the `<% %>` or `{{ }}`/`{% %}` spans in `source` and compiles them. Errors carry the
  // position in `source`: "expression '<% lenn(1) %>': unknown function 'lenn' at column 4"
  // ("at line 2, column 3" when the source has several lines). On error, `error_at` (when
  // given) receives that position, so that a loader can add it to the line of the YAML scalar.
  static Result<WorkflowExpression> Parse(std::string_view source,
                                          SourcePosition* error_at = nullptr);

  Language language() const;
  const std::string& source() const;
  // True when the source is exactly one expression (whitespace around allowed): Evaluate then
  // gives its JSON value, as Orquesta does; otherwise the text is rendered to a string.
  bool is_single_expression() const;

  Result<Json> Evaluate(const ExprContext& ctx) const;

  struct Impl;

 private:
  static Result<WorkflowExpression> ParseSpans(std::string_view source);
  explicit WorkflowExpression(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// True when the string holds `<%`, `{{` or `{%` (anything Parse would treat as an expression).
bool HasWorkflowExpression(std::string_view s);

// The workflow functions, as the template engine and YAQL see them (parse-time signatures; Call
// fails without a context). For tests and tools that parse workflow expressions.
const ExprFunctions& WorkflowFunctionCatalog();

}  // namespace gale::expr

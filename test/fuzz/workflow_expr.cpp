// Workflow expressions (host/expr/workflow_expr, host/expr/yaql): a string with <% YAQL %> or
// {{ Jinja }}, "%%", optional workflow variables (JSON). Evaluated with every workflow function
// answering: a current task, an item, task records and a datastore. The whole first part is also
// parsed as one bare YAQL expression; what parses must evaluate without crashing.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "host/common/input_limits.h"
#include "host/expr/workflow_expr.h"
#include "host/expr/yaql/yaql.h"
#include "test/fuzz/split_input.h"

namespace {

class FuzzContext : public gale::expr::ExprContext {
 public:
  gale::Json vars;
  gale::Json result = {{"stdout", "out"}, {"code", 0}, {"items", {1, "a", nullptr}}};
  gale::Json item = {{"k", "v"}, {"n", 2}};

  const gale::Json& Vars() const override { return vars; }
  const gale::Json* CurrentResult() const override { return &result; }
  const gale::Json* CurrentItem() const override { return &item; }
  std::string CurrentStatus() const override { return "succeeded"; }
  gale::Status Task(const std::optional<std::string>& name, gale::Json* out) const override {
    if (name && !name->empty() && (*name)[0] == 'x') return gale::Status::Error("no such task");
    *out = {{"id", name ? *name : "current"}, {"status", "failed"}, {"result", result}};
    return gale::Status::Ok();
  }
  gale::Result<std::optional<std::string>> Kv(gale::expr::KvScope, const std::string& name,
                                              bool) const override {
    if (name.empty() || name[0] == 'x') return std::optional<std::string>();
    return std::optional<std::string>("{\"k\": [1, 2]}");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = gale::fuzz::SplitInput(data, size, 2);
  FuzzContext ctx;
  ctx.vars = gale::Json{
      {"a", 1}, {"s", "text"}, {"l", {1, 2.5, "x", {{"k", 1}}}}, {"d", {{"b", {true, nullptr}}}}};
  if (!parts[1].empty()) {
    auto parsed = gale::ParseUntrustedJson(parts[1], "vars");
    if (parsed.ok() && parsed->is_object()) ctx.vars = std::move(parsed).value();
  }
  auto expr = gale::expr::WorkflowExpression::Parse(parts[0]);
  if (expr.ok()) (void)expr->Evaluate(ctx);
  auto bare = gale::expr::yaql::Expression::Parse(parts[0], &gale::expr::WorkflowFunctionCatalog());
  if (bare.ok()) {
    (void)bare->Evaluate(ctx.vars, nullptr);  // host functions fail cleanly without a provider
    gale::expr::yaql::Limits small;
    small.max_steps = 10'000;
    small.max_string_bytes = 4096;
    small.max_items = 1000;
    (void)bare->Evaluate(ctx.vars, &gale::expr::WorkflowFunctionCatalog(), small);
  }
  return 0;
}

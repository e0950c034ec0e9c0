// The Jinja-subset template parser and evaluator (host/rules/template): a template, "%%", an
// optional trigger payload (JSON). Evaluated with a datastore and decrypt_kv that answer.
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "host/common/input_limits.h"
#include "host/expr/template/template.h"
#include "test/fuzz/split_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = gale::fuzz::SplitInput(data, size, 2);
  auto tmpl = gale::expr::Template::Parse(parts[0]);
  if (!tmpl.ok()) return 0;
  gale::Json trigger = gale::Json::object();
  if (!parts[1].empty()) {
    auto parsed = gale::ParseUntrustedJson(parts[1], "trigger");
    if (parsed.ok()) trigger = std::move(parsed).value();
  }
  const gale::Json vars = {{"action_context", {{"user", "fuzz"}, {"n", 3}}}};
  gale::expr::TemplateContext ctx;
  ctx.trigger = &trigger;
  ctx.vars = &vars;
  ctx.kv = [](gale::expr::KvScope, const std::string& name) -> std::optional<std::string> {
    if (name.empty() || name[0] == 'x') return std::nullopt;
    return "{\"k\": [1, 2]}";
  };
  ctx.decrypt = [](const std::optional<gale::expr::KvKey>&,
                   const std::string& text) -> gale::Result<std::string> { return text; };
  ctx.now = [] { return std::chrono::system_clock::time_point(std::chrono::hours(492'000)); };
  (void)tmpl->Evaluate(ctx);
  (void)tmpl->Render(ctx);
  // Rule parameters: the template as a value inside an object, through RenderParameters.
  (void)gale::expr::RenderParameters(gale::Json{{"p", std::string(parts[0])}}, ctx);
  return 0;
}

#include "host/requests/action_defaults.h"

#include <map>

#include "host/expr/template/template.h"

namespace gale::requests {

Status RenderTemplateDefaults(const Json& declared, const Json& given,
                              const expr::TemplateContext& base, Json* params) {
  if (!declared.is_object() || !params->is_object()) return Status::Ok();
  std::map<std::string, std::string> pending;  // name -> template source
  for (const auto& [name, spec] : declared.items()) {
    if (!spec.is_object() || !spec.contains("default") || !spec["default"].is_string()) continue;
    if (given.is_object() && given.contains(name)) continue;
    const std::string& source = spec["default"].get_ref<const std::string&>();
    if (expr::LooksLikeTemplate(source)) pending.emplace(name, source);
  }
  // Each pass renders what it can with the parameters known so far; a default that refers to
  // another template default succeeds in a later pass. No progress in a pass means a cycle or a
  // real error, reported for the first parameter left.
  while (!pending.empty()) {
    // The caller's names (action_context, config_context), then the parameters over them.
    Json vars = base.vars && base.vars->is_object() ? *base.vars : Json::object();
    for (const auto& [name, value] : params->items()) {
      if (!pending.count(name)) vars[name] = value;
    }
    expr::TemplateContext ctx = base;
    ctx.trigger = nullptr;
    ctx.vars = &vars;
    const size_t before = pending.size();
    std::string first_error;
    for (auto it = pending.begin(); it != pending.end();) {
      auto parsed = expr::Template::Parse(it->second);
      Result<Json> value = parsed.ok() ? parsed->Evaluate(ctx) : Result<Json>(parsed.status());
      if (value.ok()) {
        (*params)[it->first] = std::move(value).value();
        it = pending.erase(it);
        continue;
      }
      if (first_error.empty()) {
        first_error = "default of parameter '" + it->first + "': " + value.message();
      }
      ++it;
    }
    if (pending.size() == before) return Status::Error(first_error);
  }
  return Status::Ok();
}

}  // namespace gale::requests

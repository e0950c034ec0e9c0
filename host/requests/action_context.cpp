#include "host/requests/action_context.h"

namespace gale::requests {

Json ActionContextJson(const ActionContext& context) {
  Json out = Json::object();
  out["user"] = context.user;
  out["pack"] = context.pack;
  if (!context.rule_ref.empty()) {
    out["rule"] = {
        {"id", context.rule_ref}, {"name", context.rule_name}, {"ref", context.rule_ref}};
  }
  if (!context.trigger_instance.empty()) {
    out["trigger_instance"] = {{"id", context.trigger_instance}, {"name", nullptr}};
  }
  if (context.parent) out["parent"] = *context.parent;
  if (!context.api_user.empty()) out["api_user"] = context.api_user;
  return out;
}

Json TemplateVars(const ActionContext& context, const Json& pack_config) {
  return {{"action_context", ActionContextJson(context)},
          {"config_context", pack_config.is_object() ? pack_config : Json::object()}};
}

}  // namespace gale::requests

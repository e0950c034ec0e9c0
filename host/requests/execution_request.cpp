#include "host/requests/execution_request.h"

#include "host/packs/secrets.h"
#include "host/requests/action_defaults.h"

namespace gale::requests {

std::shared_ptr<const CompiledAction> CompileAction(const packs::ActionMeta& meta,
                                                    const Json& pack_config) {
  auto action = std::make_shared<CompiledAction>();
  action->ref = meta.ref;
  action->pack = meta.pack;
  if (pack_config.is_object()) action->pack_config = pack_config;
  action->runner_type = meta.runner_type;
  action->parameters = meta.parameters;
  if (meta.parameters.is_object()) {
    for (const auto& [name, spec] : meta.parameters.items()) {
      if (spec.is_object() && spec.contains("immutable") && spec["immutable"].is_boolean() &&
          spec["immutable"].get<bool>()) {
        action->immutable.insert(name);
      }
    }
  }
  action->secrets = packs::SecretParameters(meta.parameters);
  auto validator = schema::Validator::Compile(meta.parameters_schema);
  if (validator.ok()) {
    action->validator = std::move(validator).value();
  } else {
    action->schema_error = validator.message();
  }
  return action;
}

std::string BuildActionParameters(const CompiledAction& action, const Json& given,
                                  const expr::TemplateContext& ctx, const std::string& who,
                                  Json* out) {
  Json params = given.is_object() ? given : Json::object();
  for (const auto& name : action.immutable) {
    if (params.contains(name)) {
      return "parameter '" + name + "' of action '" + action.ref + "' is immutable: " + who +
             " may not set it";
    }
  }
  if (!action.validator) {
    return "parameters schema of action '" + action.ref + "': " + action.schema_error;
  }
  params = action.validator->ApplyDefaults(params);
  // config_context is the action's own pack config, whoever asks.
  Json vars = ctx.vars && ctx.vars->is_object() ? *ctx.vars : Json::object();
  if (!vars.contains("config_context")) vars["config_context"] = action.pack_config;
  expr::TemplateContext with_vars = ctx;
  with_vars.vars = &vars;
  if (Status s = RenderTemplateDefaults(action.parameters, given, with_vars, &params); !s.ok()) {
    return s.message();
  }
  auto violations = action.validator->Validate(params);
  if (!violations.empty()) {
    std::string reason = "parameters do not match action '" + action.ref + "': ";
    for (size_t i = 0; i < violations.size(); ++i) {
      if (i > 0) reason += "; ";
      reason += schema::Format(violations[i]);
    }
    return reason;
  }
  *out = std::move(params);
  return "";
}

expr::KvLookup DatastoreLookup(store::Store& store, std::string user, store::TimeMs now,
                               Status* error) {
  return [&store, user = std::move(user), now, error](
             expr::KvScope scope, const std::string& name) -> std::optional<std::string> {
    store::KeyRef ref;
    ref.name = name;
    ref.scope = scope == expr::KvScope::kSystem ? store::KeyScope::kSystem : store::KeyScope::kUser;
    if (scope == expr::KvScope::kUser) ref.user = user;
    auto got = store.GetKey(ref, now);
    if (!got.ok()) {
      if (error != nullptr && error->ok()) {
        *error = got.status().WithContext("datastore key '" + name + "'");
      }
      return std::nullopt;
    }
    if (!got->has_value()) return std::nullopt;
    return (*got)->value;
  };
}

expr::KvDecrypt DatastoreDecrypt(store::KeyCipher cipher, std::string user) {
  return [cipher, user = std::move(user)](const std::optional<expr::KvKey>& from,
                                          const std::string& sealed) -> Result<std::string> {
    if (!from) return cipher.DecryptUnbound(sealed);
    store::KeyRef ref;
    ref.name = from->name;
    ref.scope =
        from->scope == expr::KvScope::kSystem ? store::KeyScope::kSystem : store::KeyScope::kUser;
    if (from->scope == expr::KvScope::kUser) ref.user = user;
    return cipher.Decrypt(ref, sealed);
  };
}

bus::ExecutionRequestMessage ExecutionRequestOf(const store::Execution& e) {
  bus::ExecutionRequestMessage m;
  m.id = e.id;
  m.action = e.action;
  m.parameters = e.parameters;
  m.rule = e.rule;
  m.trigger_instance = e.trigger_instance;
  m.trace_id = e.trace_id;
  m.requested_at = e.requested_at;
  return m;
}

}  // namespace gale::requests

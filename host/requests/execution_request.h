// Building an execution request, shared by the rules engine (a rule matched) and the API
// (`POST /v1/executions`, re-runs): the action's parameters completed and checked, and the
// `gale.executions` message that carries them to a runner.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>

#include "host/bus/messages.h"
#include "host/common/json.h"
#include "host/expr/template/context.h"
#include "host/packs/metadata.h"
#include "host/schema/validator.h"
#include "host/store/key_cipher.h"
#include "host/store/store.h"

namespace gale::requests {

// The action a rule or a caller requests, as needed to build and check parameters.
struct CompiledAction {
  std::string ref;
  std::string pack;
  std::string runner_type;
  // The pack's config: `config_context` of its parameter templates.
  Json pack_config = Json::object();
  Json parameters = Json::object();            // StackStorm's parameter map, as written
  std::optional<schema::Validator> validator;  // of ActionMeta::parameters_schema
  std::string schema_error;                    // why `validator` is empty
  std::set<std::string> immutable;             // parameters marked `immutable: true`
  std::set<std::string> secrets;               // parameters marked `secret: true`
};

// An action's metadata compiled for building requests (parameter schema, immutable and secret
// parameters), with its pack's config. Never fails: a schema that does not compile is kept in
// schema_error.
std::shared_ptr<const CompiledAction> CompileAction(const packs::ActionMeta& meta,
                                                    const Json& pack_config = Json::object());

// The parameters of one execution of `action`: `given` (already rendered) must not set an
// immutable parameter (`who` names the caller in that error: "rule 'x.y'"); the action's
// defaults are applied, template defaults rendered with `ctx`, and the result validated against
// the parameter schema. Template defaults also see `config_context` (the action's pack config)
// and whatever ctx.vars holds (`action_context`, requests/action_context.h). Returns the reason
// on failure, "" on success (then *out is set).
std::string BuildActionParameters(const CompiledAction& action, const Json& given,
                                  const expr::TemplateContext& ctx, const std::string& who,
                                  Json* out);

// Datastore lookups for templates: st2kv.system.<name>, and st2kv.user.<name> of `user`, read
// as of `now`. The first store error is kept in *error (a key that could not be read renders
// as missing, so the caller decides whether to retry); error may be null.
expr::KvLookup DatastoreLookup(store::Store& store, std::string user, store::TimeMs now,
                               Status* error);

// decrypt_kv with the deployment's key: st2kv.user.<name> is `user`'s key, as in
// DatastoreLookup, so a sealed value opens only for the key it was sealed for.
expr::KvDecrypt DatastoreDecrypt(store::KeyCipher cipher, std::string user);

// The `gale.executions` message of `e`: its parameters as stored (secrets masked); the runner
// runs the record, not the message.
bus::ExecutionRequestMessage ExecutionRequestOf(const store::Execution& e);

}  // namespace gale::requests

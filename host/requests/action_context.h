// What StackStorm's templates see besides the trigger and the datastore (issue 19, item 7): an
// action's parameters, in a rule or as defaults, may use `{{ action_context.* }}` (who asked for
// the execution, and why) and `{{ config_context.* }}` (the action's pack config), with
// StackStorm's names and shapes (st2common/util/param.py, enforcer.py).
#pragma once

#include <optional>
#include <string>

#include "host/common/json.h"

namespace gale::requests {

struct ActionContext {
  std::string user;  // whose request: the rules engine's and the API's system user (stanley)
  std::string pack;  // the action's pack
  // A rule's execution: the rule (ref and name) and the trigger instance that matched it.
  std::string rule_ref;
  std::string rule_name;
  std::string trigger_instance;
  // A child execution (of a workflow): the parent's context, e.g. {"execution_id": ...}.
  std::optional<Json> parent;
  // The user an API client acted for (StackStorm sets it for ChatOps aliases), when any.
  std::string api_user;
};

// The `action_context` object, as StackStorm shapes it:
//   {"user": ..., "pack": ...,
//    "rule": {"id": <ref>, "name": <name>, "ref": <ref>},     a rule's execution
//    "trigger_instance": {"id": <id>, "name": null},          a rule's execution
//    "parent": {...}, "api_user": ...}                         when set
// StackStorm's rule and trigger instance `id` is a database id; Gale's rules have none, so a
// rule's id is its ref (and `ref` is there by that name too).
Json ActionContextJson(const ActionContext& context);

// The further top-level template names for an action of the pack whose config is `pack_config`:
// {"action_context": ActionContextJson(context), "config_context": pack_config}.
Json TemplateVars(const ActionContext& context, const Json& pack_config);

}  // namespace gale::requests

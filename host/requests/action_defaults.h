// Action parameter defaults that are templates, as StackStorm renders them: a default such as
// StackStorm's core.echo `cmd: 'echo "{{ message }}"'` sees the execution's other parameters by
// name (and the datastore), never the trigger. (Gale's own core.echo does not splice its message
// into a shell command: it passes it as $PARAM_MESSAGE, so the message can never become code.)
#pragma once

#include <string>

#include "host/common/json.h"
#include "host/common/result.h"
#include "host/expr/template/context.h"

namespace gale::requests {

// `declared` is the action's StackStorm parameter map; `given` the parameters the caller set
// (rule or API); `params` the same with defaults applied. Every string default that looks like a
// template and was not given is rendered with the other parameters as top-level names; defaults
// may refer to each other (rendered in dependency order). `base` supplies the datastore lookup,
// clock, limits and further names in `vars` (action_context, config_context), which parameters
// of the same name hide; its trigger is not used. Errors name the parameter:
// "default of parameter 'cmd': 'message' is undefined".
Status RenderTemplateDefaults(const Json& declared, const Json& given,
                              const expr::TemplateContext& base, Json* params);

}  // namespace gale::requests

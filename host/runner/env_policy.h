// Which environment variables a caller may set through the `env` parameter of the shell
// runners. The sandbox keeps the action's own uid, filter and limits, but the variables below are
// read by the dynamic loader, libc, the shell or a language runtime *before* the action's code
// runs, and make that program load or run code of the caller's choosing (LD_PRELOAD=evil.so,
// BASH_ENV=evil.sh, PYTHONSTARTUP, PERL5OPT=-Mevil, NODE_OPTIONS=--require ...). A caller may
// choose an action's inputs, not rewrite the program that handles them.
#pragma once

#include <string_view>

namespace gale::runner {

// True for a name the `env` parameter must refuse (case-sensitive, as the loader and the
// runtimes read them). PARAM_<NAME> variables need no check: their prefix is fixed.
bool IsForbiddenEnvName(std::string_view name);

}  // namespace gale::runner

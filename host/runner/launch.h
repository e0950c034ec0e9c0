// What each runner type turns an execution into (DESIGN.md, "Runners"): a sandboxed command, or
// nothing at all for `noop`. Pure functions of the action, its parameters and the node; the
// runner service spawns the result.
// The runner types and their runner parameters are the rows of packs::kRunnerTypes
// (host/packs/runner_types.h); launch.cpp pairs each with its launcher.
//
//   local-shell-cmd     /bin/sh -c <cmd>; parameters cmd, cwd, env (object), timeout (seconds).
//   local-shell-script  <pack>/actions/<entry_point>, executed directly (its #! line decides the
//                       interpreter); parameters with a `position` are positional arguments in
//                       that order, the others `--name=value` (true: `--name`; false, null and ""
//                       left out), as StackStorm passes them. Secret parameters (`secret: true`)
//                       are never arguments (any local user can read a process's argv): a named
//                       one is left out, a positional one is an empty argument; the script reads
//                       them from PARAM_<NAME>. cwd, env and timeout as above. A #! line naming
//                       StackStorm's Python (/opt/stackstorm/st2/bin/python[3], /usr/bin/python,
//                       `/usr/bin/env python[3]`) runs the pack's Python instead: argv is
//                       [python, #! options..., script, arguments...].
//   python-script       `python -I -B -u <shim>/gale_shim/action_wrapper.py`, StackStorm's Action
//                       class (host/python/st2common). python is the pack's virtualenv
//                       (<parent of the pack copy>/virtualenv/bin/python), else /usr/bin/python3.
//                       stdin: {"parameters" (the action's, never the runner's), "config",
//                       "entry_point" (absolute path), "action", "pack", "execution_id",
//                       "log_level", "python_path" (shim, actions/, actions/lib: the wrapper's
//                       sys.path head; also PYTHONPATH), "result_delimiter"}. stdout and stderr are
//                       the action's; after it returns, the wrapper writes one block on its
//                       original stdout: DELIM {"status": true|false|null, "result": ...,
//                       "error"?, "traceback"?} DELIM, with DELIM random per execution (a string
//                       the action cannot print by chance); the runner cuts that block out of
//                       stdout and of the live output (Launch::result_delimiter,
//                       host/runner/finish.h). env and timeout as above; log_level and debug
//                       set self.logger's level.
//   native              `gale exec native LIBRARY ENTRY_POINT`: the pack .so is loaded in the
//                       sandboxed child; the parameters and the pack config arrive on stdin and
//                       the result document leaves on stdout (see host/runner/native_exec.h).
//   http-request        `gale exec http`: StackStorm's core.http parameters on stdin, the response
//                       on stdout (host/runner/http_client.h).
//   noop                no process; succeeds at once.
//
// Every process also gets, in its environment: ST2_ACTION_PACK_NAME, ST2_ACTION_EXECUTION_ID,
// GALE_EXECUTION_ID and, for shell runners, each parameter as PARAM_<NAME> (upper case,
// characters other than letters, digits and '_' as '_'; strings as they are, other values as
// JSON), so a script may read its parameters from either its arguments or its environment.
//
// The caller's parameters only narrow the node's sandbox (sandbox/settings.h):
//   timeout  seconds (> 0), capped to the node's max_timeout (http-request adds 5 s of slack for
//            the client's own timeout to fire first, within the same cap); ignored when the
//            action's sandbox block sets a timeout.
//   cwd      an absolute path; whether the action's user may enter it is checked in the sandbox
//            child after the privilege drop (outcome "not started: chdir DIR: ...").
//   env      may not set loader or interpreter variables (LD_*, PYTHON*, BASH_ENV, ...: the list
//            is in host/runner/env_policy.h).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "host/common/json.h"
#include "host/common/result.h"
#include "host/runner/action_index.h"
#include "sandbox/process.h"
#include "sandbox/settings.h"

namespace gale::runner {

struct Launch {
  bool noop = false;  // nothing to spawn: the execution succeeds with an empty result
  sandbox::Command command;
  sandbox::Settings settings;
  // native and http-request: stdout is the result document, not the action's output.
  bool result_on_stdout = false;
  // python-script: stdout ends with the result block between two of these (finish.h).
  std::string result_delimiter;
};

struct LaunchContext {
  std::string gale_binary;  // absolute path of `gale`, for the runners that run `gale exec`
  std::string execution_id;
  // The directory holding gale_shim and st2common, readable by the action user
  // (host/node/machine.h, PythonShimForActions); empty: python-script actions fail with why.
  std::string python_shim;
};

// Errors are one line naming the parameter or file: "parameter 'cmd' must be a string",
// "script actions/missing.sh: No such file or directory" (a script that exists but is not
// executable is left to the sandbox, which reports it as a setup error of stage exec).
Result<Launch> PlanLaunch(const RunnableAction& action, const Json& parameters,
                          const LaunchContext& ctx);

// StackStorm's named and positional script arguments for `parameters` (exposed for tests),
// without the values of the parameters named in `secrets`.
std::vector<std::string> ScriptArguments(const Json& declared, const Json& parameters,
                                         const std::set<std::string>& secrets);

}  // namespace gale::runner

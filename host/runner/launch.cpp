#include "host/runner/launch.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>

#include "host/common/sanitizers.h"
#include "host/common/uuid.h"
#include "host/packs/runner_types.h"
#include "host/runner/env_policy.h"

namespace gale::runner {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kSystemPython = "/usr/bin/python3";

// Strings as they are, everything else as JSON (Python's str() would differ only in quoting).
std::string AsText(const Json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string EnvName(const std::string& name) {
  std::string out = "PARAM_";
  for (char c : name) {
    out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::toupper(c)) : '_';
  }
  return out;
}

// The sanitizer runtime of an instrumented `gale` needs a huge virtual reservation (RLIMIT_AS
// would kill it at start) and its leak check uses ptrace (denied by every seccomp profile).
// Only test builds are instrumented; production builds keep the limits.
void AdjustForInstrumentedGale(sandbox::Settings& settings) {
#if defined(GALE_SHADOW_MEMORY_BUILD)
  settings.limits.address_space_bytes.reset();
#if defined(GALE_ASAN_BUILD)
  settings.env["ASAN_OPTIONS"] = "detect_leaks=0:handle_segv=0";
#endif
#else
  (void)settings;
#endif
}

// The caller's `timeout` parameter, in whole milliseconds rounded up, capped to the node's
// max_timeout.
Result<std::chrono::milliseconds> TimeoutParameter(const Json& t,
                                                   std::chrono::milliseconds max_timeout) {
  if (!t.is_number() || !std::isfinite(t.get<double>()) || t.get<double>() <= 0) {
    return Status::Error("parameter 'timeout' must be a number of seconds > 0");
  }
  const double ms = std::ceil(t.get<double>() * 1000);
  if (ms >= static_cast<double>(max_timeout.count())) return max_timeout;
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

// `cwd` must name a directory absolutely: a relative one would depend on wherever the sandbox
// starts. Whether the action's user may enter it is checked in the child after the privilege
// drop (setup stage chdir).
Status ApplyCwd(const Json& cwd, sandbox::Settings& s) {
  if (!cwd.is_string()) return Status::Error("parameter 'cwd' must be a string");
  const std::string& dir = cwd.get_ref<const std::string&>();
  if (dir.find('\0') != std::string::npos) {
    return Status::Error("parameter 'cwd' must not contain a NUL character");
  }
  if (dir.empty() || dir.front() != '/') {
    return Status::Error("parameter 'cwd' must be an absolute path, not '" + dir + "'");
  }
  s.working_dir = dir;
  return Status::Ok();
}

// The caller's `env` object. Names that change how the program itself is loaded or interpreted
// are refused (host/runner/env_policy.h).
Status ApplyEnv(const Json& env, sandbox::Settings& s) {
  if (!env.is_object()) return Status::Error("parameter 'env' must be an object");
  for (const auto& [name, value] : env.items()) {
    // A NUL would cut the name short when the environment is built (and has no place in a
    // one-line error either).
    if (name.find('\0') != std::string::npos) {
      return Status::Error("parameter 'env': a variable name contains a NUL character");
    }
    if (name.empty() || name.find('=') != std::string::npos) {
      return Status::Error("parameter 'env': invalid variable name '" + name + "'");
    }
    if (IsForbiddenEnvName(name)) {
      return Status::Error("parameter 'env': variable '" + name +
                           "' may not be set (it changes how programs are loaded or interpreted)");
    }
    s.env[name] = AsText(value);
  }
  return Status::Ok();
}

Status ApplyCommon(const RunnableAction& action, const Json& params, const LaunchContext& ctx,
                   bool shell, Launch& launch) {
  sandbox::Settings& s = launch.settings;
  s = action.settings;
  if (params.contains("timeout") && !action.sandbox_timeout) {
    GALE_ASSIGN_OR_RETURN(auto t, TimeoutParameter(params["timeout"], s.max_timeout));
    s.timeout = t;
  }
  // Only a runner that reads `cwd` (or `env`) itself takes it: python-script has neither `cwd`
  // (an action's own parameter of that name is the action's) nor, for native and http-request,
  // `env`.
  const std::string& type = action.meta.runner_type;
  if (packs::IsRunnerParameter(type, "cwd") && params.contains("cwd") && !params["cwd"].is_null()) {
    GALE_TRY(ApplyCwd(params["cwd"], s));
  } else if (s.working_dir.empty()) {
    s.working_dir = "/tmp";
  }
  s.env["ST2_ACTION_PACK_NAME"] = action.meta.pack;
  s.env["ST2_ACTION_EXECUTION_ID"] = ctx.execution_id;
  s.env["GALE_EXECUTION_ID"] = ctx.execution_id;
  if (shell) {
    for (const auto& [name, value] : params.items()) {
      if (!packs::IsRunnerParameter(type, name) && !value.is_null()) {
        s.env[EnvName(name)] = AsText(value);
      }
    }
  }
  if (packs::IsRunnerParameter(type, "env") && params.contains("env") && !params["env"].is_null()) {
    GALE_TRY(ApplyEnv(params["env"], s));
  }
  return Status::Ok();
}

// <pack>/actions/<entry>, which must exist and stay inside the pack's actions directory.
Result<fs::path> PackScript(const RunnableAction& action) {
  const std::string& entry = action.meta.entry_point;
  if (entry.empty()) return Status::Error("action has no entry_point (the script to run)");
  const fs::path actions_dir = fs::path(action.pack_dir) / "actions";
  const fs::path script = (actions_dir / entry).lexically_normal();
  // The script must stay inside its pack: entry_point "../../x" is not a pack's script.
  const std::string rel = script.lexically_relative(actions_dir).string();
  if (rel.empty() || rel.rfind("..", 0) == 0) {
    return Status::Error("entry_point '" + entry + "' leaves the pack's actions directory");
  }
  struct stat st {};
  if (stat(script.c_str(), &st) != 0) {
    return Status::Error("script actions/" + entry + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return Status::Error("script actions/" + entry + ": not a file");
  return script;
}

// The pack's virtualenv interpreter (<root>/<ref>@<digest>/virtualenv beside the pack copy
// <root>/<ref>@<digest>/<ref>, built when the pack was registered), else the system's.
std::string PackPython(const RunnableAction& action) {
  const fs::path venv_python =
      fs::path(action.pack_dir).parent_path() / "virtualenv" / "bin" / "python";
  std::error_code ec;
  return fs::exists(venv_python, ec) ? venv_python.string() : std::string(kSystemPython);
}

// The interpreter options of a #! line naming StackStorm's Python ("#!/usr/bin/env python",
// "#!/opt/stackstorm/st2/bin/python -u"), or nullopt for any other first line.
std::optional<std::vector<std::string>> StackStormPythonShebang(const fs::path& script) {
  // The kernel reads at most 256 bytes of a #! line; so does this.
  std::ifstream in(script, std::ios::binary);
  std::string line(256, '\0');
  in.read(line.data(), static_cast<std::streamsize>(line.size()));
  line.resize(static_cast<size_t>(in.gcount()));
  line = line.substr(0, line.find('\n'));
  if (line.rfind("#!", 0) != 0) return std::nullopt;
  std::istringstream words(line.substr(2));
  std::vector<std::string> argv;
  for (std::string w; words >> w;) argv.push_back(w);  // '\r' of a CRLF script included
  if (argv.empty()) return std::nullopt;
  bool named = false;
  if (argv[0] == "/usr/bin/env") {
    argv.erase(argv.begin());
    named = !argv.empty() && (argv[0] == "python" || argv[0] == "python3");
  } else {
    named = argv[0] == "/opt/stackstorm/st2/bin/python" ||
            argv[0] == "/opt/stackstorm/st2/bin/python3" || argv[0] == "/usr/bin/python";
  }
  if (!named) return std::nullopt;
  argv.erase(argv.begin());
  return argv;
}

Result<Launch> ShellCommand(const RunnableAction& action, const Json& params,
                            const LaunchContext& ctx) {
  if (!params.contains("cmd") || !params["cmd"].is_string()) {
    return Status::Error("parameter 'cmd' must be a string");
  }
  Launch launch;
  GALE_TRY(ApplyCommon(action, params, ctx, /*shell=*/true, launch));
  launch.command.argv = {"/bin/sh", "-c", params["cmd"].get<std::string>()};
  return launch;
}

Result<Launch> ShellScript(const RunnableAction& action, const Json& params,
                           const LaunchContext& ctx) {
  GALE_ASSIGN_OR_RETURN(const fs::path script, PackScript(action));
  Launch launch;
  GALE_TRY(ApplyCommon(action, params, ctx, /*shell=*/true, launch));
  // StackStorm's Python (which has the pack's virtualenv) is the pack's virtualenv here.
  if (auto options = StackStormPythonShebang(script)) {
    launch.command.argv = {PackPython(action)};
    for (auto& o : *options) launch.command.argv.push_back(std::move(o));
  }
  launch.command.argv.push_back(script.string());
  for (auto& arg : ScriptArguments(action.meta.parameters, params, action.secrets)) {
    launch.command.argv.push_back(std::move(arg));
  }
  return launch;
}

Result<Launch> GaleExec(const RunnableAction& action, const Json& params, const LaunchContext& ctx,
                        std::vector<std::string> args, Json input) {
  if (ctx.gale_binary.empty()) return Status::Error("runner: the gale binary is unknown");
  Launch launch;
  GALE_TRY(ApplyCommon(action, params, ctx, /*shell=*/false, launch));
  AdjustForInstrumentedGale(launch.settings);
  launch.command.argv = {ctx.gale_binary, "exec"};
  for (auto& a : args) launch.command.argv.push_back(std::move(a));
  launch.command.stdin_data = input.dump();
  launch.result_on_stdout = true;
  return launch;
}

// python-script: StackStorm's python_action_wrapper, as Gale's shim
// (host/python/gale_shim/action_wrapper.py has the protocol). The parameters, the config and the
// result delimiter go on stdin, never in argv. -I: the interpreter ignores PYTHON* variables and
// the user's site directory, and does not put the wrapper's directory on sys.path (the wrapper
// builds sys.path from `python_path` itself); -B: no .pyc written into the shared, read-only pack
// copy and virtualenv; -u: output reaches the store as it is printed. The PYTHON* variables say
// the same for the Python programs the action may start, as StackStorm's runner does.
Result<Launch> PythonScript(const RunnableAction& action, const Json& params,
                            const LaunchContext& ctx) {
  if (ctx.python_shim.empty()) {
    return Status::Error(
        "the node has no Python shim (share/gale/python beside its gale binary): python-script "
        "actions cannot run");
  }
  GALE_ASSIGN_OR_RETURN(const fs::path script, PackScript(action));
  Launch launch;
  GALE_TRY(ApplyCommon(action, params, ctx, /*shell=*/false, launch));
  const fs::path actions_dir = fs::path(action.pack_dir) / "actions";
  const std::vector<std::string> python_path = {ctx.python_shim, actions_dir.string(),
                                                (actions_dir / "lib").string()};
  std::string joined;
  for (const auto& dir : python_path) joined += (joined.empty() ? "" : ":") + dir;
  launch.settings.env["PYTHONPATH"] = joined;
  launch.settings.env["PYTHONNOUSERSITE"] = "1";
  launch.settings.env["PYTHONDONTWRITEBYTECODE"] = "1";
  launch.settings.env["PYTHONUNBUFFERED"] = "1";
  Json arguments = Json::object();
  for (const auto& [name, value] : params.items()) {
    if (!packs::IsRunnerParameter(action.meta.runner_type, name)) arguments[name] = value;
  }
  // Checked by type here too: the execution's parameters may come from a client that skipped
  // validation, and a wrong type must fail one execution, never throw in the runner.
  std::string level = "DEBUG";
  if (params.contains("log_level") && params["log_level"].is_string()) {
    level = params["log_level"].get<std::string>();
  }
  const bool debug =
      params.contains("debug") && params["debug"].is_boolean() && params["debug"].get<bool>();
  if (debug || level == "NOTSET") level = "DEBUG";
  // Starts with an ASCII record separator: the live output filter (finish.h) holds back a chunk's
  // tail only when it could begin the delimiter.
  launch.result_delimiter = "\x1egale-result-" + UuidV4() + "\x1e";
  Json input = {{"parameters", std::move(arguments)},
                {"config", action.pack_config},
                {"entry_point", script.string()},
                {"action", action.meta.ref},
                {"pack", action.meta.pack},
                {"execution_id", ctx.execution_id},
                {"log_level", level},
                {"python_path", python_path},
                {"result_delimiter", launch.result_delimiter}};
  launch.command.argv = {PackPython(action), "-I", "-B", "-u",
                         (fs::path(ctx.python_shim) / "gale_shim" / "action_wrapper.py").string()};
  launch.command.stdin_data = input.dump(-1, ' ', false, Json::error_handler_t::replace);
  return launch;
}

// Never launched: the runner hands workflow runner types to the workflow engine before this.
Result<Launch> Workflow(const RunnableAction& action, const Json&, const LaunchContext&) {
  return Status::Error("runner type " + action.meta.runner_type +
                       " runs in the workflow engine, which this node does not run");
}

Result<Launch> Noop(const RunnableAction&, const Json&, const LaunchContext&) {
  Launch launch;
  launch.noop = true;
  return launch;
}

Result<Launch> Native(const RunnableAction& action, const Json& params, const LaunchContext& ctx) {
  const std::string library = action.pack_dir + "/lib" + action.meta.pack + ".so";
  const std::string entry =
      action.meta.entry_point.empty() ? action.meta.name : action.meta.entry_point;
  Json input = {{"parameters", params},
                {"config", action.pack_config},
                {"action", action.meta.ref},
                {"execution_id", ctx.execution_id}};
  return GaleExec(action, params, ctx, {"native", library, entry}, std::move(input));
}

Result<Launch> HttpRequest(const RunnableAction& action, const Json& params,
                           const LaunchContext& ctx) {
  auto launch = GaleExec(action, params, ctx, {"http"}, params);
  // The client enforces the request's own timeout and reports it, so the sandbox's limit
  // (set from the same parameter, unless the action's sandbox block set one) comes later.
  // The slack must not take the sandbox past the node's ceiling either.
  if (launch.ok() && params.contains("timeout") && !action.sandbox_timeout) {
    auto& s = launch->settings;
    s.timeout = std::min(s.timeout + std::chrono::seconds(5), s.max_timeout);
  }
  return launch;
}

// How each runner type of packs::kRunnerTypes runs. That table (names, entry points, runner
// parameters) is in host/packs, which may not depend on this component, so the launchers are
// keyed by its names and the static_asserts below keep the two tables in step at compile time.
using Launcher = Result<Launch> (*)(const RunnableAction&, const Json&, const LaunchContext&);

struct LauncherRow {
  std::string_view runner_type;
  Launcher launch;
};

constexpr std::array kLaunchers = {
    LauncherRow{"action-chain", Workflow},
    LauncherRow{"http-request", HttpRequest},
    LauncherRow{"local-shell-cmd", ShellCommand},
    LauncherRow{"local-shell-script", ShellScript},
    LauncherRow{"native", Native},
    LauncherRow{"noop", Noop},
    LauncherRow{"orquesta", Workflow},
    LauncherRow{"python-script", PythonScript},
};

constexpr std::size_t LaunchersOf(std::string_view runner_type) {
  std::size_t n = 0;
  for (const auto& row : kLaunchers) n += row.runner_type == runner_type ? 1 : 0;
  return n;
}

constexpr bool EveryRunnerTypeHasOneLauncher() {
  for (const auto& type : packs::kRunnerTypes) {
    if (LaunchersOf(type.name) != 1) return false;
  }
  return true;
}

constexpr bool EveryLauncherHasARunnerType() {
  for (const auto& row : kLaunchers) {
    bool known = false;
    for (const auto& type : packs::kRunnerTypes) known = known || type.name == row.runner_type;
    if (!known) return false;
  }
  return true;
}

static_assert(EveryRunnerTypeHasOneLauncher(),
              "a runner type of packs::kRunnerTypes has no launcher in kLaunchers, or two");
static_assert(EveryLauncherHasARunnerType(),
              "kLaunchers names a runner type that packs::kRunnerTypes does not list");

Launcher FindLauncher(std::string_view runner_type) {
  for (const auto& row : kLaunchers) {
    if (row.runner_type == runner_type) return row.launch;
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> ScriptArguments(const Json& declared, const Json& parameters,
                                         const std::set<std::string>& secrets) {
  std::vector<std::string> named;
  std::multimap<int64_t, std::string> positional;
  for (const auto& [name, value] : parameters.items()) {
    // These are local-shell-script's arguments: what its runner reads itself is none of them.
    if (packs::IsRunnerParameter("local-shell-script", name)) continue;
    // A secret in argv is readable by every local user (/proc/PID/cmdline, ps); the script
    // still gets it as PARAM_<NAME>, whose environment only its own uid can read.
    const bool secret = secrets.count(name) > 0;
    const Json* spec = declared.is_object() && declared.contains(name) ? &declared[name] : nullptr;
    if (spec && spec->is_object() && spec->contains("position") &&
        (*spec)["position"].is_number_integer()) {
      // A positional secret keeps its slot, empty, so the arguments after it do not shift.
      positional.emplace((*spec)["position"].get<int64_t>(),
                         value.is_null() || secret ? "" : AsText(value));
      continue;
    }
    if (secret) continue;
    if (value.is_null() || (value.is_string() && value.get<std::string>().empty())) continue;
    if (value.is_boolean()) {
      if (value.get<bool>()) named.push_back("--" + name);
      continue;
    }
    named.push_back("--" + name + "=" + AsText(value));
  }
  for (auto& [pos, text] : positional) named.push_back(std::move(text));
  return named;
}

Result<Launch> PlanLaunch(const RunnableAction& action, const Json& parameters,
                          const LaunchContext& ctx) {
  if (!action.settings_error.empty()) return Status::Error(action.settings_error);
  const std::string& type = action.meta.runner_type;
  const Launcher launcher = FindLauncher(type);
  if (launcher == nullptr) return Status::Error("runner type '" + type + "' cannot run here");
  const Json params =
      packs::WithRunnerDefaults(type, parameters.is_object() ? parameters : Json::object());
  return launcher(action, params, ctx);
}

}  // namespace gale::runner

// What each runner type turns an execution into (host/runner/launch.h).
#include "host/runner/launch.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "host/packs/runner_types.h"

namespace gale::runner {
namespace {

namespace fs = std::filesystem;

RunnableAction Action(const std::string& runner_type, const Json& declared = Json::object()) {
  RunnableAction a;
  a.meta.ref = "p.a";
  a.meta.pack = "p";
  a.meta.name = "a";
  a.meta.runner_type = runner_type;
  a.meta.parameters = declared;
  a.pack_dir = "/packs/p";
  a.settings.timeout = std::chrono::seconds(600);
  return a;
}

const LaunchContext kCtx{"/opt/gale/bin/gale", "exec-1", "/opt/gale/share/gale/python"};

TEST(ScriptArgumentsTest, NamedThenPositionalAsStackStormBuildsThem) {
  Json declared = {{"host", {{"type", "string"}, {"position", 1}}},
                   {"port", {{"type", "integer"}, {"position", 0}}}};
  Json params = {{"host", "h"},  {"port", 22},      {"verbose", true},    {"dry", false},
                 {"label", ""},  {"none", nullptr}, {"count", 3},         {"tags", {"a", "b"}},
                 {"timeout", 5}, {"cwd", "/x"},     {"env", {{"A", "1"}}}};
  EXPECT_EQ(
      ScriptArguments(declared, params, {}),
      (std::vector<std::string>{"--count=3", "--tags=[\"a\",\"b\"]", "--verbose", "22", "h"}));
}

TEST(ScriptArgumentsTest, SecretsAreNeverArguments) {
  Json declared = {{"pin", {{"type", "string"}, {"position", 0}}},
                   {"host", {{"type", "string"}, {"position", 1}}}};
  Json params = {{"pin", "1234"}, {"host", "h"}, {"token", "s3cret"}, {"flag", true}};
  // The positional secret keeps its slot (empty) so `host` is still the second argument.
  EXPECT_EQ(ScriptArguments(declared, params, {"pin", "token", "flag"}),
            (std::vector<std::string>{"", "h"}));
}

TEST(PlanLaunchTest, ShellCommandRunsThroughShWithEnvironmentAndTimeout) {
  auto l =
      PlanLaunch(Action("local-shell-cmd"),
                 {{"cmd", "echo hi"}, {"timeout", 2.5}, {"env", {{"A", "b"}}}, {"n", 3}}, kCtx);
  ASSERT_TRUE(l.ok()) << l.message();
  EXPECT_EQ(l->command.argv, (std::vector<std::string>{"/bin/sh", "-c", "echo hi"}));
  EXPECT_EQ(l->settings.timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(l->settings.env.at("A"), "b");
  EXPECT_EQ(l->settings.env.at("PARAM_N"), "3");
  EXPECT_EQ(l->settings.env.at("ST2_ACTION_EXECUTION_ID"), "exec-1");
  EXPECT_EQ(l->settings.env.at("ST2_ACTION_PACK_NAME"), "p");
  EXPECT_EQ(l->settings.working_dir, "/tmp");
  EXPECT_FALSE(l->result_on_stdout);
}

TEST(PlanLaunchTest, TimeoutParameterIsCappedByTheNodesMaxTimeout) {
  auto a = Action("local-shell-cmd");
  a.settings.max_timeout = std::chrono::seconds(120);
  auto l = PlanLaunch(a, {{"cmd", "true"}, {"timeout", 100}}, kCtx);
  ASSERT_TRUE(l.ok()) << l.message();
  EXPECT_EQ(l->settings.timeout, std::chrono::seconds(100));
  for (double t : {121.0, 86400.0, 1e300}) {
    l = PlanLaunch(a, {{"cmd", "true"}, {"timeout", t}}, kCtx);
    ASSERT_TRUE(l.ok()) << l.message();
    EXPECT_EQ(l->settings.timeout, std::chrono::seconds(120)) << t;
  }
  // http-request's 5 s of slack stay under the cap as well.
  auto h = Action("http-request");
  h.settings.max_timeout = std::chrono::seconds(120);
  auto hl = PlanLaunch(h, {{"url", "http://x/"}, {"timeout", 118}}, kCtx);
  ASSERT_TRUE(hl.ok()) << hl.message();
  EXPECT_EQ(hl->settings.timeout, std::chrono::seconds(120));
  hl = PlanLaunch(h, {{"url", "http://x/"}, {"timeout", 7200}}, kCtx);
  ASSERT_TRUE(hl.ok()) << hl.message();
  EXPECT_EQ(hl->settings.timeout, std::chrono::seconds(120));
}

TEST(PlanLaunchTest, EnvParameterRefusesLoaderAndInterpreterVariables) {
  auto a = Action("local-shell-cmd");
  for (const char* name : {"LD_PRELOAD",
                           "LD_LIBRARY_PATH",
                           "LD_AUDIT",
                           "PYTHONPATH",
                           "PYTHONSTARTUP",
                           "PERL5OPT",
                           "PERL5LIB",
                           "PERLLIB",
                           "RUBYOPT",
                           "RUBYLIB",
                           "NODE_OPTIONS",
                           "NODE_PATH",
                           "BASH_ENV",
                           "ENV",
                           "IFS",
                           "PS4",
                           "SHELLOPTS",
                           "BASHOPTS",
                           "CDPATH",
                           "GLOBIGNORE",
                           "GCONV_PATH",
                           "GLIBC_TUNABLES",
                           "MALLOC_CHECK_",
                           "MALLOC_ARENA_MAX",
                           "LOCPATH",
                           "NLSPATH",
                           "HOSTALIASES",
                           "RESOLV_HOST_CONF",
                           "JAVA_TOOL_OPTIONS",
                           "_JAVA_OPTIONS",
                           "BASH_FUNC_ls%%",
                           "OPENSSL_CONF",
                           "OPENSSL_ENGINES"}) {
    auto l = PlanLaunch(a, {{"cmd", "true"}, {"env", {{"OK", "1"}, {name, "x"}}}}, kCtx);
    ASSERT_FALSE(l.ok()) << name;
    EXPECT_EQ(l.message(), "parameter 'env': variable '" + std::string(name) +
                               "' may not be set (it changes how programs are loaded or "
                               "interpreted)");
  }
  // Ordinary names, including ones that merely look alike, are fine.
  auto l = PlanLaunch(a,
                      {{"cmd", "true"},
                       {"env",
                        {{"TMPDIR", "/tmp"},
                         {"LIBRARY_PATH", "/x"},
                         {"ENVIRONMENT", "prod"},
                         {"ld_preload", "lower case is not the loader's"},
                         {"NODE_ENV", "production"}}}},
                      kCtx);
  ASSERT_TRUE(l.ok()) << l.message();
  EXPECT_EQ(l->settings.env.at("ENVIRONMENT"), "prod");
  // A NUL would cut the name short when the environment is built.
  std::string nul_name = "A";
  nul_name += '\0';
  nul_name += "B";
  EXPECT_EQ(PlanLaunch(a, {{"cmd", "true"}, {"env", {{nul_name, "1"}}}}, kCtx).message(),
            "parameter 'env': a variable name contains a NUL character");
}

TEST(PlanLaunchTest, CwdMustBeAnAbsolutePath) {
  auto a = Action("local-shell-cmd");
  for (const char* dir : {"relative", "./here", "../up", "~/home", ""}) {
    EXPECT_EQ(PlanLaunch(a, {{"cmd", "true"}, {"cwd", dir}}, kCtx).message(),
              "parameter 'cwd' must be an absolute path, not '" + std::string(dir) + "'")
        << dir;
  }
  std::string nul = "/tmp";
  nul += '\0';
  nul += "x";
  EXPECT_EQ(PlanLaunch(a, {{"cmd", "true"}, {"cwd", nul}}, kCtx).message(),
            "parameter 'cwd' must not contain a NUL character");
  EXPECT_EQ(PlanLaunch(a, {{"cmd", "true"}, {"cwd", 3}}, kCtx).message(),
            "parameter 'cwd' must be a string");
  auto l = PlanLaunch(a, {{"cmd", "true"}, {"cwd", "/var/tmp"}}, kCtx);
  ASSERT_TRUE(l.ok()) << l.message();
  EXPECT_EQ(l->settings.working_dir, "/var/tmp");
}

TEST(PlanLaunchTest, SandboxTimeoutWinsOverTheTimeoutParameter) {
  auto a = Action("local-shell-cmd");
  a.sandbox_timeout = true;
  a.settings.timeout = std::chrono::seconds(3);
  auto l = PlanLaunch(a, {{"cmd", "true"}, {"timeout", 100}}, kCtx);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->settings.timeout, std::chrono::seconds(3));
}

TEST(PlanLaunchTest, BadParametersAreOneLineErrors) {
  auto a = Action("local-shell-cmd");
  EXPECT_EQ(PlanLaunch(a, Json::object(), kCtx).message(), "parameter 'cmd' must be a string");
  EXPECT_EQ(PlanLaunch(a, {{"cmd", "x"}, {"timeout", -1}}, kCtx).message(),
            "parameter 'timeout' must be a number of seconds > 0");
  EXPECT_EQ(PlanLaunch(a, {{"cmd", "x"}, {"env", "A=1"}}, kCtx).message(),
            "parameter 'env' must be an object");
  EXPECT_EQ(PlanLaunch(a, {{"cmd", "x"}, {"env", {{"A=B", "1"}}}}, kCtx).message(),
            "parameter 'env': invalid variable name 'A=B'");
  a.settings_error = "x.yaml: sandbox: timeout must be > 0";
  EXPECT_EQ(PlanLaunch(a, {{"cmd", "x"}}, kCtx).message(), "x.yaml: sandbox: timeout must be > 0");
  EXPECT_EQ(PlanLaunch(Action("no-such-runner"), {}, kCtx).message(),
            "runner type 'no-such-runner' cannot run here");
}

// A launcher missing for a row of the table fails to compile (launch.cpp); this is the same
// promise seen from outside.
TEST(PlanLaunchTest, EveryRunnerTypeOfTheTableCanRunHere) {
  for (const auto& type : packs::kRunnerTypes) {
    const std::string name(type.name);
    EXPECT_NE(PlanLaunch(Action(name), {}, kCtx).message(),
              "runner type '" + name + "' cannot run here");
  }
}

TEST(PlanLaunchTest, ScriptMustExistInsideThePack) {
  const fs::path pack = fs::temp_directory_path() / ("gale-launch-" + std::to_string(getpid()));
  fs::create_directories(pack / "actions");
  std::ofstream(pack / "actions" / "run.sh") << "#!/bin/sh\n";
  auto a = Action("local-shell-script", {{"x", {{"position", 0}}}});
  a.pack_dir = pack.string();
  a.meta.entry_point = "run.sh";
  auto l = PlanLaunch(a, {{"x", "one"}}, kCtx);
  ASSERT_TRUE(l.ok()) << l.message();
  EXPECT_EQ(l->command.argv,
            (std::vector<std::string>{(pack / "actions" / "run.sh").string(), "one"}));
  // A secret parameter reaches the script through its environment only, never its argv.
  a.meta.parameters = {{"x", {{"position", 0}}}, {"token", {{"secret", true}}}};
  a.secrets = {"token"};
  l = PlanLaunch(a, {{"x", "one"}, {"token", "s3cret"}}, kCtx);
  ASSERT_TRUE(l.ok()) << l.message();
  EXPECT_EQ(l->command.argv,
            (std::vector<std::string>{(pack / "actions" / "run.sh").string(), "one"}));
  for (const auto& arg : l->command.argv) {
    EXPECT_EQ(arg.find("s3cret"), std::string::npos) << arg;
  }
  EXPECT_EQ(l->settings.env.at("PARAM_TOKEN"), "s3cret");
  a.meta.entry_point = "../../etc/passwd";
  EXPECT_EQ(PlanLaunch(a, {}, kCtx).message(),
            "entry_point '../../etc/passwd' leaves the pack's actions directory");
  a.meta.entry_point = "gone.sh";
  EXPECT_EQ(PlanLaunch(a, {}, kCtx).message(), "script actions/gone.sh: No such file or directory");
  fs::remove_all(pack);
}

TEST(PlanLaunchTest, NativeAndHttpRunGaleExecWithTheirInputOnStdin) {
  auto native = Action("native");
  native.meta.entry_point = "do_it";
  native.pack_config = {{"k", "v"}};
  auto l = PlanLaunch(native, {{"a", 1}}, kCtx);
  ASSERT_TRUE(l.ok()) << l.message();
  EXPECT_EQ(l->command.argv, (std::vector<std::string>{"/opt/gale/bin/gale", "exec", "native",
                                                       "/packs/p/libp.so", "do_it"}));
  ASSERT_TRUE(l->command.stdin_data.has_value());
  Json input = Json::parse(*l->command.stdin_data);
  EXPECT_EQ(input["parameters"], Json({{"a", 1}}));
  EXPECT_EQ(input["config"], Json({{"k", "v"}}));
  EXPECT_EQ(input["execution_id"], "exec-1");
  EXPECT_TRUE(l->result_on_stdout);
  EXPECT_FALSE(l->settings.env.count("PARAM_A"));  // only shell runners get PARAM_*

  auto h = PlanLaunch(Action("http-request"), {{"url", "http://x/"}, {"timeout", 2}}, kCtx);
  ASSERT_TRUE(h.ok()) << h.message();
  EXPECT_EQ(h->command.argv, (std::vector<std::string>{"/opt/gale/bin/gale", "exec", "http"}));
  EXPECT_EQ(h->settings.timeout, std::chrono::seconds(7));  // the client's 2 s come first
  auto boxed = Action("http-request");
  boxed.sandbox_timeout = true;
  boxed.settings.timeout = std::chrono::seconds(3);
  auto hb = PlanLaunch(boxed, {{"url", "http://x/"}, {"timeout", 60}}, kCtx);
  ASSERT_TRUE(hb.ok()) << hb.message();
  EXPECT_EQ(hb->settings.timeout, std::chrono::seconds(3));  // the action's sandbox block wins
}

// A pack copy laid out as the node's snapshots are: <root>/<ref>@<digest>/<ref>, with the pack's
// virtualenv (when `venv`) at <root>/<ref>@<digest>/virtualenv.
struct SnapshotPack {
  explicit SnapshotPack(bool venv) {
    root = fs::temp_directory_path() /
           ("gale-launch-py-" + std::to_string(getpid()) + (venv ? "-venv" : ""));
    dir = root / "p@0123" / "p";
    fs::create_directories(dir / "actions" / "lib");
    if (venv) {
      fs::create_directories(root / "p@0123" / "virtualenv" / "bin");
      fs::create_symlink("/usr/bin/python3", root / "p@0123" / "virtualenv" / "bin" / "python");
    }
  }
  ~SnapshotPack() { fs::remove_all(root); }
  std::string Write(const std::string& name, const std::string& text) const {
    std::ofstream(dir / "actions" / name) << text;
    return (dir / "actions" / name).string();
  }
  std::string VenvPython() const { return (root / "p@0123" / "virtualenv/bin/python").string(); }
  fs::path root, dir;
};

TEST(PlanLaunchTest, PythonScriptRunsTheWrapperWithEverythingOnStdin) {
  SnapshotPack pack(/*venv=*/false);
  const std::string script =
      pack.Write("greet.py", "from st2common.runners.base_action import Action\n");
  auto a = Action("python-script", {{"token", {{"type", "string"}, {"secret", true}}}});
  a.pack_dir = pack.dir.string();
  a.meta.entry_point = "greet.py";
  a.pack_config = {{"k", "v"}};
  a.secrets = {"token"};
  auto l = PlanLaunch(a,
                      {{"who", "ann"},
                       {"token", "s3cret"},
                       {"cwd", "relative/is/the/action's/business"},
                       {"timeout", 7},
                       {"env", {{"GREETING", "hi"}}}},
                      kCtx);
  ASSERT_TRUE(l.ok()) << l.message();
  EXPECT_EQ(l->command.argv,
            (std::vector<std::string>{"/usr/bin/python3", "-I", "-B", "-u",
                                      "/opt/gale/share/gale/python/gale_shim/action_wrapper.py"}));
  for (const auto& arg : l->command.argv) EXPECT_EQ(arg.find("s3cret"), std::string::npos) << arg;
  ASSERT_TRUE(l->command.stdin_data.has_value());
  Json input = Json::parse(*l->command.stdin_data);
  // run() gets the action's parameters, never the runner's (timeout, env, log_level, debug).
  EXPECT_EQ(
      input["parameters"],
      Json({{"who", "ann"}, {"token", "s3cret"}, {"cwd", "relative/is/the/action's/business"}}));
  EXPECT_EQ(input["config"], Json({{"k", "v"}}));
  EXPECT_EQ(input["entry_point"], script);
  EXPECT_EQ(input["action"], "p.a");
  EXPECT_EQ(input["pack"], "p");
  EXPECT_EQ(input["execution_id"], "exec-1");
  EXPECT_EQ(input["log_level"], "DEBUG");  // StackStorm's default
  const std::string actions = (pack.dir / "actions").string();
  EXPECT_EQ(input["python_path"], Json({"/opt/gale/share/gale/python", actions, actions + "/lib"}));
  EXPECT_EQ(l->settings.env.at("PYTHONPATH"),
            "/opt/gale/share/gale/python:" + actions + ":" + actions + "/lib");
  EXPECT_EQ(input["result_delimiter"], l->result_delimiter);
  EXPECT_GE(l->result_delimiter.size(), 32u);
  EXPECT_FALSE(l->result_on_stdout);
  // The runner's parameters: timeout and env apply; an action's `cwd` is not a directory here.
  EXPECT_EQ(l->settings.timeout, std::chrono::seconds(7));
  EXPECT_EQ(l->settings.env.at("GREETING"), "hi");
  EXPECT_EQ(l->settings.working_dir, "/tmp");
  EXPECT_FALSE(l->settings.env.count("PARAM_WHO"));
  EXPECT_FALSE(l->settings.env.count("PARAM_TOKEN"));
  // A fresh delimiter per execution: no action can know the next one.
  auto again = PlanLaunch(a, {{"who", "ann"}}, kCtx);
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_NE(again->result_delimiter, l->result_delimiter);
  // log_level and debug as StackStorm reads them.
  auto info = PlanLaunch(a, {{"log_level", "INFO"}}, kCtx);
  EXPECT_EQ(Json::parse(*info->command.stdin_data)["log_level"], "INFO");
  auto debug = PlanLaunch(a, {{"log_level", "ERROR"}, {"debug", true}}, kCtx);
  EXPECT_EQ(Json::parse(*debug->command.stdin_data)["log_level"], "DEBUG");
  // Unvalidated types never throw in the runner.
  auto odd = PlanLaunch(a, {{"log_level", 3}, {"debug", "yes"}}, kCtx);
  ASSERT_TRUE(odd.ok()) << odd.message();
  EXPECT_EQ(Json::parse(*odd->command.stdin_data)["log_level"], "DEBUG");
  // The env parameter is refused for interpreter variables, as for shell actions.
  EXPECT_EQ(PlanLaunch(a, {{"env", {{"PYTHONPATH", "/tmp"}}}}, kCtx).message(),
            "parameter 'env': variable 'PYTHONPATH' may not be set (it changes how programs are "
            "loaded or interpreted)");
}

TEST(PlanLaunchTest, PythonScriptUsesThePacksVirtualenvAndNeedsTheShim) {
  SnapshotPack pack(/*venv=*/true);
  pack.Write("greet.py", "");
  auto a = Action("python-script");
  a.pack_dir = pack.dir.string();
  a.meta.entry_point = "greet.py";
  auto l = PlanLaunch(a, Json::object(), kCtx);
  ASSERT_TRUE(l.ok()) << l.message();
  EXPECT_EQ(l->command.argv.front(), pack.VenvPython());
  LaunchContext no_shim = kCtx;
  no_shim.python_shim.clear();
  EXPECT_EQ(PlanLaunch(a, Json::object(), no_shim).message(),
            "the node has no Python shim (share/gale/python beside its gale binary): "
            "python-script actions cannot run");
  a.meta.entry_point = "gone.py";
  EXPECT_EQ(PlanLaunch(a, {}, kCtx).message(), "script actions/gone.py: No such file or directory");
  a.meta.entry_point = "../../../x.py";
  EXPECT_EQ(PlanLaunch(a, {}, kCtx).message(),
            "entry_point '../../../x.py' leaves the pack's actions directory");
}

TEST(PlanLaunchTest, ShebangsNamingStackStormsPythonRunThePacksPython) {
  for (bool venv : {false, true}) {
    SnapshotPack pack(venv);
    const std::string python = venv ? pack.VenvPython() : "/usr/bin/python3";
    auto a = Action("local-shell-script", {{"x", {{"position", 0}}}});
    a.pack_dir = pack.dir.string();
    a.meta.entry_point = "run";
    struct Row {
      std::string first_line;
      std::vector<std::string> interpreter;  // empty: the script is executed as it is
    };
    const std::vector<Row> rows = {
        {"#!/opt/stackstorm/st2/bin/python", {python}},
        {"#!/opt/stackstorm/st2/bin/python3", {python}},
        {"#!/usr/bin/env python", {python}},
        {"#!/usr/bin/env python3", {python}},
        {"#!/usr/bin/python", {python}},
        {"#! /usr/bin/env  python\r", {python}},  // spaces, and a CRLF script
        {"#!/opt/stackstorm/st2/bin/python -u", {python, "-u"}},
        {"#!/bin/sh", {}},
        {"#!/usr/bin/env bash", {}},
        {"#!/usr/bin/python3", {}},  // a Python the author chose, not StackStorm's
        {"#!/usr/bin/env python2", {}},
        {"#!/usr/local/bin/python", {}},
        {"# /usr/bin/env python", {}},
        {"", {}},
    };
    for (const auto& row : rows) {
      const std::string script = pack.Write("run", row.first_line + "\nprint('x')\n");
      auto l = PlanLaunch(a, {{"x", "one"}}, kCtx);
      ASSERT_TRUE(l.ok()) << l.message();
      std::vector<std::string> want = row.interpreter;
      want.push_back(script);
      want.push_back("one");
      EXPECT_EQ(l->command.argv, want) << row.first_line << (venv ? " (venv)" : "");
    }
  }
}

TEST(PlanLaunchTest, NoopSpawnsNothing) {
  auto l = PlanLaunch(Action("noop"), Json::object(), kCtx);
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->noop);
}

}  // namespace
}  // namespace gale::runner

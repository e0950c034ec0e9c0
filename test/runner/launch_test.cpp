// What each runner type turns an execution into (host/runner/launch.h).
#include "host/runner/launch.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

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

const LaunchContext kCtx{"/opt/gale/bin/gale", "exec-1"};

TEST(ScriptArgumentsTest, NamedThenPositionalAsStackStormBuildsThem) {
  Json declared = {{"host", {{"type", "string"}, {"position", 1}}},
                   {"port", {{"type", "integer"}, {"position", 0}}}};
  Json params = {{"host", "h"},  {"port", 22},      {"verbose", true},    {"dry", false},
                 {"label", ""},  {"none", nullptr}, {"count", 3},         {"tags", {"a", "b"}},
                 {"timeout", 5}, {"cwd", "/x"},     {"env", {{"A", "1"}}}};
  EXPECT_EQ(
      ScriptArguments(declared, params),
      (std::vector<std::string>{"--count=3", "--tags=[\"a\",\"b\"]", "--verbose", "22", "h"}));
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
  EXPECT_EQ(PlanLaunch(Action("python-script"), {}, kCtx).message(),
            "runner type 'python-script' cannot run here");
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

TEST(PlanLaunchTest, NoopSpawnsNothing) {
  auto l = PlanLaunch(Action("noop"), Json::object(), kCtx);
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->noop);
}

}  // namespace
}  // namespace gale::runner

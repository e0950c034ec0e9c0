// Hostile actions through the runner (issue #7; Python ones, issue #19): each one is contained,
// ends with a clear status and reason, and the runner goes on serving a well-behaved execution
// requested right after it, which finishes while the hostile one is still being dealt with.
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "runner_fixture.h"

namespace gale::runner::test {
namespace {

namespace fs = std::filesystem;
using store::ExecStatus;
using namespace std::chrono_literals;

class HostileRunnerTest : public RunnerTest {
 protected:
  // Requests `action` with `cmd`, then a healthy echo; returns the hostile execution once final
  // and checks the healthy one succeeded (and, when `healthy_first`, that it finished first).
  store::Execution RunBeside(const std::string& action, const std::string& cmd,
                             bool healthy_first) {
    return RunBesideWith(action, {{"cmd", cmd}}, healthy_first);
  }
  // The same with any parameters.
  store::Execution RunBesideWith(const std::string& action, const Json& params,
                                 bool healthy_first) {
    const std::string bad = Request(action, params);
    EXPECT_TRUE(WaitFor([&] { return Get(bad).status != ExecStatus::kRequested; }, 30s));
    const std::string good = Request("core.local", {{"cmd", "echo still serving"}});
    auto ok = WaitFinal(good, 60s);
    EXPECT_EQ(ok.status, ExecStatus::kSucceeded) << ok.result.dump();
    EXPECT_EQ(ok.result["stdout"], "still serving\n");
    auto e = WaitFinal(bad, 120s);
    if (healthy_first) {
      EXPECT_LE(ok.finished_at, e.finished_at);
    }
    return e;
  }
  // `exec`: the hostile program is the action's main process, not a child of sh.
  std::string Hostile(const std::string& args) { return "exec " + HostilePath() + " " + args; }
  static std::string Error(const store::Execution& e) { return e.result.value("error", ""); }
};

TEST_P(HostileRunnerTest, ForkBombIsContained) {
  auto runner = StartRunner();
  auto e = RunBeside("runnertest.small", Hostile("forkbomb"), true);
  // Bounded by pids.max / RLIMIT_NPROC, then by the action's 3 s timeout.
  EXPECT_TRUE(e.status == ExecStatus::kTimeout || e.status == ExecStatus::kFailed)
      << store::ToString(e.status);
  EXPECT_FALSE(e.result["sandbox"].contains("containment_failed")) << e.result.dump();
}

TEST_P(HostileRunnerTest, MemoryBombHitsTheLimit) {
  auto runner = StartRunner();
  auto e = RunBeside("runnertest.small", Hostile("membomb 1024"), false);
  // 64 MiB of address space (the action's sandbox `memory`): malloc fails long before 1 GiB.
  EXPECT_EQ(e.status, ExecStatus::kFailed) << e.result.dump();
  EXPECT_EQ(e.result["return_code"], 4) << e.result.dump();
  EXPECT_NE(e.result["stdout"].get<std::string>().find("allocation failed after"),
            std::string::npos);
}

TEST_P(HostileRunnerTest, InfiniteLoopTimesOut) {
  auto runner = StartRunner();
  auto e = RunBeside("runnertest.small", Hostile("spin"), true);
  EXPECT_EQ(e.status, ExecStatus::kTimeout);
  EXPECT_EQ(Error(e).rfind("timed out after ", 0), 0u) << Error(e);
  EXPECT_GE(e.result["sandbox"]["wall_ms"].get<int64_t>(), 3000);
}

TEST_P(HostileRunnerTest, IgnoringTermIsKilledAfterTheGrace) {
  auto runner = StartRunner();
  auto e = RunBeside("runnertest.small", Hostile("ignore-term"), true);
  EXPECT_EQ(e.status, ExecStatus::kTimeout);
  EXPECT_NE(Error(e).find("SIGKILL"), std::string::npos) << Error(e);
}

TEST_P(HostileRunnerTest, GrandchildThatCallsSetsidIsStillKilled) {
  auto runner = StartRunner();
  const std::string pidfile = (dir() / "grandchild.pid").string();
  auto e = RunBeside("runnertest.small", Hostile("setsid-grandchild " + pidfile + " stay"), true);
  pid_t pid = 0;
  std::ifstream(pidfile) >> pid;
  ASSERT_GT(pid, 0) << "the grandchild never started";
  // Its command line names the pid file (its pid is one of the execution's PID namespace).
  EXPECT_TRUE(WaitFor([&] { return !AnyProcessWith(pidfile); }, 10s)) << "the grandchild lives";
  EXPECT_TRUE(store::IsFinal(e.status));
}

TEST_P(HostileRunnerTest, InetSocketIsDeniedUnderNoNetworkAndReported) {
  auto runner = StartRunner();
  auto e = RunBeside("runnertest.nonet", Hostile("socket-inet"), false);
  EXPECT_EQ(e.status, ExecStatus::kFailed) << e.result.dump();
  EXPECT_NE(Error(e).find("denied: socket"), std::string::npos) << e.result.dump();
  EXPECT_EQ(e.result["sandbox"]["denied_syscalls"], Json::array({"socket"}));
}

TEST_P(HostileRunnerTest, PtraceIsDeniedUnderDefault) {
  auto runner = StartRunner();
  auto e = RunBeside("runnertest.shell", Hostile("ptrace"), false);
  EXPECT_EQ(e.status, ExecStatus::kFailed) << e.result.dump();
  EXPECT_NE(Error(e).find("denied: ptrace"), std::string::npos) << e.result.dump();
}

TEST_P(HostileRunnerTest, GigabyteOnStdoutIsCappedAndFlaggedTruncated) {
  auto runner = StartRunner();
  auto e = RunBeside("runnertest.shell", Hostile("flood 1073741824"), false);
  EXPECT_EQ(e.status, ExecStatus::kSucceeded) << e.result["sandbox"].dump();
  EXPECT_EQ(e.result["sandbox"]["stdout_truncated"], true);
  EXPECT_EQ(e.result["sandbox"]["stdout_bytes"], 1073741824);
  EXPECT_EQ(e.result["stdout"].get<std::string>().size(), 1u << 20);
  EXPECT_EQ(Output(e.id, "stdout").size(), 1u << 20);  // what was stored, not a gigabyte
}

TEST_P(HostileRunnerTest, SegfaultingNativeActionFailsAndTheRunnerGoesOn) {
  auto runner = StartRunner();
  const std::string bad = Request("runnertest.native_segv", Json::object());
  auto e = WaitFinal(bad);
  EXPECT_EQ(e.status, ExecStatus::kFailed);
  EXPECT_NE(Error(e).find("killed by SIGSEGV"), std::string::npos) << e.result.dump();
  auto ok = WaitFinal(Request("runnertest.native_ok", Json::object()));
  EXPECT_EQ(ok.status, ExecStatus::kSucceeded) << ok.result.dump();
}

// The Python row (issue 19): python-script actions get the same sandbox as shell ones, so the
// same attempts end the same way. As root the runner drops them to gale-action, as a root node
// does; the file rows need that drop (root keeps its files' owner rights) and are skipped without.
class HostilePythonTest : public HostileRunnerTest {
 protected:
  void SetUp() override {
    HostileRunnerTest::SetUp();
    dropped_ = geteuid() == 0 && getpwnam("gale-action") != nullptr;
    if (dropped_) action_user_ = "gale-action";
  }
  // Runs runnertest.py_hostile with `params` beside a healthy execution, as RunBeside does.
  store::Execution PythonBeside(Json params, bool healthy_first) {
    auto e = RunBesideWith("runnertest.py_hostile", params, healthy_first);
    EXPECT_FALSE(e.result.contains("result") && e.result["result"].is_object() &&
                 e.result["result"].contains("escaped"))
        << e.result.dump();
    return e;
  }
  bool dropped_ = false;
};

TEST_P(HostilePythonTest, ForkBombIsContained) {
  auto runner = StartRunner();
  auto e = PythonBeside({{"attempt", "forkbomb"}}, true);
  EXPECT_TRUE(e.status == ExecStatus::kTimeout || e.status == ExecStatus::kFailed)
      << store::ToString(e.status);
  EXPECT_FALSE(e.result["sandbox"].contains("containment_failed")) << e.result.dump();
  // Every forked interpreter is gone with the execution.
  EXPECT_TRUE(WaitFor([&] { return !AnyProcessWith("action_wrapper.py"); }, 10s));
}

TEST_P(HostilePythonTest, InfiniteLoopTimesOut) {
  auto runner = StartRunner();
  auto e = PythonBeside({{"attempt", "spin"}}, true);
  EXPECT_EQ(e.status, ExecStatus::kTimeout);
  EXPECT_EQ(Error(e).rfind("timed out after ", 0), 0u) << Error(e);
  EXPECT_GE(e.result["sandbox"]["wall_ms"].get<int64_t>(), 4000);
}

TEST_P(HostilePythonTest, PtraceIsDeniedAndReported) {
  auto runner = StartRunner();
  auto e = PythonBeside({{"attempt", "ptrace"}}, false);
  EXPECT_EQ(e.status, ExecStatus::kFailed) << e.result.dump();
  EXPECT_NE(Error(e).find("PermissionError"), std::string::npos) << e.result.dump();
  EXPECT_NE(Error(e).find("denied: ptrace"), std::string::npos) << e.result.dump();
}

TEST_P(HostilePythonTest, InetSocketIsDeniedUnderNoNetwork) {
  auto runner = StartRunner();
  auto e = PythonBeside({{"attempt", "socket"}}, false);
  EXPECT_EQ(e.status, ExecStatus::kFailed) << e.result.dump();
  EXPECT_NE(Error(e).find("denied: socket"), std::string::npos) << e.result.dump();
}

TEST_P(HostilePythonTest, TheNodeCannotBeKilled) {
  auto runner = StartRunner();
  // This process stands for the node: its pid is not in the execution's PID namespace, and
  // kill(-1, ...) is refused by every profile.
  auto e = PythonBeside({{"attempt", "kill"}, {"pid", static_cast<int>(getpid())}}, false);
  EXPECT_EQ(e.status, ExecStatus::kFailed) << e.result.dump();
  EXPECT_NE(Error(e).find("kill -1: [Errno 1] Operation not permitted"), std::string::npos)
      << e.result.dump();
  EXPECT_NE(Error(e).find("kill " + std::to_string(getpid()) + ": [Errno"), std::string::npos)
      << e.result.dump();
}

TEST_P(HostilePythonTest, PrivateFilesCannotBeReadNorWritten) {
  if (!dropped_) GTEST_SKIP() << "SKIPPED: needs root and the gale-action user (scripts/setup)";
  auto runner = StartRunner();
  // A file only the node's user may read, as GALE_HOME's keys are.
  const fs::path secret = dir() / "datastore.key";
  std::ofstream(secret) << "not for actions\n";
  fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
  for (const std::string& target : {std::string("/etc/shadow"), secret.string()}) {
    auto e = PythonBeside({{"attempt", "read"}, {"target", target}}, false);
    EXPECT_EQ(e.status, ExecStatus::kFailed) << target << ": " << e.result.dump();
    EXPECT_NE(Error(e).find("PermissionError: [Errno 13] Permission denied"), std::string::npos)
        << target << ": " << e.result.dump();
  }
  for (const fs::path& target :
       {fs::path("/etc") / ("gale-planted-" + std::to_string(getpid())), dir() / "planted"}) {
    auto e = PythonBeside({{"attempt", "write"}, {"target", target.string()}}, false);
    EXPECT_EQ(e.status, ExecStatus::kFailed) << target << ": " << e.result.dump();
    EXPECT_NE(Error(e).find("PermissionError"), std::string::npos) << e.result.dump();
    EXPECT_FALSE(fs::exists(target)) << target;
  }
}

INSTANTIATE_TEST_SUITE_P(Bus, HostilePythonTest, ::testing::Values(Target::kEmbedded), TargetName);

INSTANTIATE_TEST_SUITE_P(Bus, HostileRunnerTest, ::testing::Values(Target::kEmbedded), TargetName);

}  // namespace
}  // namespace gale::runner::test

// Hostile actions: each test asserts containment (nothing of the run survives), a clear outcome,
// and that other executions on the same io_context keep being served meanwhile.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "sandbox/cgroup.h"
#include "sandbox/process.h"
#include "sandbox_test_util.h"

namespace gale::sandbox {
namespace {

using namespace std::chrono_literals;
using testing::ExpectBystandersServed;
using testing::ExpectNothingLeft;
using testing::Gone;
using testing::Hostile;
using testing::NewMarker;
using testing::RunWithBystanders;

Settings Base() {
  Settings s;
  s.timeout = 20s;  // a hang guard; tests that need a timeout set a short one
  s.kill_grace = 500ms;
  s.limits.processes = 64;
  s.limits.address_space_bytes = 1ULL << 30;
  return s;
}

bool HavePidsCgroup() {
  const CgroupSupport& support = DetectCgroupSupport();
  if (!support.v1_pids_dir.empty()) return true;
  if (support.v2_dir.empty()) return false;
  std::ifstream in(support.v2_dir + "/cgroup.subtree_control");
  std::string controllers((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return controllers.find("pids") != std::string::npos;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gale-sandbox-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
    chmod(path_.c_str(), 0755);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// As root, RLIMIT_NPROC is not enforced: the per-execution pids cgroup contains the bomb.
TEST(Hostile, ForkBombContainedByPidsCgroup) {
  if (!HavePidsCgroup()) GTEST_SKIP() << "no writable pids cgroup here";
  std::string marker = NewMarker();
  Settings s = Base();
  s.cgroup = CgroupMode::kRequire;
  s.limits.processes = 32;
  s.timeout = 2s;
  s.kill_grace = 200ms;
  auto r = RunWithBystanders(Hostile(marker, {"forkbomb"}), s, 60s, marker);
  ASSERT_TRUE(r.outcome) << "did not finish";
  const Outcome& o = *r.outcome;
  EXPECT_EQ(o.kind, OutcomeKind::kTimedOut) << o.Describe();
  EXPECT_FALSE(o.cgroup.empty());
  ASSERT_TRUE(o.usage.peak_processes.has_value());
  EXPECT_LE(*o.usage.peak_processes, 32);
  EXPECT_GE(*o.usage.peak_processes, 16);  // it did explode, up to the limit
  EXPECT_LE(r.max_marker_processes, 32u);
  ExpectBystandersServed(r, /*expect_during=*/true);
  ExpectNothingLeft(o, marker);
}

// Dropped to an unprivileged uid, RLIMIT_NPROC applies, even without a cgroup.
TEST(Hostile, ForkBombContainedByNprocAfterPrivilegeDrop) {
  if (!testing::IsRoot()) GTEST_SKIP() << "needs root to drop privileges";
  std::string marker = NewMarker();
  Settings s = Base();
  s.cgroup = CgroupMode::kOff;
  s.user = "nobody";
  s.limits.processes = 32;
  s.timeout = 2s;
  s.kill_grace = 200ms;
  auto r = RunWithBystanders(Hostile(marker, {"forkbomb"}), s, 60s, marker);
  ASSERT_TRUE(r.outcome) << "did not finish";
  const Outcome& o = *r.outcome;
  EXPECT_EQ(o.kind, OutcomeKind::kTimedOut) << o.Describe();
  EXPECT_LE(r.max_marker_processes, 32u);
  // It did fork (how far depends on other processes of that uid: the count is per uid).
  EXPECT_GE(r.max_marker_processes, 2u);
  ExpectBystandersServed(r, /*expect_during=*/true);
  ExpectNothingLeft(o, marker);
}

TEST(Hostile, MemoryBombHitsTheAddressSpaceLimit) {
  std::string marker = NewMarker();
  Settings s = Base();
  s.limits.address_space_bytes = 256ULL << 20;
  auto r = RunWithBystanders(Hostile(marker, {"membomb", "4096"}), s);
  ASSERT_TRUE(r.outcome);
  const Outcome& o = *r.outcome;
  ASSERT_EQ(o.kind, OutcomeKind::kExited) << o.Describe();
  EXPECT_EQ(o.exit_code, 4) << o.out.data;
  EXPECT_NE(o.out.data.find("allocation failed"), std::string::npos) << o.out.data;
  ExpectBystandersServed(r, /*expect_during=*/false);
  ExpectNothingLeft(o, marker);
}

TEST(Hostile, InfiniteLoopTimesOut) {
  std::string marker = NewMarker();
  Settings s = Base();
  s.timeout = 1s;
  auto r = RunWithBystanders(Hostile(marker, {"spin"}), s);
  ASSERT_TRUE(r.outcome);
  const Outcome& o = *r.outcome;
  EXPECT_EQ(o.kind, OutcomeKind::kTimedOut) << o.Describe();
  EXPECT_EQ(o.signal, SIGTERM);
  EXPECT_GT(o.usage.cpu_user_ms, 0);
  ExpectBystandersServed(r, /*expect_during=*/true);
  ExpectNothingLeft(o, marker);
}

TEST(Hostile, CpuLimitKillsWithSigxcpu) {
  std::string marker = NewMarker();
  Settings s = Base();
  s.limits.cpu_seconds = 1;
  auto r = RunWithBystanders(Hostile(marker, {"spin"}), s);
  ASSERT_TRUE(r.outcome);
  const Outcome& o = *r.outcome;
  EXPECT_EQ(o.kind, OutcomeKind::kKilled) << o.Describe();
  EXPECT_EQ(o.signal, SIGXCPU);
  ExpectBystandersServed(r, /*expect_during=*/true);
  ExpectNothingLeft(o, marker);
}

TEST(Hostile, IgnoringTermGetsKilledAfterGrace) {
  std::string marker = NewMarker();
  Settings s = Base();
  s.timeout = 500ms;
  s.kill_grace = 500ms;
  auto r = RunWithBystanders(Hostile(marker, {"ignore-term"}), s);
  ASSERT_TRUE(r.outcome);
  const Outcome& o = *r.outcome;
  EXPECT_EQ(o.kind, OutcomeKind::kTimedOut) << o.Describe();
  EXPECT_EQ(o.signal, SIGKILL);
  EXPECT_EQ(o.out.data, "ignoring SIGTERM\n");
  ExpectBystandersServed(r, /*expect_during=*/true);
  ExpectNothingLeft(o, marker);
}

pid_t ReadPid(const std::string& path) {
  std::ifstream in(path);
  pid_t pid = 0;
  in >> pid;
  return pid;
}

// The main process exits normally; its grandchild left the session: killed as a leftover.
TEST(Hostile, SetsidGrandchildIsKilledWhenTheMainProcessExits) {
  TempDir dir;
  std::string marker = NewMarker();
  std::string pidfile = dir.path() + "/grandchild.pid";
  Settings s = Base();
  s.namespaces = false;  // the keeper's tree walk alone (a PID namespace would end it anyway)
  auto r = RunWithBystanders(Hostile(marker, {"setsid-grandchild", pidfile}), s);
  ASSERT_TRUE(r.outcome);
  const Outcome& o = *r.outcome;
  EXPECT_EQ(o.kind, OutcomeKind::kExited) << o.Describe();
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_GE(o.leftovers_killed, 1);
  pid_t grandchild = ReadPid(pidfile);
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(Gone(grandchild));
  ExpectBystandersServed(r, /*expect_during=*/false);
  ExpectNothingLeft(o, marker);
}

// The main process hangs; on timeout the grandchild (other session, ignores TERM) dies too.
TEST(Hostile, SetsidGrandchildIsKilledOnTimeout) {
  TempDir dir;
  std::string marker = NewMarker();
  std::string pidfile = dir.path() + "/grandchild.pid";
  Settings s = Base();
  s.cgroup = CgroupMode::kOff;  // the keeper alone must find it
  s.namespaces = false;
  s.timeout = 1s;
  s.kill_grace = 300ms;
  auto r = RunWithBystanders(Hostile(marker, {"setsid-grandchild", pidfile, "stay"}), s);
  ASSERT_TRUE(r.outcome);
  const Outcome& o = *r.outcome;
  EXPECT_EQ(o.kind, OutcomeKind::kTimedOut) << o.Describe();
  pid_t grandchild = ReadPid(pidfile);
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(Gone(grandchild));
  ExpectBystandersServed(r, /*expect_during=*/true);
  ExpectNothingLeft(o, marker);
}

TEST(Hostile, InetSocketDeniedUnderNoNetworkAndReported) {
  std::string marker = NewMarker();
  Settings s = Base();
  s.profile = SeccompProfile::kNoNetwork;
  auto r = RunWithBystanders(Hostile(marker, {"socket-inet"}), s);
  ASSERT_TRUE(r.outcome);
  const Outcome& o = *r.outcome;
  EXPECT_EQ(o.kind, OutcomeKind::kExited) << o.Describe();
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_EQ(o.out.data, "socket: Operation not permitted\n");
  EXPECT_TRUE(o.denied_syscalls_known);
  EXPECT_EQ(o.denied_syscalls, std::vector<std::string>{"socket"});
  EXPECT_NE(o.Describe().find("denied: socket"), std::string::npos) << o.Describe();
  ExpectBystandersServed(r, /*expect_during=*/false);
  ExpectNothingLeft(o, marker);
}

TEST(Hostile, UnixSocketAllowedUnderNoNetwork) {
  std::string marker = NewMarker();
  Settings s = Base();
  s.profile = SeccompProfile::kNoNetwork;
  Outcome o = RunSandboxed(Hostile(marker, {"socket-unix"}), s);
  EXPECT_TRUE(o.Succeeded()) << o.Describe();
  EXPECT_TRUE(o.denied_syscalls.empty());
}

TEST(Hostile, InetSocketAllowedUnderDefault) {
  std::string marker = NewMarker();
  Outcome o = RunSandboxed(Hostile(marker, {"socket-inet"}), Base());
  EXPECT_TRUE(o.Succeeded()) << o.Describe();
}

TEST(Hostile, KillModeEndsTheExecutionAndNamesTheCall) {
  std::string marker = NewMarker();
  Settings s = Base();
  s.profile = SeccompProfile::kNoNetwork;
  s.on_violation = ViolationAction::kKill;
  auto r = RunWithBystanders(Hostile(marker, {"socket-inet"}), s);
  ASSERT_TRUE(r.outcome);
  const Outcome& o = *r.outcome;
  EXPECT_EQ(o.kind, OutcomeKind::kSeccompViolation) << o.Describe();
  EXPECT_EQ(o.violation_syscall, "socket");
  EXPECT_EQ(o.signal, SIGKILL);
  EXPECT_EQ(o.out.data, "");  // the call never returned
  EXPECT_NE(o.Describe().find("socket"), std::string::npos);
  ExpectBystandersServed(r, /*expect_during=*/false);
  ExpectNothingLeft(o, marker);
}

TEST(Hostile, PtraceDeniedUnderDefault) {
  std::string marker = NewMarker();
  auto r = RunWithBystanders(Hostile(marker, {"ptrace"}), Base());
  ASSERT_TRUE(r.outcome);
  const Outcome& o = *r.outcome;
  EXPECT_EQ(o.kind, OutcomeKind::kExited) << o.Describe();
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_EQ(o.out.data, "ptrace: Operation not permitted\n");
  EXPECT_EQ(o.denied_syscalls, std::vector<std::string>{"ptrace"});
  ExpectBystandersServed(r, /*expect_during=*/false);
  ExpectNothingLeft(o, marker);
}

TEST(Hostile, GigabyteOnStdoutIsCappedAndFlaggedTruncated) {
  std::string marker = NewMarker();
  Settings s = Base();
  s.output_cap_bytes = 64 * 1024;
  s.timeout = 120s;  // slow under sanitizers; still a hang guard only
  std::uint64_t streamed = 0;
  boost::asio::io_context io;
  std::optional<Outcome> result;
  Process::Spawn(
      io, Hostile(marker, {"flood", std::to_string(1ULL << 30)}), s,
      [&](Stream stream, std::string_view chunk) {
        if (stream == Stream::kStdout) streamed += chunk.size();
      },
      [&](const Outcome& o) { result = o; });
  // The bystander, on the same io_context while the flood is read.
  std::optional<Outcome> bystander;
  Process::Spawn(io, Command{{"/bin/echo", "alive"}, {}}, Settings{}, {},
                 [&](const Outcome& o) { bystander = o; });
  io.run_for(180s);
  ASSERT_TRUE(result);
  const Outcome& o = *result;
  EXPECT_EQ(o.kind, OutcomeKind::kExited) << o.Describe();
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_TRUE(o.out.truncated);
  EXPECT_EQ(o.out.bytes, 1ULL << 30);
  EXPECT_EQ(o.out.data.size(), 64u * 1024);
  EXPECT_EQ(streamed, 64u * 1024);
  EXPECT_NE(o.Describe().find("output truncated"), std::string::npos);
  ASSERT_TRUE(bystander);
  EXPECT_TRUE(bystander->Succeeded());
  EXPECT_EQ(bystander->out.data, "alive\n");
  ExpectNothingLeft(o, marker);
}

TEST(Hostile, SegfaultIsKilledBySigsegv) {
  std::string marker = NewMarker();
  auto r = RunWithBystanders(Hostile(marker, {"segv"}), Base());
  ASSERT_TRUE(r.outcome);
  const Outcome& o = *r.outcome;
  EXPECT_EQ(o.kind, OutcomeKind::kKilled) << o.Describe();
  EXPECT_EQ(o.signal, SIGSEGV);
  EXPECT_FALSE(o.core_dumped);  // RLIMIT_CORE 0
  EXPECT_EQ(o.Describe(), "killed by SIGSEGV");
  ExpectBystandersServed(r, /*expect_during=*/false);
  ExpectNothingLeft(o, marker);
}

TEST(Hostile, ScriptNotExecutableIsASetupErrorNotAFailure) {
  TempDir dir;
  std::string script = dir.path() + "/run.sh";
  std::ofstream(script) << "#!/bin/sh\necho hi\n";
  chmod(script.c_str(), 0644);
  auto r = RunWithBystanders(Command{{script}, {}}, Base());
  ASSERT_TRUE(r.outcome);
  const Outcome& o = *r.outcome;
  EXPECT_EQ(o.kind, OutcomeKind::kNotStarted) << o.Describe();
  EXPECT_EQ(o.setup_error.stage, "exec");
  EXPECT_EQ(o.setup_error.error, EACCES);
  EXPECT_EQ(o.Describe(), "not started: exec " + script + ": Permission denied");
  EXPECT_FALSE(o.exit_code.has_value());
  ExpectBystandersServed(r, /*expect_during=*/false);
  ExpectNothingLeft(o, "\x01unused");
}

TEST(Hostile, MissingProgramIsASetupErrorNotAFailure) {
  auto r = RunWithBystanders(Command{{"/nonexistent/gale/run.sh"}, {}}, Base());
  ASSERT_TRUE(r.outcome);
  const Outcome& o = *r.outcome;
  EXPECT_EQ(o.kind, OutcomeKind::kNotStarted) << o.Describe();
  EXPECT_EQ(o.setup_error.stage, "exec");
  EXPECT_EQ(o.setup_error.error, ENOENT);
  EXPECT_EQ(o.Describe(), "not started: exec /nonexistent/gale/run.sh: No such file or directory");
  ExpectBystandersServed(r, /*expect_during=*/false);
  // The contrast: a command that runs and fails with the same code the shell uses for "not
  // found" is an exit, not a setup error.
  Outcome failed = RunSandboxed(Command{{"/bin/sh", "-c", "exit 127"}, {}}, Base());
  EXPECT_EQ(failed.kind, OutcomeKind::kExited);
  EXPECT_EQ(failed.exit_code, 127);
}

// The action kills its own supervisor (possible as root without a privilege drop nor a PID
// namespace): the node notices, kills the execution itself and says so.
TEST(Hostile, KillingTheSupervisorStillEndsTheExecution) {
  std::string marker = NewMarker();
  Settings s = Base();
  s.namespaces = false;
  auto r = RunWithBystanders(Hostile(marker, {"kill-parent"}), s);
  ASSERT_TRUE(r.outcome);
  const Outcome& o = *r.outcome;
  EXPECT_NE(o.note.find("supervisor was killed by SIGKILL"), std::string::npos) << o.Describe();
  ExpectBystandersServed(r, /*expect_during=*/false);
  // The orphaned main process is reaped by init now, not by us: give it a moment.
  for (int i = 0; i < 100 && !testing::ProcessesWithMarker(marker).empty(); ++i) usleep(20000);
  EXPECT_TRUE(testing::ProcessesWithMarker(marker).empty());
}

// In its own PID namespace the supervisor is the namespace's init: even a root action cannot
// kill it (the kernel drops signals to an init without a handler from inside its namespace).
TEST(Hostile, InItsPidNamespaceTheSupervisorCannotBeKilled) {
  if (!testing::IsRoot()) GTEST_SKIP() << "SKIPPED: needs root to create namespaces";
  std::string marker = NewMarker();
  Settings s = Base();
  s.timeout = 1s;
  s.kill_grace = 200ms;
  auto r = RunWithBystanders(Hostile(marker, {"kill-parent"}), s);
  ASSERT_TRUE(r.outcome);
  const Outcome& o = *r.outcome;
  // kill() "succeeds" and the signal is dropped: the action waits, and its live supervisor
  // enforces the timeout.
  EXPECT_EQ(o.kind, OutcomeKind::kTimedOut) << o.Describe();
  EXPECT_TRUE(o.pid_namespace);
  EXPECT_EQ(o.main_pid, 2) << "the keeper is PID 1 of the namespace, the action PID 2";
  EXPECT_TRUE(o.note.empty()) << o.note;
  EXPECT_FALSE(o.containment_failed);
  ExpectBystandersServed(r, /*expect_during=*/false);
  ExpectNothingLeft(o, marker);
}

// Dropped to another uid, the action cannot signal its supervisor at all.
TEST(Hostile, DroppedActionCannotKillItsSupervisor) {
  if (!testing::IsRoot()) GTEST_SKIP() << "needs root to drop privileges";
  std::string marker = NewMarker();
  Settings s = Base();
  s.user = "nobody";
  Outcome o = RunSandboxed(Hostile(marker, {"kill-parent"}), s);
  EXPECT_EQ(o.kind, OutcomeKind::kExited) << o.Describe();
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_EQ(o.out.data, "kill parent: Operation not permitted\n");
  EXPECT_TRUE(o.note.empty());
  ExpectNothingLeft(o, marker);
}

}  // namespace
}  // namespace gale::sandbox

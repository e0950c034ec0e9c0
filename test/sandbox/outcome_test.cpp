#include "sandbox/outcome.h"

#include <signal.h>

#include <cerrno>

#include <gtest/gtest.h>

namespace gale::sandbox {
namespace {

TEST(Outcome, DescribesEachKind) {
  Outcome o;
  o.kind = OutcomeKind::kNotStarted;
  o.setup_error = {"exec", EACCES, "/x/run.sh"};
  EXPECT_EQ(o.Describe(), "not started: exec /x/run.sh: Permission denied");
  EXPECT_FALSE(o.Succeeded());

  o = Outcome{};
  o.kind = OutcomeKind::kExited;
  o.exit_code = 0;
  EXPECT_EQ(o.Describe(), "exited with code 0");
  EXPECT_TRUE(o.Succeeded());

  o.exit_code = 3;
  o.denied_syscalls = {"socket", "connect"};
  EXPECT_EQ(o.Describe(), "exited with code 3 (denied: socket, connect)");

  o = Outcome{};
  o.kind = OutcomeKind::kKilled;
  o.signal = SIGSEGV;
  EXPECT_EQ(o.Describe(), "killed by SIGSEGV");

  o = Outcome{};
  o.kind = OutcomeKind::kTimedOut;
  o.signal = SIGKILL;
  o.usage.wall_ms = 1500;
  EXPECT_EQ(o.Describe(), "timed out after 1500 ms (killed by SIGKILL)");

  o.kind = OutcomeKind::kCanceled;
  EXPECT_EQ(o.Describe(), "canceled (killed by SIGKILL)");

  o = Outcome{};
  o.kind = OutcomeKind::kSeccompViolation;
  o.violation_syscall = "ptrace";
  EXPECT_EQ(o.Describe(), "killed by the sandbox: system call ptrace is not allowed");

  o = Outcome{};
  o.kind = OutcomeKind::kExited;
  o.exit_code = 0;
  o.out.truncated = true;
  o.denied_syscalls = {"socket"};  // not mentioned: the action succeeded
  EXPECT_EQ(o.Describe(), "exited with code 0 (output truncated)");
}

TEST(Outcome, JsonCarriesTheFieldsAndValidUtf8) {
  Outcome o;
  o.kind = OutcomeKind::kExited;
  o.exit_code = 1;
  o.out.data = std::string("ok \xff\xfe end \xc3\xa9");
  o.out.bytes = 100;
  o.out.truncated = true;
  o.denied_syscalls_known = true;
  Json j = o.ToJson();
  EXPECT_EQ(j["kind"], "exited");
  EXPECT_EQ(j["exit_code"], 1);
  EXPECT_EQ(j["stdout_bytes"], 100);
  EXPECT_EQ(j["stdout_truncated"], true);
  EXPECT_EQ(j["denied_syscalls"], Json::array());
  EXPECT_EQ(j["stdout"], "ok \xEF\xBF\xBD\xEF\xBF\xBD end \xc3\xa9");
  EXPECT_NO_THROW(j.dump());

  o = Outcome{};
  o.setup_error = {"chdir", ENOENT, "/nope"};
  j = o.ToJson();
  EXPECT_EQ(j["kind"], "not_started");
  EXPECT_EQ(j["setup_error"]["stage"], "chdir");
  EXPECT_EQ(j["setup_error"]["errno"], ENOENT);
}

TEST(Outcome, SignalNames) {
  EXPECT_EQ(SignalName(SIGKILL), "SIGKILL");
  EXPECT_EQ(SignalName(SIGSYS), "SIGSYS");
  EXPECT_EQ(SignalName(SIGXCPU), "SIGXCPU");
  EXPECT_EQ(SignalName(200), "signal 200");
}

}  // namespace
}  // namespace gale::sandbox

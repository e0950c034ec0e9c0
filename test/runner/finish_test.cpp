// Outcomes turned into execution statuses and results (host/runner/finish.h).
#include "host/runner/finish.h"

#include <gtest/gtest.h>
#include <signal.h>

namespace gale::runner {
namespace {

using store::ExecStatus;

sandbox::Outcome Exited(int code, std::string out = "", std::string err = "") {
  sandbox::Outcome o;
  o.kind = sandbox::OutcomeKind::kExited;
  o.exit_code = code;
  o.out.data = std::move(out);
  o.out.bytes = o.out.data.size();
  o.err.data = std::move(err);
  o.err.bytes = o.err.data.size();
  return o;
}

TEST(FinishTest, ShellResultsFollowStackStormsLocalRunner) {
  Launch shell;
  auto ok = FinishFromOutcome(shell, Exited(0, "hi\n"));
  EXPECT_EQ(ok.status, ExecStatus::kSucceeded);
  EXPECT_EQ(ok.result["stdout"], "hi\n");
  EXPECT_EQ(ok.result["return_code"], 0);
  EXPECT_EQ(ok.result["succeeded"], true);
  EXPECT_FALSE(ok.result.contains("error"));
  auto bad = FinishFromOutcome(shell, Exited(2, "", "boom\n"));
  EXPECT_EQ(bad.status, ExecStatus::kFailed);
  EXPECT_EQ(bad.result["failed"], true);
  EXPECT_FALSE(bad.result.contains("error"));  // a plain non-zero exit is the action's answer
}

TEST(FinishTest, KindsMapToStatusesWithAReason) {
  Launch shell;
  sandbox::Outcome o;
  o.kind = sandbox::OutcomeKind::kTimedOut;
  o.signal = SIGKILL;
  EXPECT_EQ(FinishFromOutcome(shell, o).status, ExecStatus::kTimeout);
  o.kind = sandbox::OutcomeKind::kCanceled;
  EXPECT_EQ(FinishFromOutcome(shell, o).status, ExecStatus::kCanceled);
  o.kind = sandbox::OutcomeKind::kKilled;
  o.signal = SIGSEGV;
  auto k = FinishFromOutcome(shell, o);
  EXPECT_EQ(k.status, ExecStatus::kFailed);
  EXPECT_EQ(k.result["error"], "killed by SIGSEGV");
  EXPECT_EQ(k.result["sandbox"]["signal"], "SIGSEGV");
  sandbox::Outcome denied = Exited(3);
  denied.denied_syscalls = {"socket"};
  denied.denied_syscalls_known = true;
  auto d = FinishFromOutcome(shell, denied);
  EXPECT_EQ(d.result["error"], "exited with code 3 (denied: socket)");
  EXPECT_EQ(d.result["sandbox"]["denied_syscalls"], Json::array({"socket"}));
}

TEST(FinishTest, InvalidUtf8OutputIsStorable) {
  auto f = FinishFromOutcome(Launch{}, Exited(0, std::string("a\xff") + "b"));
  EXPECT_EQ(f.result["stdout"],
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_NO_THROW((void)f.result.dump());
}

TEST(FinishTest, ResultDocumentsOfGaleExecChildren) {
  Launch native;
  native.result_on_stdout = true;
  auto ok = FinishFromOutcome(native, Exited(0, R"({"status":"succeeded","result":{"x":1}})"));
  EXPECT_EQ(ok.status, ExecStatus::kSucceeded);
  EXPECT_EQ(ok.result["x"], 1);
  auto failed =
      FinishFromOutcome(native, Exited(0, R"({"status":"failed","result":{"error":"e"}})"));
  EXPECT_EQ(failed.status, ExecStatus::kFailed);
  EXPECT_EQ(failed.result["error"], "e");
  auto timeout = FinishFromOutcome(native, Exited(0, R"({"status":"timeout","result":{}})"));
  EXPECT_EQ(timeout.status, ExecStatus::kTimeout);
  // A child that could not say anything: the status is never "succeeded".
  auto silent = FinishFromOutcome(native, Exited(0, "garbage"));
  EXPECT_EQ(silent.status, ExecStatus::kFailed);
  EXPECT_EQ(silent.result["error"], "the action wrote no result (exited with code 0)");
  sandbox::Outcome segv;
  segv.kind = sandbox::OutcomeKind::kKilled;
  segv.signal = SIGSEGV;
  EXPECT_EQ(FinishFromOutcome(native, segv).result["error"], "killed by SIGSEGV");
  // A document claiming a non-final status is not believed.
  EXPECT_EQ(FinishFromOutcome(native, Exited(0, R"({"status":"running"})")).status,
            ExecStatus::kFailed);
}

TEST(FinishTest, FailureBeforeStart) {
  auto f = FailedBeforeStart("no such action");
  EXPECT_EQ(f.status, ExecStatus::kFailed);
  EXPECT_EQ(f.result, Json({{"error", "no such action"}}));
}

}  // namespace
}  // namespace gale::runner

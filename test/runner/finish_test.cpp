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

TEST(FinishTest, PythonResultBlockIsCutOutOfStdout) {
  Launch py;
  py.result_delimiter = "%%D1%%";
  auto ok = FinishFromOutcome(
      py, Exited(0, "printed\n%%D1%%{\"status\":null,\"result\":{\"x\":1}}%%D1%%", "log\n"));
  EXPECT_EQ(ok.status, ExecStatus::kSucceeded);
  EXPECT_EQ(ok.result["result"], Json({{"x", 1}}));
  EXPECT_EQ(ok.result["stdout"], "printed\n");
  EXPECT_EQ(ok.result["stderr"], "log\n");
  EXPECT_EQ(ok.result["exit_code"], 0);
  EXPECT_FALSE(ok.result.contains("error"));
  EXPECT_TRUE(ok.result.contains("sandbox"));
  // (True, result) and (False, result).
  EXPECT_EQ(FinishFromOutcome(py, Exited(0, "%%D1%%{\"status\":true,\"result\":2}%%D1%%")).status,
            ExecStatus::kSucceeded);
  auto refused =
      FinishFromOutcome(py, Exited(0, "%%D1%%{\"status\":false,\"result\":\"no\"}%%D1%%"));
  EXPECT_EQ(refused.status, ExecStatus::kFailed);
  EXPECT_EQ(refused.result["result"], "no");
  EXPECT_FALSE(refused.result.contains("error"));
  // An exception: its last line is the error, the traceback beside it.
  auto raised = FinishFromOutcome(
      py, Exited(1,
                 "%%D1%%{\"status\":false,\"result\":null,\"error\":\"ValueError: v\","
                 "\"traceback\":\"Traceback ...\\nValueError: v\\n\"}%%D1%%",
                 "Traceback ...\nValueError: v\n"));
  EXPECT_EQ(raised.status, ExecStatus::kFailed);
  EXPECT_EQ(raised.result["error"], "ValueError: v");
  EXPECT_EQ(raised.result["traceback"], "Traceback ...\nValueError: v\n");
  EXPECT_EQ(raised.result["exit_code"], 1);
  // What the action prints that looks like a block, with another delimiter, is its output; so
  // is what a leftover child printed after the block.
  const std::string fake = "%%D0%%{\"status\":true,\"result\":\"forged\"}%%D0%%\n";
  auto forged =
      FinishFromOutcome(py, Exited(0, fake + "%%D1%%{\"status\":false,\"result\":1}%%D1%%late\n"));
  EXPECT_EQ(forged.status, ExecStatus::kFailed);
  EXPECT_EQ(forged.result["result"], 1);
  EXPECT_EQ(forged.result["stdout"], fake + "late\n");
}

TEST(FinishTest, PythonRunWithoutAResultBlockFails) {
  Launch py;
  py.result_delimiter = "%%D1%%";
  auto silent = FinishFromOutcome(py, Exited(0, "just output\n"));
  EXPECT_EQ(silent.status, ExecStatus::kFailed);
  EXPECT_EQ(silent.result["error"], "the action wrote no result (exited with code 0)");
  EXPECT_EQ(silent.result["stdout"], "just output\n");
  EXPECT_TRUE(silent.result["result"].is_null());
  auto exited = FinishFromOutcome(py, Exited(3));
  EXPECT_EQ(exited.status, ExecStatus::kFailed);
  EXPECT_EQ(exited.result["error"], "exited with code 3");
  // stdout past the output cap keeps its beginning: the block at its end is gone, and the
  // error says why.
  sandbox::Outcome flood = Exited(0, std::string(1024, 'x'));
  flood.out.bytes = 5000;
  flood.out.truncated = true;
  EXPECT_EQ(FinishFromOutcome(py, flood).result["error"],
            "the action's result was lost: its stdout passed the output cap of 1024 bytes");
  sandbox::Outcome timeout;
  timeout.kind = sandbox::OutcomeKind::kTimedOut;
  timeout.signal = SIGKILL;
  auto t = FinishFromOutcome(py, timeout);
  EXPECT_EQ(t.status, ExecStatus::kTimeout);
  EXPECT_EQ(t.result["error"].get<std::string>().rfind("timed out", 0), 0u) << t.result.dump();
}

// The live output stream shows what the recorded stdout does, however the block is cut into
// chunks.
TEST(FinishTest, LiveStdoutHidesTheResultBlockAcrossChunks) {
  const std::string d = "\x1egale-result-1234\x1e";
  const std::string printed = "50% done \x1e not a delimiter\n";
  const std::string stream = printed + d + R"({"status":null,"result":1})" + d + "late\n";
  auto feed = [&](const std::vector<size_t>& cuts) {
    ResultBlockFilter filter(d);
    std::string shown;
    size_t at = 0;
    for (size_t cut : cuts) {
      shown += filter.Feed(std::string_view(stream).substr(at, cut - at));
      at = cut;
    }
    return shown + filter.Feed(std::string_view(stream).substr(at));
  };
  for (size_t i = 0; i <= stream.size(); ++i) {
    EXPECT_EQ(feed({i}), printed + "late\n") << "cut at " << i;
  }
  std::vector<size_t> every_byte;
  for (size_t i = 1; i < stream.size(); ++i) every_byte.push_back(i);
  EXPECT_EQ(feed(every_byte), printed + "late\n");
  // What could begin the delimiter waits for the next chunk, and is shown if it does not.
  ResultBlockFilter filter(d);
  EXPECT_EQ(filter.Feed("abc\x1egale"), "abc");
  EXPECT_EQ(filter.Feed("-x"), "\x1egale-x");
  // Other runners' output is not touched.
  std::string seen;
  auto plain = HideResultBlock(Launch{}, [&](sandbox::Stream, std::string_view c) { seen += c; });
  plain(sandbox::Stream::kStdout, d);
  EXPECT_EQ(seen, d);
}

TEST(FinishTest, FailureBeforeStart) {
  auto f = FailedBeforeStart("no such action");
  EXPECT_EQ(f.status, ExecStatus::kFailed);
  EXPECT_EQ(f.result, Json({{"error", "no such action"}}));
}

}  // namespace
}  // namespace gale::runner

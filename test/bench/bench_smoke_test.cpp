// bench/e2e in its shortest form, on the embedded bus: the tables and the target lines come out
// and count every execution the benchmark asked for, all succeeded, each trigger run once.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <regex>
#include <string>

namespace {

struct BenchRun {
  int exit_code = -1;
  std::string out;
};

BenchRun RunBench(const std::string& args, const std::string& program = "gale_e2e_bench") {
  BenchRun r;
  const std::string cmd = std::string(GALE_BINARY_DIR) + "/bin/" + program + " " + args;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

TEST(BenchSmokeTest, LatencyAndThroughputTablesCountEveryExecution) {
  // Under the test environment's real broker too, the benchmark uses the embedded bus unless
  // --brokers is given: this run needs no service.
  const BenchRun r = RunBench("--seconds 2 --rates 50 --flood 200 --sections latency,throughput");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  // 50/s for 2 s: 100 executions measured, none failed.
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(\| 50/s \| 100 \| [0-9.]+ \|)"))) << r.out;
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(r.out, m, std::regex(R"(\| Gale, core\.local `true` \| ([0-9]+) \|)")))
      << r.out;
  EXPECT_GT(std::stoi(m[1]), 0) << r.out;
  EXPECT_EQ(r.out.find("not succeeded"), std::string::npos) << r.out;
  // One line per target, met or missed, with its ratio to the limit of the same run.
  const char* targets[] = {
      R"(\ntarget 1 throughput \[embedded bus, SQLite\]: (met|missed): [0-9]+/s = [0-9.]+x bare )",
      R"(\ntarget 2 latency p50 at 50/s \[embedded bus, SQLite\]: (met|missed): [0-9.]+ ms = [0-9.]+x )",
      R"(\ntarget 2 latency p99 at 50/s \[embedded bus, SQLite\]: (met|missed): [0-9.]+ ms = [0-9.]+x )"};
  for (const char* t : targets) EXPECT_TRUE(std::regex_search(r.out, std::regex(t))) << t << r.out;
}

TEST(BenchSmokeTest, OverloadAndBacklogRunEveryTriggerOnce) {
  // Twice the measured capacity for 2 s, then backlogs of 100 and 300 requested executions
  // drained by a runner node started afterwards: the store holds one succeeded execution per
  // trigger in each.
  const BenchRun r = RunBench(
      "--sections collapse --flood 200 --overload-seconds 2 --backlog 300 --backlog-small 100");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(std::regex_search(
      r.out,
      std::regex(R"(\ntarget 3 overload at 2x capacity for 2 s \[embedded bus, SQLite\]: )"
                 R"((met|missed): [0-9]+/s during the overload = [0-9.]+x capacity [0-9]+/s; )"
                 R"(needs >= 0.90x; every trigger ran exactly once: yes; )")))
      << r.out;
  EXPECT_TRUE(std::regex_search(
      r.out,
      std::regex(R"(\ntarget 3 backlog of 300 drains \[embedded bus, SQLite\]: (met|missed): )"
                 R"([0-9]+/s = [0-9.]+x the [0-9]+/s of a 100 backlog; needs >= 0.90x; )"
                 R"(every trigger ran exactly once: yes;)")))
      << r.out;
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex(R"(\ntarget 3 memory bounded with a backlog of 300 \[embedded bus, )"
                        R"(SQLite\]: (met|missed): runner node peak RSS [0-9.]+ MiB)")))
      << r.out;
  EXPECT_EQ(r.out.find("not succeeded"), std::string::npos) << r.out;
}

TEST(BenchSmokeTest, BadArgumentsAreOneLineErrors) {
  BenchRun r = RunBench("--sections nope 2>&1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("unknown section 'nope'"), std::string::npos) << r.out;
  r = RunBench("--rates 0 2>&1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("not a positive rate"), std::string::npos) << r.out;
}

// bench/workflow in a short form (a 5-link chain, once): its figures and target line come out.
TEST(BenchSmokeTest, WorkflowBenchRunsAChainAndSaysMetOrMissed) {
  BenchRun r = RunBench("5 1 3 2>&1", "gale_workflow_bench");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(
      std::regex_search(r.out, std::regex("5-link sequential action-chain, 1 runs: [0-9]+ ms")))
      << r.out;
  EXPECT_NE(r.out.find("node resident set: "), std::string::npos) << r.out;
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("target: 5-link action-chain <= 1.5 x 5 x single-execution latency "
                        "\\([0-9]+ ms\\): (met|missed) \\(ratio [0-9.]+ of the limit\\)")))
      << r.out;
  r = RunBench("0 2>&1", "gale_workflow_bench");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("usage: gale_workflow_bench"), std::string::npos) << r.out;
}

// The with-items mode in a short form (20 items at concurrency 5): it completes, and says so with
// its per-item figures, first against last items and the node's peak resident set.
TEST(BenchSmokeTest, WorkflowBenchWithItemsCompletesAndReportsPerItemOverhead) {
  BenchRun r = RunBench("items 20 5 3 2>&1", "gale_workflow_bench");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("with-items of 20 items \\(core.local true\\) at concurrency 5, one "
                        "orquesta workflow: [0-9]+ ms, [0-9.]+ ms per item")))
      << r.out;
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("items 1-10 completed in [0-9]+ ms .*the last 10 in [0-9]+ ms")))
      << r.out;
  EXPECT_NE(r.out.find("VmHWM"), std::string::npos) << r.out;
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("target: with-items of 20 items at concurrency 5 completes: met")))
      << r.out;
  r = RunBench("items 0 2>&1", "gale_workflow_bench");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("usage: gale_workflow_bench items"), std::string::npos) << r.out;
}

}  // namespace

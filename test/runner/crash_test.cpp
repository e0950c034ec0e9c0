// Guarantee 2 across crashes: a runner killed with SIGKILL while it runs executions leaves them
// `abandoned` once their lease expires, never started again; the requests still queued all
// complete on the surviving runner; two runners in the group share the work and no execution
// starts twice. Every execution appends its id to a file as its first act, so "started twice"
// is something the test can see, not something it assumes.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/types.h>

#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "runner_fixture.h"
#include "test/support/child_process.h"

namespace gale::runner::test {
namespace {

using store::ExecStatus;
using namespace std::chrono_literals;

// A child process of the test binary's companion program.
class Child : public gale::testing::ChildProcess {
 public:
  explicit Child(const std::vector<std::string>& args) : ChildProcess(GALE_RUNNER_CHILD, args) {}
};

class RunnerCrashTest : public RunnerTest {
 protected:
  std::vector<std::string> ChildArgs(const std::string& node, int max, int lease_ms,
                                     const std::string& failpoints = "") {
    std::vector<std::string> args = {config_.brokers,
                                     config_.embedded ? "1" : "0",
                                     config_.topic_prefix,
                                     StoreUrl(),
                                     node,
                                     std::to_string(max),
                                     std::to_string(lease_ms),
                                     GaleBinary(),
                                     FixturePacks(),
                                     ShippedPacks()};
    if (!failpoints.empty()) args.push_back("GALE_TEST_FAILPOINTS=" + failpoints);
    return args;
  }
  std::string StartsFile() const { return (dir() / "starts").string(); }
  // A command that records its start (one short line: O_APPEND keeps lines whole).
  Json Marked(const std::string& then) const {
    return {{"cmd", "echo $GALE_EXECUTION_ID >> " + StartsFile() + "; " + then}};
  }
  std::map<std::string, int> Starts() const {
    std::map<std::string, int> count;
    std::ifstream in(StartsFile());
    for (std::string line; std::getline(in, line);) count[line]++;
    return count;
  }
  // "id: status on node (attempt n)" of the first few executions not final yet.
  std::string Unfinished(const std::vector<std::string>& ids) {
    std::string out;
    int shown = 0;
    for (const auto& id : ids) {
      auto e = Get(id);
      if (store::IsFinal(e.status) || ++shown > 5) continue;
      out += id + ": " + std::string(store::ToString(e.status)) + " on '" + e.node + "' (attempt " +
             std::to_string(e.attempt) + "); ";
    }
    return out;
  }
  size_t CountFinal(const std::vector<std::string>& ids) {
    size_t n = 0;
    for (const auto& id : ids) n += store::IsFinal(Get(id).status);
    return n;
  }
};

TEST_P(RunnerCrashTest, KilledRunnerLeavesAbandonedExecutionsAndTheQueueCompletesElsewhere) {
  constexpr int kQueued = 1000;
  // Runner A takes the four long executions (all its slots), then pauses.
  auto long_ids = RequestMany("runnertest.shell", std::vector<Json>(4, Marked("sleep 120")));
  Child a(ChildArgs("node-a", 4, 4000));
  ASSERT_GT(a.pid(), 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& id : long_ids) {
          if (Get(id).status != ExecStatus::kRunning) return false;
        }
        return Starts().size() == 4;
      },
      60s))
      << "runner A did not start the long executions";
  auto queued = RequestMany("runnertest.shell", std::vector<Json>(kQueued, Marked("true")));
  std::this_thread::sleep_for(500ms);
  int status = a.Signal(SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  for (const auto& id : queued) ASSERT_EQ(Get(id).status, ExecStatus::kRequested);

  Child b(ChildArgs("node-b", 8, 4000));
  ASSERT_GT(b.pid(), 0);
  ASSERT_TRUE(WaitFor([&] { return CountFinal(long_ids) == long_ids.size(); }, 60s));
  for (const auto& id : long_ids) {
    auto e = Get(id);
    EXPECT_EQ(e.status, ExecStatus::kAbandoned) << id;
    EXPECT_EQ(e.node, "node-a");
    EXPECT_EQ(e.attempt, 1);
  }
  ASSERT_TRUE(WaitFor([&] { return CountFinal(queued) == queued.size(); }, 300s))
      << CountFinal(queued) << " of " << kQueued << " finished; " << Unfinished(queued);
  status = b.Signal(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

  size_t succeeded_on_b = 0;
  for (const auto& id : queued) {
    auto e = Get(id);
    succeeded_on_b += e.status == ExecStatus::kSucceeded && e.node == "node-b";
    EXPECT_EQ(e.attempt, 1) << id;
  }
  EXPECT_EQ(succeeded_on_b, static_cast<size_t>(kQueued));
  auto starts = Starts();
  EXPECT_EQ(starts.size(), static_cast<size_t>(kQueued + 4));
  size_t twice = 0;
  for (const auto& [id, n] : starts) twice += n > 1;
  EXPECT_EQ(twice, 0u) << "executions started more than once";
  for (const auto& id : long_ids) EXPECT_EQ(starts[id], 1) << "abandoned execution rerun";
}

TEST_P(RunnerCrashTest, TwoRunnersShareTheWorkAndNothingStartsTwice) {
  constexpr int kCount = 600;
  Child a(ChildArgs("node-a", 6, 3000));
  Child b(ChildArgs("node-b", 6, 3000));
  ASSERT_GT(a.pid(), 0);
  ASSERT_GT(b.pid(), 0);
  std::this_thread::sleep_for(3s);  // both in the group before the work arrives
  auto ids = RequestMany("runnertest.shell", std::vector<Json>(kCount, Marked("sleep 0.02")));
  ASSERT_TRUE(WaitFor([&] { return CountFinal(ids) == ids.size(); }, 300s))
      << CountFinal(ids) << " of " << kCount << " finished; " << Unfinished(ids);
  std::map<std::string, int> per_node;
  for (const auto& id : ids) {
    auto e = Get(id);
    EXPECT_EQ(e.status, ExecStatus::kSucceeded) << id;
    EXPECT_EQ(e.attempt, 1);
    per_node[e.node]++;
  }
  std::cout << "[ info ] node-a ran " << per_node["node-a"] << ", node-b ran " << per_node["node-b"]
            << "\n";
  EXPECT_GT(per_node["node-a"], 0);
  EXPECT_GT(per_node["node-b"], 0);
  auto starts = Starts();
  EXPECT_EQ(starts.size(), static_cast<size_t>(kCount));
  for (const auto& [id, n] : starts) EXPECT_EQ(n, 1) << id;
}

// A runner frozen (SIGSTOP) for longer than its group session timeout, as a loaded machine can
// freeze one, is dropped from the group and rejoins when it thaws: the rebalances on both sides
// must not stall the work (a member that misses one makes the group rebalance again).
TEST_P(RunnerCrashTest, ARunnerFrozenPastItsSessionTimeoutRejoinsAndTheWorkCompletes) {
  constexpr int kCount = 600;
  Child a(ChildArgs("node-a", 6, 3000));
  Child b(ChildArgs("node-b", 6, 3000));
  ASSERT_GT(a.pid(), 0);
  ASSERT_GT(b.pid(), 0);
  std::this_thread::sleep_for(3s);  // both in the group before the work arrives
  auto ids = RequestMany("runnertest.shell", std::vector<Json>(kCount, Marked("sleep 0.02")));
  ASSERT_TRUE(WaitFor([&] { return CountFinal(ids) >= 50; }, 120s));
  ASSERT_EQ(kill(a.pid(), SIGSTOP), 0);
  std::this_thread::sleep_for(13s);  // past session.timeout.ms (10 s)
  ASSERT_EQ(kill(a.pid(), SIGCONT), 0);
  ASSERT_TRUE(WaitFor([&] { return CountFinal(ids) == ids.size(); }, 300s))
      << CountFinal(ids) << " of " << kCount << " finished; " << Unfinished(ids);
  auto starts = Starts();
  size_t twice = 0;
  for (const auto& [id, n] : starts) twice += n > 1;
  EXPECT_EQ(twice, 0u) << "executions started more than once";
}

TEST_P(RunnerCrashTest, ARunnerEndedWithABatchClaimedLeavesItAbandonedAndNothingRunsTwice) {
  constexpr int kCount = 300;
  auto ids = RequestMany("runnertest.shell", std::vector<Json>(kCount, Marked("true")));
  const std::string fatal = ids[150];  // its claim batch is the last thing runner A does
  {
    Child a(ChildArgs("node-a", 16, 3000, "runner.abort_after_claim=" + fatal));
    ASSERT_GT(a.pid(), 0);
    ASSERT_TRUE(WaitFor(
        [&] {
          siginfo_t info{};
          return waitid(P_PID, static_cast<id_t>(a.pid()), &info, WEXITED | WNOHANG | WNOWAIT) ==
                     0 &&
                 info.si_pid == a.pid();
        },
        120s))
        << "the fault did not fire; " << CountFinal(ids) << " of " << kCount << " finished, "
        << Starts().size() << " started; " << Unfinished(ids);
    int status = a.Signal(SIGKILL);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) << status;
  }
  auto e = Get(fatal);
  EXPECT_EQ(e.status, ExecStatus::kRunning) << "claimed by A, which ended before starting it";
  EXPECT_EQ(e.node, "node-a");
  size_t claimed_not_started = 0;
  {
    auto starts = Starts();
    for (const auto& id : ids) {
      claimed_not_started += Get(id).status == ExecStatus::kRunning && starts.count(id) == 0;
    }
  }
  std::cout << "[ info ] runner A ended with " << claimed_not_started
            << " execution(s) claimed and not started\n";

  Child b(ChildArgs("node-b", 16, 3000));
  ASSERT_GT(b.pid(), 0);
  ASSERT_TRUE(WaitFor([&] { return CountFinal(ids) == ids.size(); }, 300s))
      << CountFinal(ids) << " of " << kCount << " finished; " << Unfinished(ids);
  int status = b.Signal(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

  auto starts = Starts();
  size_t abandoned = 0;
  for (const auto& id : ids) {
    auto x = Get(id);
    EXPECT_EQ(x.attempt, 1) << id << " claimed twice";
    EXPECT_LE(starts[id], 1) << id << " started twice";
    if (x.status == ExecStatus::kSucceeded) {
      EXPECT_EQ(starts[id], 1) << id;
    } else {
      EXPECT_EQ(x.status, ExecStatus::kAbandoned) << id;
      EXPECT_EQ(x.node, "node-a") << id;
      ++abandoned;
    }
  }
  EXPECT_EQ(Get(fatal).status, ExecStatus::kAbandoned);
  EXPECT_EQ(starts[fatal], 0) << "an abandoned execution was started";
  EXPECT_GE(abandoned, claimed_not_started);
  std::cout << "[ info ] " << kCount - abandoned << " succeeded, " << abandoned
            << " abandoned (claimed by A)\n";
}

INSTANTIATE_TEST_SUITE_P(Bus, RunnerCrashTest, ::testing::Values(Target::kEmbedded, Target::kKafka),
                         TargetName);

}  // namespace
}  // namespace gale::runner::test

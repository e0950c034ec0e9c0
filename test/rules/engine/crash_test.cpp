// Guarantee 1 across a crash: an engine in its own process is killed with SIGKILL while
// 10,000 trigger instances flow; a fresh one takes over. Every (instance, matching rule) ends
// with exactly one execution and at least one request, none missing. And the same when the
// engine ends at the two worst moments of a batch (a fault injected for the test): half-way
// through writing it to the store, and after it committed but before its requests were flushed.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/types.h>

#include <iostream>
#include <set>
#include <thread>

#include "engine_fixture.h"
#include "host/common/uuid.h"
#include "test/support/child_process.h"

namespace gale::rules::engine::test {
namespace {

// A child process of the test binary's companion program.
class Child : public gale::testing::ChildProcess {
 public:
  explicit Child(const std::vector<std::string>& args)
      : ChildProcess(GALE_RULES_ENGINE_CHILD, args) {}
};

// True when the store holds at least `n` executions.
bool AtLeast(store::Store& st, size_t n) {
  if (n == 0) return true;
  store::ExecutionQuery q;
  q.limit = 1;
  q.offset = n - 1;
  auto page = st.ListExecutions(q);
  return page.ok() && !page->items.empty();
}

TEST_P(EngineTest, KilledEngineLeavesExactlyOneExecutionPerMatchAfterRestart) {
  constexpr int kTriggers = 10'000;
  constexpr size_t kExpected = 2 * kTriggers;  // two of the three rules match every instance
  LoadRules({
      {"build.yaml", RuleYaml("on_build", "  trigger.body.kind: {type: equals, pattern: build}\n",
                              "enginetest.shell", "    cmd: \"echo {{ trigger.body.n }}\"\n")},
      {"noop.yaml", RuleYaml("noop", "", "enginetest.noop", "")},
      {"deploy.yaml", RuleYaml("on_deploy", "  trigger.body.kind: {type: equals, pattern: x}\n",
                               "enginetest.noop", "")},
  });
  const std::vector<std::string> args = {config_.brokers, config_.embedded ? "1" : "0",
                                         config_.topic_prefix, StoreUrl(), PacksDir()};
  std::vector<Json> triggers;
  for (int i = 0; i < kTriggers; ++i) {
    triggers.push_back(Trigger("ti-" + std::to_string(i), {{"kind", "build"}, {"n", i}}));
  }

  Child first(args);
  ASSERT_GT(first.pid(), 0);
  Send(triggers);
  ASSERT_TRUE(WaitFor([&] { return AtLeast(*store_, kExpected / 5); }, std::chrono::seconds(120)))
      << "the first engine did not get going";
  int status = first.Signal(SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  const size_t at_kill = AllExecutions().size();
  std::cout << "[ info ] killed the engine with " << at_kill << " of " << kExpected
            << " executions recorded\n";
  EXPECT_LT(at_kill, kExpected) << "the kill came too late to test anything";

  Child second(args);
  ASSERT_GT(second.pid(), 0);
  ASSERT_TRUE(WaitFor([&] { return AtLeast(*store_, kExpected); }, std::chrono::seconds(240)));
  status = second.Signal(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

  auto all = AllExecutions();
  std::set<std::string> ids;
  for (const auto& e : all) ids.insert(e.id);
  EXPECT_EQ(all.size(), kExpected);
  EXPECT_EQ(ids.size(), kExpected);
  size_t missing = 0;
  for (int i = 0; i < kTriggers; ++i) {
    const std::string ti = "ti-" + std::to_string(i);
    missing += !ids.count(UuidV5(kGaleNamespace, ti + "enginetest.on_build"));
    missing += !ids.count(UuidV5(kGaleNamespace, ti + "enginetest.noop"));
  }
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(AllTriggerInstances().size(), static_cast<size_t>(kTriggers));

  std::set<std::string> requested;
  size_t messages = 0;
  for (const auto& m :
       Requests(kExpected, std::chrono::milliseconds(2000), std::chrono::seconds(180))) {
    requested.insert(m.key);
    ++messages;
  }
  EXPECT_EQ(requested, ids);
  std::cout << "[ info ] " << messages << " requests for " << requested.size()
            << " executions (re-produced after the kill: " << messages - requested.size() << ")\n";
}

// True once `pid` has ended (left to be reaped by ChildProcess::Signal).
bool Ended(pid_t pid) {
  siginfo_t info{};
  return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

class EngineCrashTest : public EngineTest {
 protected:
  std::vector<std::string> ChildArgs(const std::string& failpoints = "") {
    std::vector<std::string> args = {config_.brokers, config_.embedded ? "1" : "0",
                                     config_.topic_prefix, StoreUrl(), PacksDir()};
    if (!failpoints.empty()) args.push_back(failpoints);
    return args;
  }

  // 1,000 instances, two matching rules each; the first engine ends (SIGABRT) at `failpoint`
  // on the batch holding instance mb-500-x, the next one runs with no fault. Afterwards: one
  // execution per (instance, rule), none missing, and a request on the bus for every one.
  // `never_committed`: the fault comes before the batch's commit, so the store must hold
  // nothing of mb-500-x in between (on SQLite, where a batch is one transaction).
  void KillMidBatch(const std::string& failpoint, bool never_committed) {
    LoadRules({
        {"build.yaml", RuleYaml("on_build", "  trigger.body.kind: {type: equals, pattern: build}\n",
                                "enginetest.noop", "")},
        {"noop.yaml", RuleYaml("noop", "", "enginetest.noop", "")},
    });
    constexpr int kTriggers = 1000;
    constexpr size_t kExpected = 2 * kTriggers;
    std::vector<Json> triggers;
    for (int i = 0; i < kTriggers; ++i) {
      triggers.push_back(Trigger("mb-" + std::to_string(i) + "-x", {{"kind", "build"}, {"n", i}}));
    }
    Send(triggers);
    {
      Child first(ChildArgs(failpoint + "=mb-500-x"));
      ASSERT_GT(first.pid(), 0);
      ASSERT_TRUE(WaitFor([&] { return Ended(first.pid()); }, std::chrono::seconds(120)))
          << "the fault did not fire";
      int status = first.Signal(SIGKILL);
      ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) << status;
    }
    const size_t at_crash = AllExecutions().size();
    std::cout << "[ info ] the engine ended with " << at_crash << " of " << kExpected
              << " executions recorded\n";
    EXPECT_LT(at_crash, kExpected);
    auto instance = store_->GetTriggerInstance("mb-500-x");
    ASSERT_TRUE(instance.ok()) << instance.message();
    auto execution =
        store_->GetExecution(UuidV5(kGaleNamespace, std::string("mb-500-x") + "enginetest.noop"));
    ASSERT_TRUE(execution.ok()) << execution.message();
    if (!never_committed) {
      EXPECT_TRUE(execution->has_value()) << "the batch was committed before the fault";
    } else if (store_->backend() == "sqlite") {
      EXPECT_FALSE(instance->has_value()) << "a batch that never committed left its instance";
      EXPECT_FALSE(execution->has_value()) << "a batch that never committed left an execution";
      EXPECT_EQ(at_crash % 2, 0u) << "a batch that never committed left half an instance";
    }

    Child second(ChildArgs());
    ASSERT_GT(second.pid(), 0);
    ASSERT_TRUE(WaitFor([&] { return AtLeast(*store_, kExpected); }, std::chrono::seconds(180)));
    int status = second.Signal(SIGTERM);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

    std::set<std::string> ids;
    auto all = AllExecutions();
    for (const auto& e : all) ids.insert(e.id);
    EXPECT_EQ(all.size(), kExpected);
    EXPECT_EQ(ids.size(), kExpected);
    size_t missing = 0;
    for (int i = 0; i < kTriggers; ++i) {
      const std::string ti = "mb-" + std::to_string(i) + "-x";
      missing += !ids.count(UuidV5(kGaleNamespace, ti + "enginetest.on_build"));
      missing += !ids.count(UuidV5(kGaleNamespace, ti + "enginetest.noop"));
    }
    EXPECT_EQ(missing, 0u);
    EXPECT_EQ(AllTriggerInstances().size(), static_cast<size_t>(kTriggers));
    std::set<std::string> requested;
    for (const auto& m :
         Requests(kExpected, std::chrono::milliseconds(1500), std::chrono::seconds(120))) {
      requested.insert(m.key);
    }
    EXPECT_EQ(requested, ids) << "an execution without its request";
  }
};

TEST_P(EngineCrashTest, AnEngineEndedHalfWayThroughWritingABatchLeavesNothingOfItAndItIsRedone) {
  KillMidBatch("rules.abort_mid_batch", /*never_committed=*/true);
}

TEST_P(EngineCrashTest, AnEngineEndedAfterItsBatchCommittedButBeforeTheRequestsWentOutResends) {
  KillMidBatch("rules.abort_before_flush", /*never_committed=*/false);
}

INSTANTIATE_TEST_SUITE_P(Embedded, EngineCrashTest, ::testing::Values(Target::kEmbedded),
                         TargetName);
INSTANTIATE_TEST_SUITE_P(Kafka, EngineCrashTest, ::testing::Values(Target::kKafka), TargetName);

}  // namespace
}  // namespace gale::rules::engine::test

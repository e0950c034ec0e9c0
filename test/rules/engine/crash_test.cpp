// Guarantee 1 across a crash: an engine in its own process is killed with SIGKILL while
// 10,000 trigger instances flow; a fresh one takes over. Every (instance, matching rule) ends
// with exactly one execution and at least one request, none missing.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iostream>
#include <set>

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

}  // namespace
}  // namespace gale::rules::engine::test

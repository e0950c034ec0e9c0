// A StackStorm timer rule on three `gale up` nodes sharing one bus and store: each tick is one
// trigger instance and one execution, also when the node firing the timers is killed -9.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "test/support/node_harness.h"

namespace gale::testing {
namespace {

namespace fs = std::filesystem;

// Trigger instances of the timer in the store, and executions per trigger instance.
struct Seen {
  std::vector<store::TriggerInstance> ticks;
  std::map<std::string, std::vector<store::Execution>> executions;
};

Seen Read(const NodeProcess& node) {
  Seen seen;
  auto store = node.OpenStore();
  store::TriggerInstanceQuery q;
  q.trigger = "core.st2.IntervalTimer";
  q.limit = 1000;
  auto page = store->ListTriggerInstances(q);
  if (page.ok()) seen.ticks = page->items;
  std::sort(seen.ticks.begin(), seen.ticks.end(),
            [](const auto& a, const auto& b) { return a.occurred_at < b.occurred_at; });
  store::ExecutionQuery e;
  e.rule = "timed.every_second";
  e.limit = 1000;
  auto execs = store->ListExecutions(e);
  if (execs.ok()) {
    for (auto& x : execs->items) seen.executions[x.trigger_instance].push_back(x);
  }
  return seen;
}

std::string TimedPack(const TempDir& dir) {
  WriteFiles(dir.path() / "timed",
             {{"pack.yaml", "---\nref: timed\nname: timed\nversion: 0.1.0\n"},
              {"rules/every_second.yaml",
               "---\nname: every_second\ntrigger:\n  type: core.st2.IntervalTimer\n"
               "  parameters: {unit: seconds, delta: 1}\naction:\n  ref: core.noop\n"}});
  return dir.str();
}

TEST(TimerNodeTest, ThreeNodesRunEachTickOnceThroughAKill) {
  TempDir packs;
  const std::vector<std::string> paths = {std::string(GALE_BINARY_DIR) + "/packs",
                                          TimedPack(packs)};
  // The hub holds the embedded bus and the store (rules, runner); b and c run the timers.
  NodeOptions hub;
  hub.node_name = "hub";
  hub.roles = "[rules, runner]";
  hub.packs_paths = paths;
  auto node_hub = NodeProcess::Start(hub);
  NodeOptions b = hub;
  b.node_name = "node-b";
  b.roles = "[sensors, rules, runner]";
  b.join = node_hub.get();
  auto node_b = NodeProcess::Start(b);
  NodeOptions c = b;
  c.node_name = "node-c";
  auto node_c = NodeProcess::Start(c);

  ASSERT_TRUE(WaitFor([&] { return Read(*node_hub).ticks.size() >= 4; }, std::chrono::seconds(60)))
      << node_b->Log() << node_c->Log();
  const std::string firing = Read(*node_hub).ticks.back().node;
  ASSERT_TRUE(firing == "node-b" || firing == "node-c") << firing;
  NodeProcess& owner = firing == "node-b" ? *node_b : *node_c;
  const std::string survivor = firing == "node-b" ? "node-c" : "node-b";
  kill(-owner.pid(), SIGKILL);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = Read(*node_hub);
        return std::count_if(s.ticks.begin(), s.ticks.end(),
                             [&](const auto& t) { return t.node == survivor; }) >= 4;
      },
      std::chrono::seconds(60)))
      << "the timers did not move to " << survivor;
  // Every tick fired so far reaches a final execution: one per tick, and only the killed node's
  // runs may end abandoned (at-most-once: an action killed mid-run is not rerun).
  const size_t fired = Read(*node_hub).ticks.size();
  Seen seen;
  const bool settled = WaitFor(
      [&] {
        seen = Read(*node_hub);
        for (size_t i = 0; i < fired && i < seen.ticks.size(); ++i) {
          auto it = seen.executions.find(seen.ticks[i].id);
          if (it == seen.executions.end()) return false;
          for (const auto& x : it->second) {
            if (!store::IsFinal(x.status)) return false;
          }
        }
        return true;
      },
      std::chrono::seconds(60));
  EXPECT_TRUE(settled) << "the executions of the first " << fired << " ticks did not finish";
  std::set<int64_t> ticks;
  for (const auto& t : seen.ticks) {
    EXPECT_TRUE(ticks.insert(t.occurred_at).second) << "tick " << t.occurred_at << " fired twice";
    EXPECT_EQ(t.occurred_at % 1000, 0);
  }
  size_t succeeded = 0, abandoned = 0;
  for (size_t i = 0; i < fired && i < seen.ticks.size(); ++i) {
    const auto& t = seen.ticks[i];
    auto it = seen.executions.find(t.id);
    if (it == seen.executions.end()) continue;  // reported by `settled`
    ASSERT_EQ(it->second.size(), 1u) << "tick " << t.occurred_at;
    const auto& x = it->second[0];
    if (x.status == store::ExecStatus::kSucceeded) {
      ++succeeded;
    } else {
      ++abandoned;
      EXPECT_EQ(x.status, store::ExecStatus::kAbandoned) << "tick " << t.occurred_at;
      EXPECT_EQ(x.node, firing) << "tick " << t.occurred_at
                                << ": only the killed node's run may be lost";
    }
  }
  int64_t gap = 0;
  for (size_t i = 1; i < seen.ticks.size(); ++i) {
    gap = std::max(gap, seen.ticks[i].occurred_at - seen.ticks[i - 1].occurred_at);
  }
  std::cout << fired << " ticks, " << succeeded << " executions succeeded, " << abandoned
            << " abandoned (killed mid-run); widest gap between ticks (the kill): " << gap
            << " ms\n";
}

}  // namespace
}  // namespace gale::testing

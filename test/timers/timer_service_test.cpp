// Timers across several nodes sharing one store and bus: each tick fires once cluster-wide,
// the lease moves to another node when the owner stops, and no tick is fired twice.
#include "host/timers/timer_service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>

#include "test/support/bus_store_test.h"
#include "test/support/node_harness.h"

namespace gale::timers {
namespace {

using gale::testing::BusTarget;

class TimerServiceTest : public gale::testing::BusStoreTest {
 protected:
  TimerServiceTest() : BusStoreTest("gale-timers-test") {}

  std::unique_ptr<TimerService> Node(const std::string& name, std::chrono::milliseconds ttl) {
    TimerServiceOptions o;
    o.bus = config_;
    o.store = store_.get();
    o.node = name;
    o.lease_ttl = ttl;
    o.clock = [this] { return now_.load(); };
    o.pass_interval = std::chrono::milliseconds(5);
    auto s = TimerService::Start(o);
    EXPECT_TRUE(s.ok()) << s.message();
    if (!s.ok()) return nullptr;
    (*s)->Update({TimerSpec{"core.st2.IntervalTimer", {{"unit", "seconds"}, {"delta", 1}}}});
    return std::move(s).value();
  }

  // Moves every node's clock on by `by`, then waits until each of `nodes` has made a whole pass
  // that saw the new time (the pass under way when the clock moved may have read the old one).
  void Advance(std::chrono::milliseconds by, const std::vector<TimerService*>& nodes) {
    std::vector<uint64_t> before;
    for (TimerService* n : nodes) before.push_back(n->stats().passes);
    now_ += by.count();
    for (size_t i = 0; i < nodes.size(); ++i) {
      ASSERT_TRUE(gale::testing::WaitFor([&] { return nodes[i]->stats().passes >= before[i] + 2; },
                                         std::chrono::seconds(30)));
    }
  }

  // Every trigger instance on the topic, read until `count` are there and nothing follows.
  std::vector<Json> Fired(size_t count) {
    std::vector<Json> out;
    auto tailer = bus::Tailer::Create(config_, bus::Topic(config_, bus::kTriggers), true);
    EXPECT_TRUE(tailer.ok()) << tailer.message();
    if (!tailer.ok()) return out;
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < end) {
      auto m = (*tailer)->Next(std::chrono::milliseconds(500));
      if (!m.ok() || !m->has_value()) {
        if (out.size() >= count) break;
        continue;
      }
      out.push_back(Json::parse((*m)->value));
    }
    return out;
  }

  // The time the nodes see: 2026-01-01T00:00:00Z, then whole seconds later.
  std::atomic<TimeMs> now_{1'767'225'600'000};
};

// Every tick fired by one node before and after a handover, none twice and none lost, on a
// clock the test moves: no real second passes, and nothing depends on how fast the machine is.
TEST_P(TimerServiceTest, ThreeNodesFireEachTickOnceAndHandOverWithoutRefiring) {
  auto a = Node("node-a", std::chrono::seconds(2));
  auto b = Node("node-b", std::chrono::seconds(2));
  auto c = Node("node-c", std::chrono::seconds(2));
  ASSERT_TRUE(a && b && c);
  std::vector<TimerService*> running{a.get(), b.get(), c.get()};
  Advance(std::chrono::milliseconds(0), running);  // one node takes the lease
  for (int i = 0; i < 4; ++i) Advance(std::chrono::seconds(1), running);
  EXPECT_EQ(a->stats().owner + b->stats().owner + c->stats().owner, 1) << "one node holds them";
  TimerService* owner = a->stats().owner ? a.get() : b->stats().owner ? b.get() : c.get();
  EXPECT_EQ(owner->stats().fired, 4u);
  owner->Stop();  // hands the lease back
  std::erase(running, owner);
  for (int i = 0; i < 4; ++i) Advance(std::chrono::seconds(1), running);

  auto fired = Fired(8);
  ASSERT_EQ(fired.size(), 8u);
  std::set<std::string> ids;
  std::set<int64_t> ticks;
  std::set<std::string> nodes;
  std::string sequence;  // "tick@node ..." for the failure messages
  for (const Json& t : fired) {
    sequence += std::to_string(t["occurred_at"].get<int64_t>() / 1000 % 100) + "@" +
                t["node"].get<std::string>() + " ";
    EXPECT_EQ(t["trigger"], "core.st2.IntervalTimer");
    EXPECT_EQ(t["trigger_parameters"], Json({{"unit", "seconds"}, {"delta", 1}}));
    EXPECT_EQ(t["payload"]["schedule"], t["trigger_parameters"]);
    EXPECT_TRUE(t["payload"]["executed_at"].is_string());
    EXPECT_EQ(t["occurred_at"].get<int64_t>() % 1000, 0) << "ticks on whole seconds";
    EXPECT_TRUE(ids.insert(t["id"].get<std::string>()).second) << "id fired twice: " << t;
    EXPECT_TRUE(ticks.insert(t["occurred_at"].get<int64_t>()).second) << "tick fired twice: " << t;
    nodes.insert(t["node"].get<std::string>());
  }
  EXPECT_EQ(nodes.size(), 2u) << sequence;  // the first owner, then the one that took over
  // Seconds 1 to 8 after the start, each once: a handover loses no tick.
  EXPECT_EQ(*ticks.begin(), now_.load() - 7000) << sequence;
  EXPECT_EQ(*ticks.rbegin(), now_.load()) << sequence;
}

INSTANTIATE_TEST_SUITE_P(Bus, TimerServiceTest,
                         ::testing::Values(BusTarget::kEmbedded, BusTarget::kKafka),
                         gale::testing::BusTargetName);

}  // namespace
}  // namespace gale::timers

// Sensor partitioning across real nodes sharing one bus and store: a `file` partition runs a
// sensor only on its node; `auto` moves a kill -9'd node's sensor to a live node, and a sensor
// never runs on two nodes at once.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "test/support/node_harness.h"

namespace gale::testing {
namespace {

namespace fs = std::filesystem;

struct Tick {
  std::string node;
  int64_t at = 0;
};

// The healthy.Ticker ticks (every 0.2 s) on the node's triggers topic, in topic order per node.
std::vector<Tick> Ticks(const NodeProcess& node, size_t at_least, std::chrono::seconds deadline) {
  std::vector<Tick> ticks;
  auto messages = ReadTopic(
      node.brokers(), node.topic_prefix() + "triggers",
      [&](const auto& ms) { return ms.size() >= at_least; }, deadline);
  for (const auto& m : messages) {
    const Json t = Json::parse(m.value);
    if (t.value("trigger", "") == "healthy.tick") {
      ticks.push_back({t.value("node", ""), t.value("occurred_at", int64_t{0})});
    }
  }
  std::sort(ticks.begin(), ticks.end(), [](const Tick& a, const Tick& b) { return a.at < b.at; });
  return ticks;
}

std::string HealthyPacks(const TempDir& dir) {
  fs::copy(std::string(GALE_TEST_PACKS) + "/crash/healthy", dir.path() / "healthy",
           fs::copy_options::recursive);
  return dir.str();
}

std::vector<std::string> SensorsOf(const NodeProcess& node, const std::string& name) {
  auto store = node.OpenStore();
  auto got = store->GetNode(name);
  if (!got.ok() || !got->has_value()) return {};
  return (*got)->info.value("sensors", std::vector<std::string>{});
}

TEST(PartitionNodeTest, FilePartitionRunsTheSensorOnlyOnItsNode) {
  TempDir packs, conf;
  const std::string partitions = conf.str() + "/partitions.yaml";
  std::ofstream(partitions) << "node-a:\n  - healthy.Ticker\nnode-b: []\n";
  const std::string yaml =
      "sensors: {partition_provider: file, partition_file: " + partitions + "}\n";
  NodeOptions a;
  a.node_name = "node-a";
  a.packs_paths = {HealthyPacks(packs)};
  a.extra_yaml = yaml;
  auto node_a = NodeProcess::Start(a);
  NodeOptions b = a;
  b.node_name = "node-b";
  b.join = node_a.get();
  auto node_b = NodeProcess::Start(b);

  auto ticks = Ticks(*node_a, 25, std::chrono::seconds(60));
  ASSERT_GE(ticks.size(), 25u) << node_a->Log();
  std::this_thread::sleep_for(std::chrono::seconds(2));  // node b had its chance to start it
  ticks = Ticks(*node_a, ticks.size() + 5, std::chrono::seconds(30));
  for (const Tick& t : ticks) ASSERT_EQ(t.node, "node-a");
  EXPECT_TRUE(
      WaitFor([&] { return SensorsOf(*node_a, "node-a").size() == 1; }, std::chrono::seconds(10)));
  EXPECT_EQ(SensorsOf(*node_a, "node-a"), std::vector<std::string>{"healthy.Ticker"});
  EXPECT_TRUE(SensorsOf(*node_a, "node-b").empty());
  EXPECT_EQ(node_b->Log().find("running 1 sensor(s)"), std::string::npos) << node_b->Log();
}

TEST(PartitionNodeTest, AutoPartitionFailsOverAKilledOwnerWithoutOverlap) {
  // The hub holds the (embedded) bus and the store and runs no sensors; b and c share the ticker.
  TempDir packs;
  NodeOptions hub;
  hub.node_name = "hub";
  hub.roles = "[rules]";
  hub.packs_paths = {HealthyPacks(packs)};
  auto node_hub = NodeProcess::Start(hub);
  NodeOptions b = hub;
  b.node_name = "node-b";
  b.roles = "[sensors]";
  b.join = node_hub.get();
  b.extra_yaml = "sensors: {partition_provider: auto}\n";
  auto node_b = NodeProcess::Start(b);
  NodeOptions c = b;
  c.node_name = "node-c";
  auto node_c = NodeProcess::Start(c);

  // Both in the group: whoever owns the ticker's slot runs it.
  auto owned = [&](const std::string& name) { return SensorsOf(*node_hub, name).size(); };
  ASSERT_TRUE(WaitFor(
      [&] {
        return owned("node-b") + owned("node-c") == 1 &&
               node_c->Log().find("sensor ownership: assigned") != std::string::npos;
      },
      std::chrono::seconds(60)))
      << node_b->Log() << node_c->Log();
  const bool b_owns = owned("node-b") == 1;
  NodeProcess& owner = b_owns ? *node_b : *node_c;
  const std::string survivor = b_owns ? "node-c" : "node-b";
  auto before = Ticks(*node_hub, 10, std::chrono::seconds(30));
  ASSERT_FALSE(before.empty());

  kill(-owner.pid(), SIGKILL);  // the node and its sensor hosts, as a machine dying
  const size_t seen = before.size();
  auto after = Ticks(*node_hub, seen + 10, std::chrono::seconds(90));
  ASSERT_TRUE(!after.empty() && after.back().node == survivor)
      << "the sensor did not move to " << survivor << "\n"
      << node_b->Log() << node_c->Log();

  // Runs of one node, never interleaved: at most one switch per rebalance (b joining, a kill).
  int switches = 0;
  int64_t last_old = 0, first_new = 0;
  for (size_t i = 1; i < after.size(); ++i) {
    if (after[i].node != after[i - 1].node) {
      ++switches;
      last_old = after[i - 1].at;
      first_new = after[i].at;
    }
  }
  EXPECT_LE(switches, 2) << "the ticker ran on two nodes at once";
  std::cout << "sensor failover: last tick from the killed owner to the first from " << survivor
            << ": " << (first_new - last_old) << " ms\n";
}

}  // namespace
}  // namespace gale::testing

// Sensor partition providers: StackStorm's default, file, kvstore and hash (its own hash, so a
// StackStorm deployment's ranges split the same sensors), and `auto` over a real consumer group.
#include "host/partition/partitioner.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "host/partition/hash_ranges.h"
#include "host/partition/slot_owner.h"
#include "host/store/open.h"
#include "test/support/pack_dir.h"

namespace gale::partition {
namespace {

using gale::testing::TempDir;

PartitionerOptions Options(const std::string& provider, const std::string& node = "node-1") {
  PartitionerOptions o;
  o.config.partition_provider = provider;
  o.config.sensor_node_name = node;
  return o;
}

TEST(PartitionTest, St2HashIsStackStormsOwn) {
  // Values computed with st2reactor's HashPartitioner._hash_sensor_ref.
  EXPECT_EQ(St2SensorHash("examples.SampleSensor"), 4026535470u);
  EXPECT_EQ(St2SensorHash("examples.SamplePollingSensor"), 546828322u);
  EXPECT_EQ(St2SensorHash("linux.FileWatchSensor"), 1562168054u);
  EXPECT_EQ(St2SensorHash("mypack.DirectorySensor"), 3014178893u);
  EXPECT_EQ(St2SensorHash(""), 1040254642u);
}

TEST(PartitionTest, HashRangesParseAsStackStormReadsThem) {
  auto r = ParseHashRanges("min..1024 | 2048..MAX|1500..1500");
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].start, 0u);
  EXPECT_EQ((*r)[0].end, 1024u);
  EXPECT_EQ((*r)[1].end, uint64_t{1} << 32);
  EXPECT_TRUE(InRanges(*r, 0));
  EXPECT_FALSE(InRanges(*r, 1024)) << "half-open";
  EXPECT_TRUE(InRanges(*r, 4294967295u));
  EXPECT_FALSE(InRanges(*r, 1500)) << "an empty range holds nothing";
  auto clamped = ParseHashRanges("-5..99999999999");
  ASSERT_TRUE(clamped.ok());
  EXPECT_EQ((*clamped)[0].start, 0u);
  EXPECT_EQ((*clamped)[0].end, uint64_t{1} << 32);
  for (const char* bad : {"", "1024", "1..2..3", "a..b", "10..5", "0..1|"}) {
    auto e = ParseHashRanges(bad);
    EXPECT_FALSE(e.ok()) << bad;
    EXPECT_NE(e.message().find("hash range"), std::string::npos) << e.message();
  }
}

TEST(PartitionTest, HashProviderSplitsByRange) {
  auto lower = Options("hash");
  lower.config.hash_ranges = "min..2147483648";
  auto upper = Options("hash", "node-2");
  upper.config.hash_ranges = "2147483648..max";
  auto a = MakePartitioner(lower);
  auto b = MakePartitioner(upper);
  ASSERT_TRUE(a.ok() && b.ok());
  for (const char* ref : {"examples.SampleSensor", "examples.SamplePollingSensor",
                          "linux.FileWatchSensor", "mypack.DirectorySensor"}) {
    EXPECT_NE((*a)->Owns(ref), (*b)->Owns(ref)) << ref << ": exactly one node";
  }
  EXPECT_TRUE((*a)->Owns("examples.SamplePollingSensor"));  // 546828322
  EXPECT_FALSE((*a)->Owns("examples.SampleSensor"));        // 4026535470
  auto missing = MakePartitioner(Options("hash"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("sensors.hash_ranges"), std::string::npos);
}

TEST(PartitionTest, FileProviderRunsWhatIsListedForThisNode) {
  TempDir dir;
  const std::string path = dir.str() + "/partitions.yaml";
  std::ofstream(path) << "node-1:\n  - examples.SampleSensor\n  - linux.FileWatchSensor\n"
                         "node-2:\n  - examples.SamplePollingSensor\n";
  auto o = Options("file");
  o.config.partition_file = path;
  auto p = MakePartitioner(o);
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ((*p)->provider(), "file");
  EXPECT_EQ((*p)->Select(
                {"examples.SampleSensor", "examples.SamplePollingSensor", "linux.FileWatchSensor"}),
            (std::vector<std::string>{"examples.SampleSensor", "linux.FileWatchSensor"}));
  auto other = Options("file", "node-3");
  other.config.partition_file = path;
  auto none = MakePartitioner(other);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE((*none)->Select({"examples.SampleSensor"}).empty()) << "unlisted node runs none";

  std::ofstream(path) << "node-1: examples.SampleSensor\n";
  auto bad = MakePartitioner(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.message(), path + ":1: expected a list of sensor refs under 'node-1'");
  o.config.partition_file = dir.str() + "/nope.yaml";
  auto absent = MakePartitioner(o);
  ASSERT_FALSE(absent.ok());
  EXPECT_NE(absent.message().find("nope.yaml"), std::string::npos) << absent.message();
}

TEST(PartitionTest, KvStoreProviderFollowsItsKey) {
  TempDir dir;
  auto store = store::OpenStore("sqlite://" + dir.str() + "/gale.db");
  ASSERT_TRUE(store.ok()) << store.message();
  auto o = Options("kvstore", "sensornode1");
  o.store = store->get();
  auto p = MakePartitioner(o);
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_FALSE((*p)->Owns("examples.SampleSensor")) << "no key: nothing";
  ASSERT_TRUE((*store)
                  ->SetKey({"sensornode1.sensor_partition",
                            "examples.SampleSensor, examples.SamplePollingSensor"},
                           store::NowMs())
                  .ok());
  EXPECT_FALSE((*p)->Owns("examples.SampleSensor")) << "read on Refresh";
  ASSERT_TRUE((*p)->Refresh().ok());
  EXPECT_TRUE((*p)->Owns("examples.SampleSensor"));
  EXPECT_TRUE((*p)->Owns("examples.SamplePollingSensor"));
  EXPECT_FALSE((*p)->Owns("linux.FileWatchSensor"));
}

TEST(PartitionTest, DefaultRunsEverythingAndUnknownProvidersAreRefused) {
  auto d = MakePartitioner(Options("default"));
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE((*d)->Owns("anything.AtAll"));
  auto bad = MakePartitioner(Options("roundrobin"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("unknown provider 'roundrobin'"), std::string::npos);
}

TEST(PartitionTest, SlotsAreStableAndSpread) {
  std::set<int> seen;
  for (int i = 0; i < 1000; ++i) {
    const int s = SlotOf("pack.Sensor" + std::to_string(i), 64);
    ASSERT_GE(s, 0);
    ASSERT_LT(s, 64);
    seen.insert(s);
  }
  EXPECT_EQ(seen.size(), 64u);
  EXPECT_EQ(SlotOf("examples.DirectorySensor", 64), SlotOf("examples.DirectorySensor", 64));
}

// Two members of gale.sensor-owners split the slots; when one leaves, the other owns them all.
TEST(PartitionTest, AutoOwnershipFollowsTheConsumerGroup) {
  auto broker = bus::EmbeddedBroker::Start();
  ASSERT_TRUE(broker.ok()) << broker.message();
  bus::BusConfig bus;
  bus.brokers = (*broker)->bootstrap();
  bus.embedded = true;
  bus.topic_prefix = "partition-test.";
  ASSERT_TRUE(bus::EnsureTopics(bus, broker->get(), 16).ok());
  std::atomic<int> a_revokes{0};
  auto a = SlotOwner::Start(bus, 16, [&](bool revoking) { a_revokes += revoking ? 1 : 0; });
  ASSERT_TRUE(a.ok()) << a.message();
  auto wait = [](const std::function<bool()>& done) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!done() && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return done();
  };
  ASSERT_TRUE(wait([&] { return (*a)->slots().size() == 16; }));
  {
    auto b = SlotOwner::Start(bus, 16, nullptr);
    ASSERT_TRUE(b.ok()) << b.message();
    ASSERT_TRUE(wait([&] {
      return !(*b)->slots().empty() && (*a)->slots().size() + (*b)->slots().size() == 16;
    }));
    for (int s : (*b)->slots()) EXPECT_FALSE((*a)->slots().contains(s)) << "slot " << s;
    EXPECT_GE(a_revokes.load(), 1) << "a gave its slots up before b got any";
    int owned_by_a = 0;
    for (int i = 0; i < 100; ++i) {
      const std::string ref = "pack.S" + std::to_string(i);
      EXPECT_NE((*a)->Owns(ref), (*b)->Owns(ref)) << ref;
      owned_by_a += (*a)->Owns(ref) ? 1 : 0;
    }
    EXPECT_GT(owned_by_a, 0);
    EXPECT_LT(owned_by_a, 100);
  }
  EXPECT_TRUE(wait([&] { return (*a)->slots().size() == 16; })) << "b left: a owns every slot";
}

}  // namespace
}  // namespace gale::partition

// Against the real Kafka broker (GALE_KAFKA_BROKERS, from scripts/services up): a consumer group
// of two members splits a 6-partition topic, sees every message exactly once between them, and
// when one member leaves the other takes over every partition without losing or repeating
// committed work. This is the property Gale's rules engine and runners rely on.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kafka_support.h"

namespace gale::test {
namespace {

using namespace std::chrono_literals;

constexpr int kPartitions = 6;
constexpr int kMessages = 10000;
constexpr int kAfterTakeover = 1200;

std::string describe(const std::set<int32_t>& s) {
  std::string out = "{";
  for (auto p : s) out += (out.size() > 1 ? "," : "") + std::to_string(p);
  return out + "}";
}

TEST(ServicesKafka, GroupOfTwoSplitsPartitionsAndSurvivorTakesOver) {
  const auto brokers = env_var("GALE_KAFKA_BROKERS");
  if (!brokers) GTEST_SKIP() << "SKIPPED: GALE_KAFKA_BROKERS is not set (run scripts/services up)";

  const std::string topic = unique_name("gale-test-group");
  const std::string group = unique_name("gale-test-group");

  AckingProducer producer(*brokers, "all");
  ASSERT_EQ(create_topic(producer.handle(), topic, kPartitions, 1), "");
  ASSERT_TRUE(wait_for_topic(producer.handle(), topic, kPartitions, 60s));

  // Both members join before anything is produced, so each partition has one owner throughout.
  GroupMember a("member-a", *brokers, group, topic);
  GroupMember b("member-b", *brokers, group, topic);
  ASSERT_TRUE(wait_until(90s,
                         [&] {
                           return a.assignment().size() == kPartitions / 2 &&
                                  b.assignment().size() == kPartitions / 2;
                         }))
      << "assignment never settled: a=" << describe(a.assignment())
      << " b=" << describe(b.assignment());
  const auto part_a = a.assignment();
  const auto part_b = b.assignment();
  std::set<int32_t> all_parts = part_a;
  all_parts.insert(part_b.begin(), part_b.end());
  EXPECT_EQ(all_parts.size(), static_cast<size_t>(kPartitions))
      << "a=" << describe(part_a) << " b=" << describe(part_b);

  for (int id = 0; id < kMessages; ++id) producer.produce(topic, id);
  ASSERT_TRUE(producer.flush(120s)) << "delivery reports still outstanding";
  ASSERT_EQ(producer.acked().size(), static_cast<size_t>(kMessages));
  EXPECT_EQ(producer.partitions_used().size(), static_cast<size_t>(kPartitions))
      << "keys did not spread over every partition";

  ASSERT_TRUE(wait_until(120s, [&] { return a.seen_count() + b.seen_count() >= kMessages; }))
      << "received " << a.seen_count() << " + " << b.seen_count() << " of " << kMessages;
  std::this_thread::sleep_for(500ms);  // anything extra (a duplicate) would show up now

  {
    const auto seen_a = a.seen();
    const auto seen_b = b.seen();
    EXPECT_GT(seen_a.size(), 0u);
    EXPECT_GT(seen_b.size(), 0u);
    EXPECT_EQ(seen_a.size() + seen_b.size(), static_cast<size_t>(kMessages))
        << "a message was delivered more than once";
    std::map<int, int> times;
    for (const auto* seen : {&seen_a, &seen_b}) {
      for (const auto& s : *seen) ++times[s.id];
    }
    EXPECT_EQ(times.size(), static_cast<size_t>(kMessages)) << "messages missing";
    for (const auto& [id, n] : times) {
      ASSERT_EQ(n, 1) << "message " << id << " seen " << n << " times";
    }
    for (const auto& s : seen_a) {
      ASSERT_TRUE(part_a.count(s.partition)) << "a got partition " << s.partition << " of b";
    }
    for (const auto& s : seen_b) {
      ASSERT_TRUE(part_b.count(s.partition)) << "b got partition " << s.partition << " of a";
    }
  }
  EXPECT_TRUE(a.commit_errors().empty()) << a.commit_errors().front();
  EXPECT_TRUE(b.commit_errors().empty()) << b.commit_errors().front();

  // Member b commits and leaves; a must end up owning all six partitions.
  const size_t b_total = b.seen_count();
  b.leave();
  a.mark_phase();
  ASSERT_TRUE(wait_until(90s, [&] { return a.assignment().size() == kPartitions; }))
      << "a owns only " << describe(a.assignment()) << " after b left";

  for (int id = kMessages; id < kMessages + kAfterTakeover; ++id) producer.produce(topic, id);
  ASSERT_TRUE(producer.flush(120s));
  ASSERT_EQ(producer.acked().size(), static_cast<size_t>(kMessages + kAfterTakeover));
  ASSERT_TRUE(wait_until(120s, [&] {
    size_t n = 0;
    for (const auto& s : a.seen()) n += s.after_takeover ? 1 : 0;
    return n >= static_cast<size_t>(kAfterTakeover);
  }));
  std::this_thread::sleep_for(500ms);
  const auto a_final = a.assignment();
  a.leave();

  const auto seen_a = a.seen();
  const auto seen_b = b.seen();
  EXPECT_EQ(seen_b.size(), b_total);
  std::set<int32_t> parts_after;
  std::map<int, int> times;
  std::set<std::pair<int32_t, int64_t>> positions;
  std::vector<std::string> redelivered;  // (partition, offset) handed out twice
  for (const auto* seen : {&seen_a, &seen_b}) {
    for (const auto& s : *seen) {
      ++times[s.id];
      if (!positions.emplace(s.partition, s.offset).second) {
        redelivered.push_back(std::to_string(s.partition) + "@" + std::to_string(s.offset));
      }
    }
  }
  std::vector<int> old_after_takeover;  // messages b (or a) had committed, seen again by a
  size_t read_after = 0;
  for (const auto& s : seen_a) {
    if (!s.after_takeover) continue;
    ++read_after;
    parts_after.insert(s.partition);
    if (s.id < kMessages) old_after_takeover.push_back(s.id);
  }
  std::printf(
      "a: partitions %s, %zu messages; b: partitions %s, %zu messages; after b left, "
      "a owns %s and read %zu messages from %s\n",
      describe(part_a).c_str(), seen_a.size() - read_after, describe(part_b).c_str(), seen_b.size(),
      describe(a_final).c_str(), read_after, describe(parts_after).c_str());
  EXPECT_TRUE(redelivered.empty())
      << redelivered.size() << " messages redelivered, first at " << redelivered.front();
  EXPECT_TRUE(old_after_takeover.empty())
      << old_after_takeover.size() << " committed messages redelivered to a, e.g. id "
      << old_after_takeover.front();
  EXPECT_EQ(times.size(), static_cast<size_t>(kMessages + kAfterTakeover));
  for (const auto& [id, n] : times) {
    ASSERT_EQ(n, 1) << "message " << id << " seen " << n << " times";
  }
  EXPECT_EQ(a_final.size(), static_cast<size_t>(kPartitions));
  EXPECT_EQ(parts_after.size(), static_cast<size_t>(kPartitions))
      << "after the takeover a read only from " << describe(parts_after);
  EXPECT_TRUE(a.commit_errors().empty()) << a.commit_errors().front();
}

}  // namespace
}  // namespace gale::test

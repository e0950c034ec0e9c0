// The embedded broker's bounded partition logs, and the RetentionGuard that keeps producers from
// pushing unconsumed messages out of them. Real producers and consumers on a real embedded
// broker; each test has its own broker.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "host/bus/retention_guard.h"
#include "test/bus/bus_suite.h"

namespace gale::bus::test {
namespace {

using namespace std::chrono_literals;

constexpr int kMessages = 3500;                       // ~7 MB: more than a partition retains
const std::string kPadding = std::string(2000, 'x');  // per message

class BusRetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = EmbeddedBroker::Start(2);  // t and u on brokers of their own
    ASSERT_TRUE(started.ok()) << started.message();
    broker_ = std::move(started).value();
    config_.brokers = broker_->bootstrap();
    config_.embedded = true;
    config_.properties["producer.batch.size"] = "65536";  // as the node sets it
    ASSERT_TRUE(broker_->CreateTopic("t", 1).ok());
    ASSERT_TRUE(broker_->CreateTopic("u", 1).ok());
  }

  std::unique_ptr<Producer> NewProducer() {
    auto p = Producer::Create(config_);
    EXPECT_TRUE(p.ok()) << p.message();
    return p.ok() ? std::move(p).value() : nullptr;
  }
  std::unique_ptr<Consumer> NewConsumer() {
    Consumer::Options o;
    o.group_id = "g";
    o.topics = {"t"};
    auto c = Consumer::Create(config_, o);
    EXPECT_TRUE(c.ok()) << c.message();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  static std::string Value(int i) { return "m" + std::to_string(i) + " " + kPadding; }

  std::vector<GroupTopics> groups_ = {{"g", {"t"}}};
  BusConfig config_;
  std::unique_ptr<EmbeddedBroker> broker_;
};

// The premise: a group that stops consuming loses what the broker no longer retains, and
// Retention() sees the unconsumed window full.
TEST_F(BusRetentionTest, WithoutTheGuardAnIdleGroupLosesMessages) {
  auto producer = NewProducer();
  ASSERT_NE(producer, nullptr);
  for (int i = 0; i < kMessages; ++i) ASSERT_TRUE(producer->Produce("t", "", Value(i)).ok());
  ASSERT_TRUE(producer->Flush(30s).ok());

  auto use = broker_->Retention(groups_);
  ASSERT_EQ(use.size(), 1u);
  EXPECT_EQ(use[0].topic, "t");
  EXPECT_LE(use[0].unconsumed_bytes, EmbeddedBroker::kLogMaxBytes);
  EXPECT_GT(use[0].used_ratio, 0.95);

  auto consumer = NewConsumer();
  ASSERT_NE(consumer, nullptr);
  auto first = ConsumeN(*consumer, 1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_GT(first[0].offset, 0) << "the broker was expected to drop the oldest messages";
}

TEST_F(BusRetentionTest, TheGuardHoldsProducersAndNothingIsLost) {
  auto producer = NewProducer();
  ASSERT_NE(producer, nullptr);
  // The group consumes the first 10 messages, commits, and stops.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(producer->Produce("t", "", Value(i)).ok());
  ASSERT_TRUE(producer->Flush(10s).ok());
  {
    auto consumer = NewConsumer();
    ASSERT_NE(consumer, nullptr);
    auto got = ConsumeN(*consumer, 10);
    ASSERT_EQ(got.size(), 10u);
    ASSERT_TRUE(consumer->Commit(got.back()).ok());
    ASSERT_TRUE(consumer->Close().ok());
  }

  RetentionGuard guard(broker_.get(), {.groups = groups_});
  std::atomic<int> delivered = 0;
  std::atomic<int> failed = 0;
  for (int i = 10; i < 10 + kMessages; ++i) {
    ASSERT_TRUE(
        producer
            ->Produce("t", "", Value(i),
                      [&](const Status& s, const Message&) { ++(s.ok() ? delivered : failed); })
            .ok());
  }
  // The producer is held before the partition fills up; /metrics shows the same sample.
  double highest = 0;
  RetentionGuard::Sample sample;
  for (auto deadline = Clock::now() + 30s; Clock::now() < deadline;) {
    sample = guard.Last();
    for (const auto& p : sample.partitions) highest = std::max(highest, p.used_ratio);
    if (sample.held.contains("t")) break;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(sample.held.contains("t")) << "highest used ratio " << highest;
  EXPECT_LT(delivered.load(), kMessages) << "the producer was not slowed";
  EXPECT_GE(highest, 0.8);
  EXPECT_FALSE(sample.held.contains("u"));
  // Another topic's producers are not held.
  EXPECT_TRUE(producer->ProduceSync("u", "", "other", 10s).ok());

  // The group resumes and reads every message once, in order, from where it stopped.
  auto consumer = NewConsumer();
  ASSERT_NE(consumer, nullptr);
  std::vector<Message> got;
  for (auto deadline = Clock::now() + 60s; got.size() < kMessages && Clock::now() < deadline;) {
    auto m = consumer->Poll(100ms);
    ASSERT_TRUE(m.ok()) << m.message();
    if (!m->has_value()) continue;
    for (const auto& p : guard.Last().partitions) highest = std::max(highest, p.used_ratio);
    ASSERT_TRUE(consumer->Commit(**m).ok());
    got.push_back(std::move(**m));
  }
  ASSERT_EQ(got.size(), static_cast<size_t>(kMessages));
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_EQ(got[i].offset, 10 + i);
    ASSERT_EQ(got[i].value, Value(10 + i));
  }
  EXPECT_TRUE(ConsumeFor(*consumer, 500ms).empty());
  EXPECT_TRUE(producer->Flush(30s).ok());
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(delivered.load(), kMessages);
  EXPECT_LT(highest, 1.0) << "unconsumed messages reached the retention limit";
  RecordProperty("highest_used_ratio", std::to_string(highest));
  // Consumed and committed: the producers are released.
  for (auto deadline = Clock::now() + 10s;
       guard.Last().held.contains("t") && Clock::now() < deadline;) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_FALSE(guard.Last().held.contains("t"));
}

}  // namespace
}  // namespace gale::bus::test

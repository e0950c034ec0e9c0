// The bus suite against the embedded broker, plus tests that need no broker at all: message
// validation and an unreachable broker.
#include <chrono>

#include "test/bus/bus_suite.h"

namespace gale::bus::test {

using namespace std::chrono_literals;

INSTANTIATE_TEST_SUITE_P(Embedded, BusTest, ::testing::Values(Target::kEmbedded), TargetName);

TEST(EmbeddedBrokerTest, ListensOnLoopbackAndCreatesTopics) {
  auto broker = EmbeddedBroker::Start(3);
  ASSERT_TRUE(broker.ok()) << broker.message();
  const std::string& bootstrap = (*broker)->bootstrap();
  EXPECT_EQ(bootstrap.rfind("127.0.0.1:", 0), 0u) << bootstrap;
  EXPECT_EQ(std::count(bootstrap.begin(), bootstrap.end(), ','), 2) << bootstrap;
  ASSERT_TRUE((*broker)->CreateTopic("t", 5).ok());
  ASSERT_TRUE((*broker)->CreateTopic("t", 5).ok());  // exists: fine
  EXPECT_FALSE((*broker)->CreateTopic("u", 0).ok());
  BusConfig config;
  config.brokers = bootstrap;
  auto topics = ListTopics(config, 10s);
  ASSERT_TRUE(topics.ok()) << topics.message();
  ASSERT_EQ(topics->size(), 1u);
  EXPECT_EQ((*topics)[0].name, "t");
  EXPECT_EQ((*topics)[0].partitions.size(), 5u);
}

TEST(BusConfigTest, TopicsAndGroupsCarryThePrefix) {
  BusConfig config;
  EXPECT_EQ(Topic(config, kTriggers), "gale.triggers");
  EXPECT_EQ(Topic(config, kSensorOwners), "gale.sensor-owners");
  EXPECT_EQ(Group(config, kRulesGroup), "gale.rules");
  auto groups = GaleGroups(config);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[1].group, "gale.runners");
  EXPECT_EQ(groups[1].topics, std::vector<std::string>{"gale.executions"});
  config.topic_prefix = "x-";
  EXPECT_EQ(Topic(config, kExecutionEvents), "x-execution-events");
}

TEST(BusConfigTest, BadPropertiesAndMissingBrokersAreRefused) {
  BusConfig config;
  auto none = Producer::Create(config);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.message().find("no brokers"), std::string::npos) << none.message();
  config.brokers = "127.0.0.1:1";
  config.properties["no.such.property"] = "1";
  auto bad = Producer::Create(config);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("no.such.property"), std::string::npos) << bad.message();
  EXPECT_FALSE(bad.status().retryable());
  // Role-prefixed properties apply to that role only.
  config.properties = {{"consumer.fetch.wait.max.ms", "7"}, {"producer.linger.ms", "3"}};
  EXPECT_TRUE(Producer::Create(config).ok());
  Consumer::Options o;
  o.group_id = "g";
  o.topics = {"t"};
  EXPECT_TRUE(Consumer::Create(config, o).ok());
}

// ---- an unreachable broker: clear, retryable errors within the given time ------------------

class UnreachableBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.brokers = "127.0.0.1:1";
    config_.topic_prefix = "gale-test-" + RandomSuffix() + ".";
  }
  BusConfig config_;
};

TEST_F(UnreachableBrokerTest, ProducerReportsTheBrokerWithinTheTimeout) {
  auto producer = Producer::Create(config_);
  ASSERT_TRUE(producer.ok()) << producer.message();  // connecting is lazy
  auto sent = (*producer)->ProduceSync("gale-test.t", "k", "v", 2s);
  ASSERT_FALSE(sent.ok());
  EXPECT_TRUE(sent.status().retryable());
  EXPECT_NE(sent.message().find("127.0.0.1:1"), std::string::npos) << sent.message();
  EXPECT_NE(sent.message().find("not acknowledged within 2000 ms"), std::string::npos)
      << sent.message();
  ASSERT_TRUE((*producer)->Produce("gale-test.t", "k", "v").ok());
  Status flushed = (*producer)->Flush(1s);
  ASSERT_FALSE(flushed.ok());
  EXPECT_TRUE(flushed.retryable());
  EXPECT_NE(flushed.message().find("not delivered within 1000 ms"), std::string::npos)
      << flushed.message();
}

TEST_F(UnreachableBrokerTest, InspectionAndTopicSetupFailWithinTheTimeout) {
  auto topics = ListTopics(config_, 1s);
  ASSERT_FALSE(topics.ok());
  EXPECT_TRUE(topics.status().retryable());
  EXPECT_NE(topics.message().find("127.0.0.1:1"), std::string::npos) << topics.message();
  Status ensured = EnsureTopics(config_, nullptr, 4, 2s);
  ASSERT_FALSE(ensured.ok());
  EXPECT_TRUE(ensured.retryable()) << ensured.message();
  EXPECT_NE(ensured.message().find("127.0.0.1:1"), std::string::npos) << ensured.message();
  auto group = DescribeGroup(config_, "g", {"t"}, 1s);
  ASSERT_FALSE(group.ok());
  EXPECT_NE(group.message().find("127.0.0.1:1"), std::string::npos) << group.message();
  auto tail = Tailer::Create(config_, "t", true, 1s);
  ASSERT_FALSE(tail.ok());
}

TEST_F(UnreachableBrokerTest, ConsumerPollReportsAllBrokersDown) {
  Consumer::Options o;
  o.group_id = "g";
  o.topics = {"t"};
  auto consumer = Consumer::Create(config_, o);
  ASSERT_TRUE(consumer.ok()) << consumer.message();
  std::optional<Status> error;
  const auto deadline = Clock::now() + 30s;
  while (!error && Clock::now() < deadline) {
    auto m = (*consumer)->Poll(100ms);
    if (!m.ok()) error = m.status();
  }
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(error->retryable());
  EXPECT_NE(error->message().find("127.0.0.1:1"), std::string::npos) << error->message();
}

// ---- message schemas -------------------------------------------------------------------------

TEST(ValidateMessageTest, AcceptsGoodMessages) {
  Status s = ValidateMessage(kTriggerInstanceSchema, R"({
    "id": "6f1c2a9e-3b7d-4c1e-9a51-0d2f8e4b7c10", "trigger": "core.st2.webhook",
    "payload": {"body": {"x": 1}}, "occurred_at": 1700000000123, "dedupe_key": "file:/a",
    "sensor": "examples.FileWatchSensor", "node": "node-1", "trace_id": "t-1"})");
  EXPECT_TRUE(s.ok()) << s.message();
  s = ValidateMessage(kExecutionRequestSchema, R"({
    "id": "e-1", "action": "core.local", "parameters": {"cmd": "date"}, "rule": "examples.r",
    "trigger_instance": "ti-1", "trace_id": "t-1", "requested_at": 1700000000123})");
  EXPECT_TRUE(s.ok()) << s.message();
  s = ValidateMessage(kExecutionRequestSchema, R"({"id": "e-2", "action": "core.noop",
    "parameters": {}, "trace_id": "t-2", "requested_at": 0})");
  EXPECT_TRUE(s.ok()) << s.message();
  for (const char* status :
       {"requested", "scheduled", "delayed", "running", "succeeded", "failed", "timeout",
        "abandoned", "canceling", "canceled", "pausing", "paused", "resuming"}) {
    Json event = {{"id", "e-1"}, {"status", status}, {"at", 1700000000123LL}, {"node", "n"}};
    if (std::string_view(status) == "succeeded") event["result"] = {{"stdout", "x"}};
    s = ValidateDocument(kExecutionEventSchema, event);
    EXPECT_TRUE(s.ok()) << status << ": " << s.message();
  }
}

TEST(ValidateMessageTest, RejectsBadMessagesWithThePath) {
  Status s = ValidateMessage(kTriggerInstanceSchema, R"({
    "id": "x", "trigger": "core.st2.webhook", "payload": [], "occurred_at": "2024-01-01",
    "sensor": "s", "trace_id": "t"})");
  ASSERT_FALSE(s.ok());
  EXPECT_FALSE(s.retryable());
  EXPECT_NE(s.message().find("/payload"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("/occurred_at"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("node"), std::string::npos) << s.message();  // missing
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();

  s = ValidateMessage(kExecutionEventSchema,
                      R"({"id": "e", "status": "done", "at": 1.5, "node": "n"})");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/status"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("/at"), std::string::npos) << s.message();

  s = ValidateMessage(kExecutionRequestSchema, R"({"id": "e", "action": "nopack",
    "parameters": {}, "trace_id": "t", "requested_at": -1})");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/action"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("/requested_at"), std::string::npos) << s.message();

  s = ValidateMessage(kExecutionRequestSchema, "{not json");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not JSON"), std::string::npos) << s.message();
  s = ValidateMessage("no_such_schema", "{}");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no_such_schema"), std::string::npos) << s.message();
}

}  // namespace gale::bus::test

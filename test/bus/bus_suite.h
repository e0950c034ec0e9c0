// The bus test suite, run against the embedded broker (bus_test) and against a real Kafka
// broker named by GALE_KAFKA_BROKERS (bus_kafka_test). Every test uses its own topic prefix and
// groups, so runs never see each other's messages.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "host/bus/bus.h"

namespace gale::bus::test {

enum class Target { kEmbedded, kKafka };

std::string TargetName(const ::testing::TestParamInfo<Target>& info);
std::string RandomSuffix();

class BusTest : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // EnsureTopics with 3 partitions per topic and `slots` sensor-owner partitions.
  void EnsureTopicsOrFail(int slots = 4);
  std::string T(std::string_view suffix) const { return Topic(config_, suffix); }
  // A fresh group id (deleted afterwards on a real cluster).
  std::string NewGroup(std::string_view name);
  Consumer::Options GroupOptions(const std::string& group, std::vector<std::string> topics);
  std::unique_ptr<Producer> NewProducer();
  std::unique_ptr<Consumer> NewConsumer(Consumer::Options options);

  BusConfig config_;
  std::unique_ptr<EmbeddedBroker> broker_;
  std::vector<std::string> groups_;
};

using Clock = std::chrono::steady_clock;

// Polls until `count` messages arrived or `timeout` passed; fails the test on a poll error.
std::vector<Message> ConsumeN(Consumer& c, size_t count,
                              std::chrono::milliseconds timeout = std::chrono::seconds(60));
// Polls for `duration` and returns whatever arrived (used to show that nothing more comes).
std::vector<Message> ConsumeFor(Consumer& c, std::chrono::milliseconds duration);
// Partitions in `a` as a set of (topic, partition).
std::set<std::pair<std::string, int32_t>> PartitionSet(const std::vector<TopicPartition>& a);

}  // namespace gale::bus::test

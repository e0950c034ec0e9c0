// A bus for one test: the embedded broker, or the real Kafka broker named by GALE_KAFKA_BROKERS
// (the test is skipped with "SKIPPED: ..." when it is not set), with a topic prefix of its own so
// that tests never see each other's messages.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "host/bus/bus.h"

namespace gale::testing {

enum class BusTarget { kEmbedded, kKafka };
std::string BusTargetName(const ::testing::TestParamInfo<BusTarget>& info);

struct TestBus {
  bus::BusConfig config;
  std::unique_ptr<bus::EmbeddedBroker> broker;  // set for kEmbedded
};

// What every test bus (and the child processes of crash tests) uses: 3 partitions, and a 6 s
// session timeout so that a member a test kills leaves the group quickly.
void ApplyTestBusSettings(bus::BusConfig* config);

// Fills `out` (prefix "<stem>-<random hex>.", 3 partitions, 6 s session timeout so that a member
// a test kills leaves the group quickly) and creates the topics. Skips or fails the current test
// on error: callers return when ::testing::Test::IsSkipped() or HasFatalFailure().
void StartTestBus(BusTarget target, const std::string& stem, TestBus* out);

std::string RandomHex(int digits);
// A fresh directory under the system temp dir, "<stem>-XXXXXX".
std::string MakeTempDir(const std::string& stem);

}  // namespace gale::testing

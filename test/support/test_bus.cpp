#include "test_bus.h"

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <random>

namespace gale::testing {

std::string BusTargetName(const ::testing::TestParamInfo<BusTarget>& info) {
  return info.param == BusTarget::kEmbedded ? "Embedded" : "Kafka";
}

std::string RandomHex(int digits) {
  std::random_device rd;
  std::mt19937_64 gen(rd());
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < digits; ++i) out += kHex[gen() % 16];
  return out;
}

std::string MakeTempDir(const std::string& stem) {
  std::string templ = (std::filesystem::temp_directory_path() / (stem + "-XXXXXX")).string();
  if (mkdtemp(templ.data()) == nullptr) return "";
  return templ;
}

void ApplyTestBusSettings(bus::BusConfig* config) {
  config->partitions = 3;
  config->properties["consumer.session.timeout.ms"] = "6000";
  config->properties["consumer.heartbeat.interval.ms"] = "1000";
}

void StartTestBus(BusTarget target, const std::string& stem, TestBus* out) {
  if (target == BusTarget::kKafka) {
    const char* brokers = std::getenv("GALE_KAFKA_BROKERS");
    if (brokers == nullptr || *brokers == '\0') {
      GTEST_SKIP() << "SKIPPED: GALE_KAFKA_BROKERS is not set (run scripts/services up)";
    }
    out->config.brokers = brokers;
  } else {
    auto broker = bus::EmbeddedBroker::Start();
    ASSERT_TRUE(broker.ok()) << broker.message();
    out->broker = std::move(broker).value();
    out->config.brokers = out->broker->bootstrap();
    out->config.embedded = true;
  }
  out->config.topic_prefix = stem + "-" + RandomHex(12) + ".";
  ApplyTestBusSettings(&out->config);
  Status topics = bus::EnsureTopics(out->config, out->broker.get(), 1);
  ASSERT_TRUE(topics.ok()) << topics.message();
}

}  // namespace gale::testing

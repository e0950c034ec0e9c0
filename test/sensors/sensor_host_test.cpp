// Sensor hosts end to end: a real `gale up`, a sensor seeing the world, trigger instances read
// back from the bus (embedded broker, and the real one when GALE_KAFKA_BROKERS is set).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "test/support/node_harness.h"

namespace gale::testing {
namespace {

namespace fs = std::filesystem;

class SensorHostTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kRealKafka && RealBrokers().empty()) {
      GTEST_SKIP() << "SKIPPED: GALE_KAFKA_BROKERS is not set (run scripts/services up)";
    }
  }
  NodeOptions Options(std::vector<std::string> paths) {
    NodeOptions o;
    o.backend = GetParam();
    o.packs_paths = std::move(paths);
    return o;
  }
};

TEST_P(SensorHostTest, DirectorySensorSeesACreatedFileExactlyOnce) {
  TempDir packs, watch;
  ShareWithActions(watch.path());  // the sensor host runs as the action user
  CopyExamplesPack(packs.path() / "examples");
  std::ofstream(packs.path() / "examples/config.yaml")
      << "directories: [" << watch.str() << "]\nlog: " << watch.str() << "/../ctx.log\n";
  auto node = NodeProcess::Start(Options({packs.str()}));
  ASSERT_TRUE(WaitFor([&] { return Count(node->Log(), "running 1 sensor(s)") == 1; },
                      std::chrono::seconds(30)))
      << node->Log();

  const std::string file = (watch.path() / "hello.txt").string();
  std::ofstream(file) << "hello";
  const std::string topic = node->topic_prefix() + "triggers";
  auto about_file = [&](const bus::Message& m) {
    return Json::parse(m.value)["payload"]["path"] == file;
  };
  auto seen = [](const std::string& path) {
    return [path](const std::vector<bus::Message>& ms) {
      return std::any_of(ms.begin(), ms.end(), [&](const bus::Message& m) {
        return Json::parse(m.value)["payload"]["path"] == path;
      });
    };
  };
  auto messages = ReadTopic(node->brokers(), topic, seen(file), std::chrono::seconds(30));
  ASSERT_TRUE(seen(file)(messages)) << node->Log();
  // No sleeping to prove that nothing came twice: two more files, each created once the trigger
  // of the one before is on the topic. The poll that finds the second began after the poll that
  // found the first had ended, and that one listed hello.txt again: a sensor that reports a file
  // twice has had its chance. The topic is then read up to the second file's trigger.
  for (const char* later : {"later-1.txt", "later-2.txt"}) {
    const std::string last = (watch.path() / later).string();
    std::ofstream(last) << "later";
    messages = ReadTopic(node->brokers(), topic, seen(last), std::chrono::seconds(30));
    ASSERT_TRUE(seen(last)(messages)) << node->Log();
  }
  std::vector<Json> matching;
  for (const auto& m : messages) {
    EXPECT_TRUE(bus::ValidateMessage(bus::kTriggerInstanceSchema, std::string_view(m.value)).ok())
        << m.value;
    if (about_file(m)) matching.push_back(Json::parse(m.value));
  }
  ASSERT_EQ(matching.size(), 1u) << node->Log();
  const Json& ti = matching[0];
  EXPECT_EQ(ti["trigger"], "examples.changed_file");
  EXPECT_EQ(ti["payload"]["status"], "created");
  EXPECT_EQ(ti["sensor"], "examples.DirectorySensor");
  EXPECT_EQ(ti["node"], "test-node");
  EXPECT_TRUE(std::regex_match(ti["payload"]["time"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)")));
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

TEST_P(SensorHostTest, InvalidPayloadsAreRejectedAndCounted) {
  auto node = NodeProcess::Start(Options({std::string(GALE_TEST_PACKS) + "/badpayload"}));
  auto messages = ReadTopic(
      node->brokers(), node->topic_prefix() + "triggers",
      [](const auto& ms) { return ms.size() >= 5; }, std::chrono::seconds(30));
  ASSERT_GE(messages.size(), 5u) << node->Log();
  for (const auto& m : messages) {
    Json payload = Json::parse(m.value)["payload"];
    EXPECT_EQ(payload["status"], "ok") << m.value;  // the invalid ones never reach the bus
    EXPECT_TRUE(payload["n"].is_number_integer()) << m.value;
  }
  ASSERT_TRUE(WaitFor([&] { return node->Log().find("10 rejected so far") != std::string::npos; },
                      std::chrono::seconds(20)))
      << node->Log();
  const std::string log = node->Log();
  EXPECT_NE(log.find("rejected a badpayload.event trigger: payload violates its payload_schema: "
                     "/status: "),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("/n: expected type integer, got string"), std::string::npos) << log;
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

TEST_P(SensorHostTest, BurstOf100000TriggersLosesNone) {
  auto node = NodeProcess::Start(Options({std::string(GALE_TEST_PACKS) + "/burst"}));
  std::set<long long> seen;
  size_t duplicates = 0;
  auto messages = ReadTopic(
      node->brokers(), node->topic_prefix() + "triggers",
      [](const auto& ms) { return ms.size() >= 100000; }, std::chrono::minutes(4));
  for (const auto& m : messages) {
    if (!seen.insert(Json::parse(m.value)["payload"]["n"].get<long long>()).second) ++duplicates;
  }
  EXPECT_EQ(seen.size(), 100000u) << node->Log();
  EXPECT_EQ(duplicates, 0u);
  if (!seen.empty()) {
    EXPECT_EQ(*seen.begin(), 1);
    EXPECT_EQ(*seen.rbegin(), 100000);
  }
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

// Sensor hosts on a broker that requires SASL (`scripts/services up --kafka-sasl`): they get the
// node's bus.security, the password through their environment, never on a command line.
TEST(SensorHostSaslTest, SensorHostsAuthenticateWithoutThePasswordOnTheirCommandLine) {
  const char* brokers = std::getenv("GALE_KAFKA_SASL_BROKERS");
  const char* password_file = std::getenv("GALE_KAFKA_SASL_PASSWORD_FILE");
  if (brokers == nullptr || password_file == nullptr || !*brokers || !*password_file) {
    GTEST_SKIP() << "SKIPPED: GALE_KAFKA_SASL_BROKERS or GALE_KAFKA_SASL_PASSWORD_FILE is not "
                    "set (run scripts/services up --kafka-sasl)";
  }
  std::string password;
  std::getline(std::ifstream(password_file), password);
  ASSERT_FALSE(password.empty());
  NodeOptions o;
  o.backend = Backend::kRealKafka;
  o.brokers = brokers;
  o.bus_security =
      std::string("{protocol: sasl_plaintext, sasl_mechanism: PLAIN, username: gale, ") +
      "password_file: " + password_file + "}";
  o.packs_paths = {std::string(GALE_TEST_PACKS) + "/badpayload"};
  auto node = NodeProcess::Start(o);
  const std::map<std::string, std::string> sasl = {{"security.protocol", "sasl_plaintext"},
                                                   {"sasl.mechanism", "PLAIN"},
                                                   {"sasl.username", "gale"},
                                                   {"sasl.password", password}};
  auto messages = ReadTopic(
      node->brokers(), node->topic_prefix() + "triggers",
      [](const auto& ms) { return !ms.empty(); }, std::chrono::seconds(30), sasl);
  ASSERT_FALSE(messages.empty()) << node->Log();
  // Nor in any process's environment once read: the host blanks its copy.
  for (const auto& entry : fs::directory_iterator("/proc")) {
    for (const char* file : {"cmdline", "environ"}) {
      std::ifstream in(entry.path() / file);
      std::stringstream text;
      text << in.rdbuf();
      EXPECT_EQ(text.str().find(password), std::string::npos) << entry.path() / file;
    }
  }
  EXPECT_EQ(node->Log().find(password), std::string::npos);
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

INSTANTIATE_TEST_SUITE_P(Backends, SensorHostTest,
                         ::testing::Values(Backend::kEmbedded, Backend::kRealKafka),
                         [](const auto& info) { return BackendName(info.param); });

}  // namespace
}  // namespace gale::testing

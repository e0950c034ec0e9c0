// The retention guard in a real `gale up` on the embedded bus: /metrics shows how close a
// partition is to dropping unconsumed messages, and POST /v1/executions and webhooks are sent
// back (503, Retry-After, nothing recorded) while their topic's producers are held. The node runs
// only the API, so nothing consumes the topics the test fills.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <fstream>
#include <regex>

#include "test/support/node_harness.h"
#include "test/support/pack_dir.h"

namespace gale::testing {
namespace {

using namespace std::chrono_literals;

// One HTTP/1.1 request on a new connection; the whole response ("" when none).
std::string Exchange(const std::string& url, const std::string& method, const std::string& target,
                     const std::string& token, const std::string& body = "") {
  std::smatch m;
  if (!std::regex_match(url, m, std::regex(R"(http://([0-9.]+):([0-9]+).*)"))) return "";
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(m[2])));
  inet_pton(AF_INET, m[1].str().c_str(), &addr.sin_addr);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request =
        method + " " + target + " HTTP/1.1\r\nHost: " + m[1].str() + ":" + m[2].str() +
        "\r\nSt2-Api-Key: " + token +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n\r\n" + body;
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buf[65536];
      for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) response.append(buf, n);
    }
  }
  close(fd);
  return response;
}

// The value of `sample` (a metric name with its labels) in a /metrics body, or -1.
double SampleOf(const std::string& metrics, const std::string& sample) {
  auto at = metrics.find("\n" + sample + " ");
  return at == std::string::npos ? -1 : std::stod(metrics.substr(at + sample.size() + 2));
}

TEST(BusRetentionNodeTest, MetricsShowTheRiseAndTheApiIsSentBack) {
  TempDir packs;
  std::filesystem::copy(std::filesystem::path(GALE_BINARY_DIR) / "packs/core",
                        packs.path() / "core", std::filesystem::copy_options::recursive);
  std::filesystem::create_directories(packs.path() / "bp/actions");
  std::filesystem::create_directories(packs.path() / "bp/rules");
  std::ofstream(packs.path() / "bp/pack.yaml")
      << "---\nref: bp\nname: bp\ndescription: retention test\nversion: 0.1.0\nauthor: tests\n";
  std::ofstream(packs.path() / "bp/actions/noop.yaml")
      << "---\nname: noop\npack: bp\nrunner_type: noop\ndescription: nothing\nenabled: true\n"
         "parameters: {}\n";
  std::ofstream(packs.path() / "bp/rules/hook.yaml")
      << "---\nname: hook\npack: bp\ntrigger:\n  type: core.st2.webhook\n"
         "  parameters: {url: bp}\naction:\n  ref: bp.noop\n";
  NodeOptions options;
  options.packs_paths = {packs.str()};
  options.roles = "[api]";
  auto node = NodeProcess::Start(options);
  ASSERT_NE(node, nullptr);
  const std::vector<std::pair<std::string, std::string>> doors = {
      {node->topic_prefix() + "executions", "/v1/executions"},
      {node->topic_prefix() + "triggers", "/v1/webhooks/bp"}};

  bus::BusConfig config;
  config.brokers = node->brokers();
  config.properties["producer.batch.size"] = "65536";
  auto producer = bus::Producer::Create(config);
  ASSERT_TRUE(producer.ok()) << producer.message();
  const std::string value(2000, 'x');
  for (const auto& [topic, route] : doors) {
    for (int i = 0; i < 3000; ++i) {  // ~6 MB into one partition (one key)
      ASSERT_TRUE((*producer)->Produce(topic, "k", value).ok());
    }
  }

  for (const auto& [topic, route] : doors) {
    const std::string held = "gale_bus_embedded_producers_held{topic=\"" + topic + "\"}";
    std::string metrics;
    ASSERT_TRUE(WaitFor(
        [&] {
          metrics = Exchange(node->api_url(), "GET", "/metrics", node->api_token());
          return SampleOf(metrics, held) == 1;
        },
        30s))
        << metrics;
    // The partition the key went to is near the threshold, short of the limit.
    const std::regex ratio_re(
        "gale_bus_embedded_retention_used_ratio\\{partition=\"[0-9]+\",topic=\"" + topic +
        "\"\\} ([0-9.e-]+)");
    double highest = 0;
    for (std::sregex_iterator it(metrics.begin(), metrics.end(), ratio_re), end; it != end; ++it) {
      highest = std::max(highest, std::stod((*it)[1]));
    }
    EXPECT_GE(highest, 0.8) << metrics;
    EXPECT_LT(highest, 1.0) << metrics;

    const std::string reply = Exchange(node->api_url(), "POST", route, node->api_token(),
                                       R"({"action": "bp.noop", "service": "x"})");
    EXPECT_EQ(reply.rfind("HTTP/1.1 503", 0), 0u) << route << ": " << reply;
    EXPECT_NE(reply.find("Retry-After: 5"), std::string::npos) << reply;
  }
  // Sent back before anything was recorded: the client's retry is the only copy.
  auto store = node->OpenStore();
  ASSERT_TRUE(store);
  auto executions = store->ListExecutions({});
  ASSERT_TRUE(executions.ok()) << executions.message();
  EXPECT_TRUE(executions->items.empty());
  auto instances = store->ListTriggerInstances({});
  ASSERT_TRUE(instances.ok()) << instances.message();
  EXPECT_TRUE(instances->items.empty());
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

}  // namespace
}  // namespace gale::testing

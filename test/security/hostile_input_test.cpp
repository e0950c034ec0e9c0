// Hostile input never takes a node down (issue 17, docs/security.md "Threat model"): documents
// nested 200,000 deep through the API, a webhook and the bus (where they become dead letters);
// a YAML alias bomb in a pack.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "host/bus/bus.h"
#include "host/bus/messages.h"
#include "host/common/key_file.h"
#include "test/support/api_fixture.h"

namespace gale::testing {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kDeep = std::string(200'000, '[') + std::string(200'000, ']');

class HostileInputTest : public ApiNodeTest {
 protected:
  static std::string Post(const std::string& target, const std::string& body) {
    const std::string url = node().api_url();
    return RawExchange(url, "POST " + target + " HTTP/1.1\r\nHost: " + HostOf(url) +
                                "\r\nSt2-Api-Key: " + node().api_token() +
                                "\r\nContent-Type: application/json\r\nConnection: close\r\n"
                                "Content-Length: " +
                                std::to_string(body.size()) + "\r\n\r\n" + body);
  }
  static void ExpectServing() {
    ASSERT_TRUE(node().Alive()) << node().Log();
    auto health = Api().Call("GET", "/healthz");
    ASSERT_TRUE(health.ok() && health->status == 200);
  }
};

TEST_F(HostileInputTest, DeepJsonThroughTheApiAndAWebhookIsA400) {
  for (const std::string target : {"/v1/executions", "/v1/webhooks/deploy", "/v1/webhooks/st2"}) {
    const std::string response = Post(target, kDeep);
    EXPECT_EQ(StatusOf(response), 400) << target << ": " << response.substr(0, 300);
    EXPECT_NE(response.find("nested deeper than 128 levels (limits.max_depth)"), std::string::npos)
        << target << ": " << response.substr(0, 300);
    ExpectServing();
  }
}

TEST_F(HostileInputTest, DeepJsonOnTheBusIsDroppedAndTheNodeGoesOn) {
  // Signed with the deployment's key, so only its shape stops it.
  auto key = LoadOrCreateKeyFile(SharedBusKeyFile(), "the bus key", "bus.signing_key_file");
  ASSERT_TRUE(key.ok()) << key.message();
  bus::BusConfig config;
  config.brokers = node().brokers();
  config.topic_prefix = node().topic_prefix();
  config.signing_key.assign(reinterpret_cast<const char*>(key->data()), key->size());
  auto producer = bus::Producer::Create(config);
  ASSERT_TRUE(producer.ok()) << producer.message();
  for (std::string_view topic : {bus::kTriggers, bus::kExecutions}) {
    auto sent = (*producer)->ProduceSync(bus::Topic(config, topic), "deep", kDeep, 30s);
    ASSERT_TRUE(sent.ok()) << sent.message();
  }
  // Each goes to the dead letters, saying why and where it came from.
  std::map<std::string, bus::DeadLetterMessage> letters;
  ReadTopic(
      node().brokers(), bus::Topic(config, bus::kDeadLetters),
      [&](const std::vector<bus::Message>& read) {
        for (const auto& m : read) {
          auto letter = bus::DecodeDeadLetter(m.value);
          EXPECT_TRUE(letter.ok()) << letter.message();
          if (letter.ok()) letters[letter->topic] = *letter;
        }
        return letters.size() == 2;
      },
      60s);
  ASSERT_EQ(letters.size(), 2u) << node().Log();
  const auto& trigger = letters[bus::Topic(config, bus::kTriggers)];
  EXPECT_EQ(trigger.reason,
            "not a trigger instance: nested deeper than 128 levels (limits.max_depth)");
  EXPECT_EQ(trigger.value, kDeep);
  EXPECT_EQ(trigger.key, "deep");
  EXPECT_GE(trigger.offset, 0);
  const auto& request = letters[bus::Topic(config, bus::kExecutions)];
  EXPECT_EQ(request.reason,
            "not an execution request: nested deeper than 128 levels (limits.max_depth)");
  auto metrics = Api().Call("GET", "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->body.find("gale_bus_dead_letters_total{topic=\"" +
                               bus::Topic(config, bus::kTriggers) + "\"} 1"),
            std::string::npos)
      << metrics->body;
  ExpectServing();
  // Both roles went past it: a webhook still becomes an execution that runs.
  Json body = {{"service", "after-deep"}};
  auto fired = Api().Call("POST", "/v1/webhooks/deploy", &body);
  ASSERT_TRUE(fired.ok() && fired->status == 202);
  auto api = Api();
  EXPECT_TRUE(WaitFor(
      [&] {
        auto list = api.Call("GET", "/v1/executions?rule=hooks.on_deploy&status=succeeded");
        if (!list.ok()) return false;
        for (const auto& e : list->json()) {
          if (e["result"].dump().find("after-deep") != std::string::npos) return true;
        }
        return false;
      },
      60s))
      << node().Log();
}

// The 554-byte kind of action YAML that made `gale pack validate` grow past 20 GiB: refused with
// its file and line, in a process that never reaches 2 GiB.
TEST(HostileInputPackTest, AnAliasBombPackIsRefusedUnder2GiB) {
  TempDir dir;
  const fs::path pack = dir.path() / "bomb";
  fs::create_directories(pack / "actions");
  std::ofstream(pack / "pack.yaml") << "---\nref: bomb\nname: bomb\ndescription: aliases\n"
                                       "version: 0.1.0\nauthor: tests\n";
  std::string yaml =
      "---\nname: go\nrunner_type: local-shell-cmd\nparameters:\n"
      "  a0: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n";
  for (int i = 1; i < 10; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    yaml += "  a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + prev;
    for (int j = 0; j < 8; ++j) yaml += "," + prev;
    yaml += "]\n";
  }
  std::ofstream(pack / "actions/go.yaml") << yaml;
  const fs::path out = dir.path() / "out.txt";
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    const std::string gale = std::string(GALE_BINARY_DIR) + "/bin/gale";
    execl(gale.c_str(), gale.c_str(), "pack", "validate", "--strict", pack.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  int status = 0;
  rusage usage{};
  ASSERT_EQ(wait4(pid, &status, 0, &usage), pid);
  std::ifstream in(out);
  const std::string said((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(WIFEXITED(status)) << said;
  EXPECT_EQ(WEXITSTATUS(status), 1) << said;
  EXPECT_NE(said.find("actions/go.yaml:"), std::string::npos) << said;
  EXPECT_NE(said.find("are aliases nested?"), std::string::npos) << said;
  EXPECT_LT(usage.ru_maxrss, 2L << 20) << "peak RSS in KiB";
}

}  // namespace
}  // namespace gale::testing

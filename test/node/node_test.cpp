// `gale up` as a whole: one node per GALE_HOME, and a node that cannot start stops what it had
// started (sensor hosts, the files it publishes) as a node told to stop does.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "test/support/node_harness.h"
#include "test/support/pack_dir.h"

namespace gale::testing {
namespace {

namespace fs = std::filesystem;

// A pack directory whose sensor host starts on any node (the examples pack, watching a
// directory of its own).
struct SensorPack {
  TempDir packs, watch;
  SensorPack() {
    ShareWithActions(watch.path());  // the sensor host runs as the action user
    const fs::path pack = packs.path() / "examples";
    CopyExamplesPack(pack);
    std::ofstream(pack / "config.yaml") << "directories: [" << watch.str() << "]\n";
  }
};

// A loopback port that something already listens on.
struct BusyPort {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int port = 0;
  BusyPort() {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(listen(fd, 1), 0);
    EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port = ntohs(addr.sin_port);
  }
  ~BusyPort() { close(fd); }
};

TEST(NodeTest, ASecondNodeOnTheSameHomeIsRefusedAndLeavesTheFirstsFilesAlone) {
  TempDir packs;
  NodeOptions options;
  options.packs_paths = {packs.str()};
  auto node = NodeProcess::Start(options);
  ASSERT_FALSE(node->api_url().empty());
  auto second =
      RunCommand("env -u GALE_MONGODB_URL -u GALE_KAFKA_BROKERS " + std::string(GALE_BINARY_DIR) +
                 "/bin/gale up --home " + node->home() + " 2>&1");
  EXPECT_EQ(second.exit_code, 1) << second.output;
  EXPECT_NE(second.output.find("another gale node is running with GALE_HOME " + node->home()),
            std::string::npos)
      << second.output;
  EXPECT_TRUE(node->Alive());
  EXPECT_TRUE(fs::exists(fs::path(node->home()) / "api.token"));
  EXPECT_TRUE(fs::exists(fs::path(node->home()) / "bus.addr"));
  EXPECT_FALSE(node->api_url().empty());
}

TEST(NodeTest, AStoppedNodeEndsItsSensorHostsAndRemovesWhatItPublished) {
  SensorPack pack;
  NodeOptions options;
  options.packs_paths = {pack.packs.str()};
  auto node = NodeProcess::Start(options);
  ASSERT_TRUE(WaitFor([&] { return node->Log().find("running 1 sensor(s)") != std::string::npos; },
                      std::chrono::seconds(30)))
      << node->Log();
  EXPECT_TRUE(AnyProcessWith(node->topic_prefix()));
  EXPECT_EQ(node->Stop(), 0) << node->Log();
  EXPECT_FALSE(AnyProcessWith(node->topic_prefix()));
  for (const char* file : {"api.addr", "api.token", "bus.addr"}) {
    EXPECT_FALSE(fs::exists(fs::path(node->home()) / file)) << file;
  }
}

TEST(NodeTest, ANodeThatCannotStartItsApiStopsWhatItStartedAndSaysWhy) {
  SensorPack pack;
  BusyPort busy;
  NodeOptions options;
  options.packs_paths = {pack.packs.str()};
  options.api_listen = "127.0.0.1:" + std::to_string(busy.port);
  options.wait_ready = false;
  auto node = NodeProcess::Start(options);
  // The API starts last but the watcher: the store, the bus, the sensor hosts, the timers, the
  // rules engine and the runner are all up when it fails.
  ASSERT_TRUE(WaitFor([&] { return !node->Alive(); }, std::chrono::seconds(60))) << node->Log();
  EXPECT_EQ(node->Stop(), 1);
  const std::string log = node->Log();
  EXPECT_NE(log.find("cannot start the API: "), std::string::npos) << log;
  EXPECT_EQ(log.find(" up: bus "), std::string::npos) << log;
  EXPECT_FALSE(AnyProcessWith(node->topic_prefix()));
  for (const char* file : {"api.addr", "api.token", "bus.addr"}) {
    EXPECT_FALSE(fs::exists(fs::path(node->home()) / file)) << file;
  }
}

}  // namespace
}  // namespace gale::testing

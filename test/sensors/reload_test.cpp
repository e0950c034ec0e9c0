// Live reload: a rebuilt .so dropped into the packs dir takes over within seconds; a broken
// drop is refused and the running version keeps dispatching; a removed pack stops.
#include <gtest/gtest.h>

#include <fstream>

#include "node_harness.h"

namespace gale::testing {
namespace {

namespace fs = std::filesystem;

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

TEST(ReloadTest, NewLibraryTakesOverAndABrokenDropIsRefused) {
  TempDir packs, watch;
  const fs::path pack = packs.path() / "examples";
  CopyExamplesPack(pack);
  std::ofstream(pack / "config.yaml") << "directories: [" << watch.str() << "]\n";
  NodeOptions options;
  options.packs_paths = {packs.str()};
  auto node = NodeProcess::Start(options);
  const std::string topic = node->topic_prefix() + "triggers";
  auto hosts_ready = [&](size_t n) {
    return WaitFor([&] { return Count(node->Log(), "running 1 sensor(s)") >= n; },
                   std::chrono::seconds(30));
  };
  // The payload of the trigger about `name`, once it is on the bus.
  auto payload_of = [&](const std::string& name) {
    const std::string path = (watch.path() / name).string();
    std::ofstream(path) << name;
    Json found;
    ReadTopic(
        node->brokers(), topic,
        [&](const auto& ms) {
          for (const auto& m : ms) {
            Json j = Json::parse(m.value);
            if (j["payload"]["path"] == path) found = j["payload"];
          }
          return !found.is_null();
        },
        std::chrono::seconds(30));
    return found;
  };

  ASSERT_TRUE(hosts_ready(1)) << node->Log();
  Json first = payload_of("a.txt");
  ASSERT_FALSE(first.is_null()) << node->Log();
  EXPECT_FALSE(first.contains("build"));

  // Drop the rebuilt library the safe way: write beside, rename over.
  const fs::path v2 = fs::path(GALE_TEST_PACKS) / "examples-v2/examples/libexamples.so";
  fs::copy_file(v2, pack / "libexamples.so.new");
  fs::rename(pack / "libexamples.so.new", pack / "libexamples.so");
  ASSERT_TRUE(hosts_ready(2)) << node->Log();
  Json second = payload_of("b.txt");
  ASSERT_FALSE(second.is_null()) << node->Log();
  EXPECT_EQ(second["build"], "v2");

  // A garbage library written in place: refused, and v2 keeps running from its private copy.
  std::ofstream(pack / "libexamples.so", std::ios::trunc) << std::string(4096, 'x');
  ASSERT_TRUE(WaitFor([&] { return node->Log().find("refused") != std::string::npos; },
                      std::chrono::seconds(30)))
      << node->Log();
  EXPECT_NE(node->Log().find("libexamples.so: cannot load pack library: not an ELF shared object "
                             "(invalid ELF header); the running version (if any) keeps running"),
            std::string::npos)
      << node->Log();
  Json third = payload_of("c.txt");
  ASSERT_FALSE(third.is_null()) << node->Log();
  EXPECT_EQ(third["build"], "v2");
  EXPECT_EQ(Count(node->Log(), "running 1 sensor(s)"), 2u) << "a refused drop restarted the host";

  // Removing the pack stops its sensors.
  fs::remove_all(pack);
  EXPECT_TRUE(
      WaitFor([&] { return node->Log().find("pack removed, stopping") != std::string::npos; },
              std::chrono::seconds(30)))
      << node->Log();
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

}  // namespace
}  // namespace gale::testing

// Crash isolation: packs whose sensors segfault, abort, hang in setup() or allocate without
// bound crash and restart in their own hosts while a healthy pack keeps dispatching and the
// node stays up. Hosts die with their node.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "test/support/node_harness.h"

namespace gale::testing {
namespace {

// Pids of the node's sensor hosts: its children running `gale sensor-host` (their command line
// names the pack copy, which lives outside GALE_HOME when the node is root).
std::set<pid_t> SensorHostsOf(pid_t node) {
  std::set<pid_t> pids;
  DIR* proc = opendir("/proc");
  while (dirent* e = proc ? readdir(proc) : nullptr) {
    pid_t pid = static_cast<pid_t>(atoi(e->d_name));
    if (pid <= 0 || pid == getpid()) continue;
    std::ifstream in("/proc/" + std::string(e->d_name) + "/cmdline");
    std::stringstream ss;
    ss << in.rdbuf();
    std::ifstream stat("/proc/" + std::string(e->d_name) + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto paren = line.rfind(')');
    if (paren == std::string::npos || paren + 4 >= line.size()) continue;
    const pid_t ppid = static_cast<pid_t>(atoi(line.c_str() + paren + 4));
    if (ppid == node && ss.str().find("sensor-host") != std::string::npos) pids.insert(pid);
  }
  if (proc) closedir(proc);
  return pids;
}

// Whether none of `pids` is alive (zombies count as gone).
bool AllGone(const std::set<pid_t>& pids) {
  for (pid_t pid : pids) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const auto paren = line.rfind(')');
    if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] != 'Z') {
      return false;
    }
  }
  return true;
}

constexpr const char* kFastRestarts = R"(sensors:
  restart_backoff_initial: 0.2
  restart_backoff_max: 1
  failure_threshold: 3
  failure_window: 120
  stable_after: 60
  setup_timeout: 1
  host_memory_mb: 256
)";

TEST(SupervisorTest, CrashingPacksRestartWhileAHealthyPackKeepsItsSchedule) {
  NodeOptions options;
  options.packs_paths = {std::string(GALE_TEST_PACKS) + "/crash"};
  options.extra_yaml = kFastRestarts;
  auto node = NodeProcess::Start(options);
  auto store = node->OpenStore();
  ASSERT_NE(store, nullptr);

  // Every crashing pack restarts at least twice; segv and aborty get marked failed.
  auto restarts = [&](const std::string& ref) {
    auto s = store->GetSensorStatus(ref);
    return s.ok() && s->has_value() ? (*s)->restarts : 0;
  };
  const std::vector<std::string> crashers = {"segv.Crasher", "aborty.Crasher", "hog.Crasher",
                                             "spinner.Spinner"};
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& ref : crashers) {
          if (restarts(ref) < 2) return false;
        }
        return true;
      },
      std::chrono::seconds(90)))
      << node->Log();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = store->GetSensorStatus("segv.Crasher");
        return s.ok() && s->has_value() && (*s)->state == "failed";
      },
      std::chrono::seconds(30)));
  // `gale pack list` shows it to the user, reading the node's store.
  // stdout alone is the JSON (logs go to stderr, kept aside for the failure message).
  const std::string errors = node->home() + "/pack-list.err";
  // MONGOC_DISABLE_SHM: libmongoc warns on stdout when a dead process of the same pid left its
  // counters in /dev/shm.
  auto list = RunCommand("env -u GALE_MONGODB_URL MONGOC_DISABLE_SHM=1 " +
                         std::string(GALE_BINARY_DIR) + "/bin/gale pack list --json --home " +
                         node->home() + " --packs " + GALE_TEST_PACKS + "/crash 2>" + errors);
  ASSERT_EQ(list.exit_code, 0) << list.output << RunCommand("cat " + errors).output;
  std::map<std::string, std::string> states;
  const Json listed = Json::parse(list.output, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(listed.is_discarded()) << "stdout is not JSON:\n"
                                      << list.output << "\nstderr:\n"
                                      << RunCommand("cat " + errors).output;
  for (const auto& p : listed["packs"]) states[p["ref"]] = p["state"];
  EXPECT_EQ(states["segv"], "failed") << list.output;
  EXPECT_EQ(states["healthy"], "running") << list.output;
  auto segv = store->GetSensorStatus("segv.Crasher");
  // SIGSEGV in a Release build; under ASan/UBSan the sanitizer reports it and exits instead.
  const std::string& segv_error = (*segv)->last_error;
  EXPECT_TRUE(segv_error.rfind("killed by signal", 0) == 0 ||
              segv_error.rfind("exited with code 1", 0) == 0)
      << segv_error;
  auto spinner = store->GetSensorStatus("spinner.Spinner");
  EXPECT_EQ((*spinner)->last_error, "exited with code 3");
  EXPECT_NE(node->Log().find("spinner.Spinner: setup() did not return within 1s"),
            std::string::npos);

  // The healthy pack ran in one host the whole time, and its ticks kept coming.
  auto ticks = ReadTopic(
      node->brokers(), node->topic_prefix() + "triggers", [](const auto&) { return false; },
      std::chrono::seconds(3));
  std::vector<Json> healthy;
  for (const auto& m : ticks) {
    Json j = Json::parse(m.value);
    if (j["trigger"] == "healthy.tick") healthy.push_back(j);
  }
  ASSERT_GE(healthy.size(), 10u) << node->Log();
  // Keys spread the ticks over partitions; put them back in the order they were made.
  std::sort(healthy.begin(), healthy.end(), [](const Json& a, const Json& b) {
    return a["payload"]["count"] < b["payload"]["count"];
  });
  std::set<long long> pids;
  long long max_gap_ms = 0;
  for (size_t i = 0; i < healthy.size(); ++i) {
    pids.insert(healthy[i]["payload"]["pid"].get<long long>());
    EXPECT_EQ(healthy[i]["payload"]["count"], static_cast<long long>(i + 1));
    if (i > 0) {
      max_gap_ms = std::max(max_gap_ms, healthy[i]["occurred_at"].get<long long>() -
                                            healthy[i - 1]["occurred_at"].get<long long>());
    }
  }
  EXPECT_EQ(pids.size(), 1u) << "the healthy pack's host was restarted";
  // Its 0.2 s schedule held while the others crashed (a generous bound, not a benchmark).
  EXPECT_LT(max_gap_ms, 3000);
  auto healthy_status = store->GetSensorStatus("healthy.Ticker");
  ASSERT_TRUE(healthy_status.ok() && healthy_status->has_value());
  EXPECT_EQ((*healthy_status)->restarts, 0);
  EXPECT_EQ((*healthy_status)->state, "running");

  EXPECT_TRUE(node->Alive());
  const std::set<pid_t> hosts = SensorHostsOf(node->pid());
  EXPECT_FALSE(hosts.empty());
  EXPECT_EQ(node->Stop(), 0) << node->Log();
  EXPECT_TRUE(WaitFor([&] { return AllGone(hosts); }, std::chrono::seconds(10)))
      << "processes left behind after a clean stop";
}

TEST(SupervisorTest, SensorHostsDieWithAKilledNode) {
  NodeOptions options;
  options.packs_paths = {std::string(GALE_TEST_PACKS) + "/crash"};
  options.extra_yaml = kFastRestarts;
  auto node = NodeProcess::Start(options);
  std::set<pid_t> hosts;
  ASSERT_TRUE(WaitFor(
      [&] {
        hosts = SensorHostsOf(node->pid());
        return hosts.size() >= 3;
      },
      std::chrono::seconds(30)));
  kill(node->pid(), SIGKILL);
  node->Stop();
  EXPECT_TRUE(WaitFor([&] { return AllGone(hosts); }, std::chrono::seconds(10)))
      << "sensor hosts outlived their node";
}

}  // namespace
}  // namespace gale::testing

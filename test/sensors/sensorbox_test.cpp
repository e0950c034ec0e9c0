// Sensor hosts are sandboxed too (issue #15). The `hostile` fixture pack's sensor probes its
// host from inside (fixtures/hostile.cpp) and dispatches what it found; this test reads that
// report from the bus. Its host is restarted once the node's API is up, so that a listening
// socket of the node existed when the host was spawned. A `healthy` pack keeps dispatching
// beside it the whole time.
#include <dirent.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include "test/support/node_harness.h"

namespace gale::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kBoxedFastRestarts = R"(sensors:
  restart_backoff_initial: 0.2
  restart_backoff_max: 1
  failure_threshold: 100
)";

// Gale's action user when scripts/setup made it, else nobody.
std::string ActionUser() {
  return getpwnam("gale-action") != nullptr ? "gale-action" : "nobody";
}

std::string CommandLine(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/cmdline");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// SIGKILL to the hosts of `pack` (by their pid in this namespace); how many there were.
// Kills the node's sensor hosts of `pack` (its children whose command line names that pack's
// copy); returns how many.
int KillHosts(pid_t node, const std::string& pack) {
  int killed = 0;
  DIR* proc = opendir("/proc");
  while (dirent* e = proc ? readdir(proc) : nullptr) {
    const pid_t pid = static_cast<pid_t>(atoi(e->d_name));
    if (pid <= 0) continue;
    const std::string cmdline = CommandLine(e->d_name);
    std::ifstream stat(std::string("/proc/") + e->d_name + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto paren = line.rfind(')');
    if (paren == std::string::npos || paren + 4 >= line.size()) continue;
    if (atoi(line.c_str() + paren + 4) != node) continue;
    if (cmdline.find("sensor-host") != std::string::npos &&
        cmdline.find("/" + pack + "@") != std::string::npos) {
      killed += kill(pid, SIGKILL) == 0;
    }
  }
  if (proc) closedir(proc);
  return killed;
}

// The latest report with a run number above `after`, or null.
Json LatestReport(const std::vector<bus::Message>& messages, long long after) {
  Json found;
  for (const auto& m : messages) {
    Json ti = Json::parse(m.value, nullptr, false);
    if (!ti.is_object() || ti["trigger"] != "hostile.report") continue;
    if (ti["payload"]["run"].get<long long>() > after) found = ti["payload"];
  }
  return found;
}

class SensorboxTest : public ::testing::Test {
 protected:
  // A node running `hostile` and `healthy`; with `user`, hosts drop to it (the node is root).
  void StartNode(const std::string& user) {
    fs::copy(fs::path(GALE_TEST_PACKS) / "hostile/hostile", packs_.path() / "hostile",
             fs::copy_options::recursive);
    fs::copy(fs::path(GALE_TEST_PACKS) / "crash/healthy", packs_.path() / "healthy",
             fs::copy_options::recursive);
    std::ofstream(packs_.path() / "hostile/config.yaml") << "outsider_pid: " << getpid() << "\n";
    NodeOptions options;
    options.packs_paths = {packs_.str()};
    options.env = {"GALE_TEST_SECRET=x"};
    options.extra_yaml = kBoxedFastRestarts;
    if (!user.empty()) options.extra_yaml += "sandbox:\n  user: " + user + "\n";
    node_ = NodeProcess::Start(options);
    // Where the hostile sensor looks for the node's files (its restarted host reads it).
    store::KeyValue home;
    home.name = "hostile.Hostile:node_home";
    home.value = node_->home();
    auto store = node_->OpenStore();
    ASSERT_TRUE(store && store->SetKey(home, store::NowMs()).ok());
  }

  // The report of a host spawned after the node was up (the first host is killed).
  Json ReportOfARestartedHost() {
    const std::string topic = node_->topic_prefix() + "triggers";
    Json first;
    ReadTopic(
        node_->brokers(), topic,
        [&](const auto& ms) { return !(first = LatestReport(ms, 0)).is_null(); },
        std::chrono::seconds(60));
    if (first.is_null()) {
      ADD_FAILURE() << "no report from the hostile sensor\n" << node_->Log();
      return first;
    }
    EXPECT_GE(KillHosts(node_->pid(), "hostile"), 1);
    Json second;
    const long long run = first["run"];
    ReadTopic(
        node_->brokers(), topic,
        [&](const auto& ms) { return !(second = LatestReport(ms, run)).is_null(); },
        std::chrono::seconds(60));
    EXPECT_FALSE(second.is_null()) << "the hostile host did not come back\n" << node_->Log();
    return second;
  }

  // What must hold whoever the node runs as.
  void ExpectConfined(const Json& r) {
    // (a) No descriptor of the node: no listening socket, nothing to accept, and the only Unix
    // sockets are the broker's (3) and the control channel's (4, which the node only writes).
    EXPECT_EQ(r["descriptors"]["accepted"], 0) << r.dump();
    for (const auto& s : r["descriptors"]["sockets"]) {
      EXPECT_FALSE(s["listening"].get<bool>()) << s.dump();
      if (s["family"] == AF_UNIX) {
        EXPECT_TRUE(s["fd"] == 3 || s["fd"] == 4) << s.dump();
        EXPECT_EQ(s["type"], SOCK_SEQPACKET) << s.dump();
      }
    }
    // (c) The broker refuses the gale scope, other packs' keys, bad counters, unknown ops.
    for (const char* probe : {"set_gale_scope", "get_gale_scope", "set_other_pack",
                              "counters_negative", "unknown_op"}) {
      const Json& answer = r["broker"][probe];
      EXPECT_EQ(answer["ok"], false) << probe << ": " << answer.dump();
      EXPECT_TRUE(answer["error"].is_string()) << probe << ": " << answer.dump();
    }
    EXPECT_EQ(r["broker"]["own_key"]["ok"], true) << r["broker"].dump();
    EXPECT_EQ(r["datastore_set"], true);
    // (d) No programs.
    EXPECT_EQ(r["exec"], EPERM) << "execve /bin/sh was not denied";
    // (e) Filtered, no privilege gain.
    EXPECT_EQ(r["status"]["NoNewPrivs"], "1");
    EXPECT_EQ(r["status"]["Seccomp"], "2");
    // The environment is the allow-list (and what the node sets); the command line names no store.
    const std::set<std::string> allowed = {
        "PATH",         "LANG",          "LANGUAGE",     "TZ",
        "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "MONGOC_DISABLE_SHM"};
    for (const auto& name : r["env"]) {
      const std::string n = name;
      EXPECT_TRUE(allowed.contains(n) || n.rfind("LC_", 0) == 0) << "host environment has " << n;
    }
    for (const auto& arg : r["argv"]) {
      const std::string a = arg;
      EXPECT_EQ(a.find("--store"), std::string::npos) << a;
      EXPECT_EQ(a.find("sqlite:"), std::string::npos) << a;
      EXPECT_EQ(a.find("mongodb:"), std::string::npos) << a;
    }
  }

  // The node stored what the broker allowed and nothing it refused, logged the refusals, and
  // kept serving the healthy pack through the hostile one's flood.
  void ExpectNodeUnharmed(const Json& r) {
    auto store = node_->OpenStore();
    ASSERT_NE(store, nullptr);
    auto key = [&](const std::string& name, store::KeyScope scope) -> std::optional<std::string> {
      auto kv = store->GetKey({name, scope, ""}, store::NowMs());
      if (!kv.ok() || !kv->has_value()) return std::nullopt;
      return (*kv)->value;
    };
    EXPECT_EQ(key("hostile.Hostile:runs", store::KeyScope::kSystem),
              std::to_string(r["run"].get<long long>()));
    EXPECT_EQ(key("hostile.raw", store::KeyScope::kSystem), "mine");
    EXPECT_EQ(key("healthy.Ticker:planted", store::KeyScope::kSystem), std::nullopt);
    EXPECT_EQ(key("apikey:evil", store::KeyScope::kGale), std::nullopt);
    EXPECT_NE(node_->Log().find("sensor host hostile: refused "), std::string::npos)
        << node_->Log();
    EXPECT_GT(r["flood"]["sent"].get<int>(), 0) << r["flood"].dump();

    const auto since = store::NowMs();
    auto ticks = ReadTopic(
        node_->brokers(), node_->topic_prefix() + "triggers",
        [&](const auto& ms) {
          return std::count_if(ms.begin(), ms.end(), [&](const bus::Message& m) {
                   Json ti = Json::parse(m.value, nullptr, false);
                   return ti.is_object() && ti["trigger"] == "healthy.tick" &&
                          ti["occurred_at"].get<long long>() > since;
                 }) >= 5;
        },
        std::chrono::seconds(30));
    EXPECT_TRUE(node_->Alive());
    // The healthy host's counters reached the store through its broker.
    EXPECT_TRUE(WaitFor(
        [&] {
          return key("sensor-counters:test-node:healthy", store::KeyScope::kGale).has_value();
        },
        std::chrono::seconds(15)))
        << node_->Log();
    EXPECT_EQ(node_->Stop(), 0) << node_->Log();
    // Hosts stop on TERM (PID 1 of a namespace takes it through sigwait), not by KILL.
    EXPECT_NE(node_->Log().find("[sensor-host healthy] stopping on signal 15"), std::string::npos)
        << node_->Log();
  }

  TempDir packs_;
  std::unique_ptr<NodeProcess> node_;
};

TEST_F(SensorboxTest, AHostileSensorFindsNothingOfTheNodeToUse) {
  StartNode("");
  const Json r = ReportOfARestartedHost();
  ASSERT_FALSE(r.is_null());
  ExpectConfined(r);
  ExpectNodeUnharmed(r);
}

TEST_F(SensorboxTest, AsRootAHostileSensorRunsAsTheActionUserAloneInItsNamespaces) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "SKIPPED: needs root (the node drops sensor hosts to an unprivileged user "
                    "and gives them namespaces only when it runs as root)";
  }
  const std::string user = ActionUser();
  const passwd* pw = getpwnam(user.c_str());
  ASSERT_NE(pw, nullptr) << "no user " << user;
  const std::string uid = std::to_string(pw->pw_uid);
  StartNode(user);
  const Json r = ReportOfARestartedHost();
  ASSERT_FALSE(r.is_null());
  ExpectConfined(r);
  // (b) The node's files are out of reach.
  EXPECT_EQ(r["files"]["home"], node_->home());
  EXPECT_EQ(r["files"]["store_rdwr"], EACCES) << r["files"].dump();
  EXPECT_EQ(r["files"]["store_rdonly"], EACCES) << r["files"].dump();
  EXPECT_EQ(r["files"]["key_file"], EACCES) << r["files"].dump();
  EXPECT_EQ(r["files"]["create_in_home"], EACCES) << r["files"].dump();
  // (e) The action user, with no capability at all.
  EXPECT_EQ(r["status"]["Uid"], uid + "\t" + uid + "\t" + uid + "\t" + uid);
  for (const char* cap : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
    EXPECT_EQ(r["status"][cap], "0000000000000000") << cap;
  }
  // (f) PID 1 of its own namespace: the node and this test are not there to be signalled.
  EXPECT_EQ(r["processes"]["pid"], 1);
  EXPECT_EQ(r["processes"]["ppid"], 0);
  EXPECT_LE(r["processes"]["proc_entries"].get<int>(), 2) << r["processes"].dump();
  EXPECT_EQ(r["processes"]["kill_outsider_errno"], ESRCH);
  ExpectNodeUnharmed(r);
}

}  // namespace
}  // namespace gale::testing

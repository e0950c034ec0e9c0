// Fault test on a three-broker KRaft cluster: one broker is killed with SIGKILL while a producer
// with acks=all keeps producing and a group member keeps consuming; every message the cluster
// acknowledged must still be there, for the running member and for a fresh reader.
//
// The cluster is the one named by GALE_KAFKA_CLUSTER (with GALE_SERVICES_DIR, to find its pid
// files), or else, when GALE_KAFKA_BROKERS says the services are installed, one this test starts
// itself with `scripts/services up --only kafka --kafka-nodes 3 --base-port P --dir <tmp>` and
// stops at the end, so CI runs it without further set-up.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "kafka_support.h"

namespace gale::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr int kPartitions = 6;
constexpr int kBeforeKill = 2000;
constexpr int kAroundKill = 2000;
constexpr int kAfterKill = 2000;
constexpr int kTotal = kBeforeKill + kAroundKill + kAfterKill;

const std::string kScript = std::string(GALE_SOURCE_DIR) + "/scripts/services";

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::string s;
  std::getline(in, s);
  return s;
}

// A 3-broker cluster: either given, or started (and stopped) by this object.
class Cluster {
 public:
  Cluster() = default;
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;
  ~Cluster() {
    if (!owned_dir_.empty()) {
      const auto r = run_command("'" + kScript + "' down --dir '" + owned_dir_ + "'");
      if (r.exit_code != 0) std::fprintf(stderr, "services down failed:\n%s", r.output.c_str());
      std::error_code ec;
      fs::remove_all(owned_dir_, ec);
    }
  }

  // Starts an own cluster on the first free set of ports; "" or the reason it could not.
  std::string start_own() {
    std::string tmpl = (fs::temp_directory_path() / "gale-kafka3-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) return "mkdtemp failed";
    owned_dir_ = tmpl;
    services_dir_ = tmpl;
    std::string last;
    for (int base : {19092, 19192, 19292, 19392, 19492}) {
      const auto r = run_command("'" + kScript + "' up --only kafka --kafka-nodes 3 --base-port " +
                                 std::to_string(base) + " --dir '" + owned_dir_ + "'");
      if (r.exit_code == 0) {
        brokers_.clear();
        for (int i = 0; i < 3; ++i) {
          brokers_ += (i ? "," : "") + std::string("127.0.0.1:") + std::to_string(base + i);
        }
        std::printf("%s", r.output.c_str());
        return "";
      }
      last = r.output;
      if (r.output.find("is in use") == std::string::npos) break;
    }
    return "scripts/services up --kafka-nodes 3 failed:\n" + last;
  }

  void use(std::string brokers, std::string services_dir) {
    brokers_ = std::move(brokers);
    services_dir_ = std::move(services_dir);
  }

  const std::string& brokers() const { return brokers_; }

  // The pid of the broker listening on `address` ("host:port"), from its pid file.
  std::optional<pid_t> pid_of(const std::string& address) const {
    const fs::path run = fs::path(services_dir_) / "run";
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(run, ec)) {
      const auto name = e.path().filename().string();
      if (name.rfind("kafka-", 0) != 0 || e.path().extension() != ".addr") continue;
      if (read_file(e.path()) != address) continue;
      auto pidfile = e.path();
      pidfile.replace_extension(".pid");
      const std::string pid = read_file(pidfile);
      if (!pid.empty()) return static_cast<pid_t>(std::stol(pid));
    }
    return std::nullopt;
  }

 private:
  std::string brokers_;
  std::string services_dir_;
  std::string owned_dir_;
};

bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_s, comm, state;
  stat >> pid_s >> comm >> state;
  return state == "Z";  // dead, waiting for its parent to reap it
}

TEST(ServicesKafkaCluster, AcknowledgedMessagesSurviveBrokerKill) {
  Cluster cluster;
  const auto given = env_var("GALE_KAFKA_CLUSTER");
  const auto services_dir = env_var("GALE_SERVICES_DIR");
  if (given && services_dir) {
    cluster.use(*given, *services_dir);
  } else if (env_var("GALE_KAFKA_BROKERS")) {
    const std::string err = cluster.start_own();
    ASSERT_EQ(err, "");
  } else {
    GTEST_SKIP() << "SKIPPED: needs a 3-broker cluster: set GALE_KAFKA_BROKERS (scripts/services "
                    "up; the test then starts its own cluster) or GALE_KAFKA_CLUSTER="
                    "127.0.0.1:9092,... and GALE_SERVICES_DIR";
  }

  const std::string topic = unique_name("gale-test-fault");
  AckingProducer producer(cluster.brokers(), "all", {{"retry.backoff.ms", "200"}});
  ASSERT_EQ(create_topic(producer.handle(), topic, kPartitions, 3, {{"min.insync.replicas", "2"}}),
            "");
  ASSERT_TRUE(wait_until(
      60s,
      [&] {
        auto info = topic_info(producer.handle(), topic);
        if (!info || info->partitions.size() != kPartitions) return false;
        for (const auto& p : info->partitions) {
          if (p.leader < 0 || p.isrs != 3) return false;
        }
        return true;
      },
      200ms))
      << "topic never had 6 partitions with 3 in-sync replicas each";

  GroupMember member("fault-member", cluster.brokers(), unique_name("gale-test-fault"), topic);
  ASSERT_TRUE(wait_until(60s, [&] { return member.assignment().size() == kPartitions; }));

  for (int id = 0; id < kBeforeKill; ++id) producer.produce(topic, id);
  ASSERT_TRUE(producer.flush(120s));
  ASSERT_EQ(producer.acked().size(), static_cast<size_t>(kBeforeKill));

  // The victim: the leader of partition 0, killed while messages to it are in flight.
  const auto info = topic_info(producer.handle(), topic);
  ASSERT_TRUE(info.has_value());
  const int32_t victim = info->partitions.at(0).leader;
  const std::string victim_addr = info->brokers.at(victim);
  const auto pid = cluster.pid_of(victim_addr);
  ASSERT_TRUE(pid.has_value()) << "no pid file for broker " << victim << " at " << victim_addr;

  for (int id = kBeforeKill; id < kBeforeKill + kAroundKill; ++id) {
    producer.produce(topic, id);
    if (id == kBeforeKill + kAroundKill / 2) {
      ASSERT_EQ(::kill(*pid, SIGKILL), 0) << "kill -9 " << *pid;
      std::printf("killed broker %d (%s, pid %d) with SIGKILL\n", victim, victim_addr.c_str(),
                  static_cast<int>(*pid));
    }
  }
  ASSERT_TRUE(wait_until(30s, [&] { return process_gone(*pid); }));
  for (int id = kBeforeKill + kAroundKill; id < kTotal; ++id) {
    producer.produce(topic, id);
    if (id % 100 == 0) rd_kafka_poll(producer.handle(), 0);
  }
  EXPECT_TRUE(producer.flush(180s)) << "delivery reports still outstanding after 180 s";

  const auto acked = producer.acked();
  const auto failed = producer.failed();
  std::printf("acknowledged %zu of %d messages, %zu failed\n", acked.size(), kTotal, failed.size());
  EXPECT_TRUE(failed.empty()) << failed.size() << " messages not acknowledged, e.g. id "
                              << failed.begin()->first << ": " << failed.begin()->second;
  ASSERT_GT(acked.size(), static_cast<size_t>(kBeforeKill));

  auto missing_in = [&](const std::vector<Seen>& seen) {
    std::set<int> got;
    for (const auto& s : seen) got.insert(s.id);
    std::vector<int> missing;
    for (int id : acked) {
      if (!got.count(id)) missing.push_back(id);
    }
    return missing;
  };

  // The member that kept consuming through the failure has every acknowledged message.
  EXPECT_TRUE(wait_until(
      180s, [&] { return missing_in(member.seen()).empty(); }, 200ms));
  const auto lost_live = missing_in(member.seen());
  EXPECT_TRUE(lost_live.empty()) << lost_live.size() << " acknowledged messages never reached "
                                 << "the running member, e.g. id " << lost_live.front();
  member.leave();

  // And the log itself: a new group reading from the beginning finds every one of them.
  GroupMember reader("fault-reader", cluster.brokers(), unique_name("gale-test-verify"), topic);
  EXPECT_TRUE(wait_until(
      180s, [&] { return missing_in(reader.seen()).empty(); }, 200ms));
  reader.leave();
  const auto lost = missing_in(reader.seen());
  EXPECT_TRUE(lost.empty()) << lost.size() << " acknowledged messages lost, e.g. id "
                            << lost.front();

  const auto after = topic_info(producer.handle(), topic);
  ASSERT_TRUE(after.has_value());
  for (const auto& p : after->partitions) {
    EXPECT_NE(p.leader, victim) << "partition " << p.id << " still led by the dead broker";
  }
}

}  // namespace
}  // namespace gale::test

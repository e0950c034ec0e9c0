// The chaos test (issue: many nodes). Three `gale up` nodes share a bus and a store; the chaos
// pack's sensor (partition `auto`) emits GALE_CHAOS_TRIGGERS numbered events at
// GALE_CHAOS_RATE per second, every even one twice with the same dedupe key; a rule runs
// core.local, which sleeps 0.3 s and appends its execution id to a file. Every
// GALE_CHAOS_KILL_EVERY seconds a random node is killed -9 (with its sensor hosts and actions)
// and restarted a second later.
// At the end: one trigger instance per event, exactly one execution per instance, each
// execution id at most once in the file, every execution succeeded or (killed mid-run)
// abandoned, and the sensor's failover times.
//
// Bus and store: the real Kafka broker and MongoDB-protocol server when GALE_KAFKA_BROKERS and
// GALE_MONGODB_URL are set (every node may be killed); else the embedded bus and a SQLite store
// held by a fourth node, the hub, which runs rules and runner but is never killed (its bus dies
// with it). Short form in CI (1,000 events); long form: test/chaos/run.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "host/common/uuid.h"
#include "test/support/node_harness.h"

namespace gale::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::stoll(v) : fallback;
}

std::string ChaosPacks(const TempDir& dir, const std::string& out_file, int64_t total,
                       int64_t rate) {
  fs::copy(std::string(GALE_CHAOS_PACK), dir.path() / "chaos", fs::copy_options::recursive);
  WriteFiles(dir.path() / "chaos",
             {{"config.yaml", "total: " + std::to_string(total) + "\nper_poll: " +
                                  std::to_string(std::max<int64_t>(1, rate / 10)) + "\n"},
              {"rules/append.yaml",
               "---\nname: append\ntrigger:\n  type: chaos.event\naction:\n  ref: core.local\n"
               "  parameters:\n    cmd: \"sleep 0.3; echo $ST2_ACTION_EXECUTION_ID >> " +
                   out_file + "\"\n"}});
  return dir.str();
}

template <class T, class Q, class F>
std::vector<T> All(Q query, F list) {
  std::vector<T> all;
  query.limit = 1000;
  while (true) {
    auto page = list(query);
    if (!page.ok()) {
      ADD_FAILURE() << page.message();
      break;
    }
    for (auto& item : page->items) all.push_back(std::move(item));
    if (page->next_cursor.empty()) break;
    query.cursor = page->next_cursor;
  }
  return all;
}

TEST(ChaosTest, KilledNodesLoseNothingAndDoubleNothing) {
  const int64_t total = EnvInt("GALE_CHAOS_TRIGGERS", 1000);
  const int64_t rate = EnvInt("GALE_CHAOS_RATE", 100);
  const auto kill_every = std::chrono::seconds(EnvInt("GALE_CHAOS_KILL_EVERY", 6));
  const bool real = !RealBrokers().empty() && std::getenv("GALE_MONGODB_URL") != nullptr &&
                    *std::getenv("GALE_MONGODB_URL") != '\0';
  std::cout << "chaos: " << total << " events at " << rate << "/s, a node killed every "
            << kill_every.count() << " s, on "
            << (real ? "the real Kafka broker and MongoDB server"
                     : "the embedded bus and SQLite (held by a hub node that is never killed)")
            << "\n";

  TempDir packs, work;
  ShareWithActions(work.path());  // the actions (the action user) append to the file there
  const std::string out_file = work.str() + "/executions.txt";
  const std::vector<std::string> paths = {std::string(GALE_BINARY_DIR) + "/packs",
                                          ChaosPacks(packs, out_file, total, rate)};
  const std::string worker_yaml =
      "sensors: {partition_provider: auto, restart_backoff_initial: 0.2}\n"
      "runner: {lease_timeout: 4, shutdown_grace: 1}\n";

  std::unique_ptr<NodeProcess> hub;
  NodeOptions base;
  base.packs_paths = paths;
  base.extra_yaml = worker_yaml;
  if (real) {
    base.backend = Backend::kRealKafka;
    std::string mongo = std::getenv("GALE_MONGODB_URL");
    mongo = mongo.substr(0, mongo.rfind('/')) + "/gale_chaos_" + UuidV4().substr(0, 8);
    base.store_url = mongo;
    base.brokers = RealBrokers();
    base.topic_prefix = "gale-chaos-" + UuidV4().substr(0, 8) + ".";
  } else {
    NodeOptions h = base;
    h.node_name = "hub";
    h.roles = "[rules, runner]";
    h.extra_yaml = "runner: {lease_timeout: 4}\n";
    hub = NodeProcess::Start(h);
    base.brokers = hub->brokers();
    base.topic_prefix = hub->topic_prefix();
    base.store_url = hub->store_url();
  }
  std::vector<std::unique_ptr<NodeProcess>> nodes(3);
  auto start = [&](size_t i) {
    NodeOptions o = base;
    o.node_name = "chaos-" + std::to_string(i + 1);
    nodes[i] = NodeProcess::Start(o);
  };
  for (size_t i = 0; i < nodes.size(); ++i) start(i);
  auto store = nodes[0]->OpenStore();
  ASSERT_NE(store, nullptr);
  auto emitted = [&] {
    auto v = store->GetKey({"chaos.Emitter:next", store::KeyScope::kSystem, ""}, store::NowMs());
    return v.ok() && v->has_value() ? std::stoll((*v)->value) : 0;
  };

  // Kill and restart until the sensor has emitted everything.
  std::mt19937 random(std::random_device{}());
  int kills = 0;
  const auto deadline =
      Clock::now() + std::chrono::seconds(60 + 4 * total / std::max<int64_t>(1, rate));
  auto next_kill = Clock::now() + kill_every;
  while (emitted() < total) {
    ASSERT_LT(Clock::now(), deadline) << "the sensor emitted " << emitted() << " of " << total;
    if (Clock::now() >= next_kill) {
      const size_t victim = random() % nodes.size();
      kill(-nodes[victim]->pid(), SIGKILL);  // the node, its sensor hosts and its actions
      nodes[victim]->Stop(std::chrono::seconds(5));
      ++kills;
      std::this_thread::sleep_for(std::chrono::seconds(1));
      start(victim);
      next_kill = Clock::now() + kill_every;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }

  // Quiesce: every instance evaluated, every execution finished (or abandoned by its lease).
  std::vector<store::TriggerInstance> instances;
  std::vector<store::Execution> executions;
  auto settled = [&] {
    store::TriggerInstanceQuery tq;
    tq.trigger = "chaos.event";
    instances =
        All<store::TriggerInstance>(tq, [&](auto& q) { return store->ListTriggerInstances(q); });
    store::ExecutionQuery eq;
    eq.rule = "chaos.append";
    executions = All<store::Execution>(eq, [&](auto& q) { return store->ListExecutions(q); });
    return static_cast<int64_t>(instances.size()) >= total &&
           executions.size() >= instances.size() &&
           std::all_of(executions.begin(), executions.end(), [](const store::Execution& e) {
             return e.status == store::ExecStatus::kSucceeded ||
                    e.status == store::ExecStatus::kFailed ||
                    e.status == store::ExecStatus::kAbandoned;
           });
  };
  const bool done = WaitFor(settled, std::chrono::seconds(120 + total / 20));
  for (auto& n : nodes) n->Stop(std::chrono::seconds(30));

  // One trigger instance per event: none lost, duplicates collapsed.
  std::map<int64_t, int> per_event;
  for (const auto& t : instances) per_event[t.payload.value("n", int64_t{-1})]++;
  int64_t missing = 0, doubled = 0;
  for (int64_t n = 0; n < total; ++n) {
    missing += per_event.count(n) ? 0 : 1;
    doubled += per_event.count(n) && per_event[n] > 1 ? 1 : 0;
  }
  EXPECT_EQ(missing, 0) << "events lost";
  EXPECT_EQ(doubled, 0) << "events recorded twice";
  EXPECT_EQ(static_cast<int64_t>(instances.size()), total);

  // Exactly one execution per instance; each id at most once in the file.
  std::map<std::string, int> per_instance;
  std::map<store::ExecStatus, int> by_status;
  for (const auto& e : executions) {
    per_instance[e.trigger_instance]++;
    by_status[e.status]++;
  }
  int64_t without = 0, several = 0;
  for (const auto& t : instances) {
    auto it = per_instance.find(t.id);
    without += it == per_instance.end() ? 1 : 0;
    several += it != per_instance.end() && it->second > 1 ? 1 : 0;
  }
  EXPECT_EQ(without, 0) << "instances without an execution";
  EXPECT_EQ(several, 0) << "instances with more than one execution";
  std::map<std::string, int> in_file;
  std::ifstream lines(out_file);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) in_file[line]++;
  }
  int64_t twice = 0, succeeded_missing = 0;
  for (const auto& [id, n] : in_file) twice += n > 1 ? 1 : 0;
  for (const auto& e : executions) {
    if (e.status == store::ExecStatus::kSucceeded && !in_file.count(e.id)) ++succeeded_missing;
  }
  EXPECT_EQ(twice, 0) << "an action ran twice";
  EXPECT_EQ(succeeded_missing, 0) << "succeeded executions that left no line";
  EXPECT_EQ(by_status[store::ExecStatus::kFailed], 0) << [&] {
    for (const auto& e : executions) {
      if (e.status == store::ExecStatus::kFailed) return "first failure: " + e.result.dump();
    }
    return std::string();
  }();
  EXPECT_TRUE(done) << "executions still running after the deadline";

  // Sensor failover: last event from one sensor host to the first from the next (a kill of
  // its node, or a rebalance that moved it).
  std::vector<store::TriggerInstance> by_time = instances;
  std::sort(by_time.begin(), by_time.end(),
            [](const auto& a, const auto& b) { return a.occurred_at < b.occurred_at; });
  std::vector<int64_t> gaps;
  for (size_t i = 1; i < by_time.size(); ++i) {
    if (by_time[i].payload.value("host", 0) != by_time[i - 1].payload.value("host", 0)) {
      gaps.push_back(by_time[i].occurred_at - by_time[i - 1].occurred_at);
    }
  }
  std::sort(gaps.begin(), gaps.end());
  std::cout << "chaos: " << kills << " kills; " << instances.size() << " trigger instances, "
            << executions.size() << " executions: " << by_status[store::ExecStatus::kSucceeded]
            << " succeeded, " << by_status[store::ExecStatus::kAbandoned]
            << " abandoned (killed mid-run); " << in_file.size() << " ids in the file\n"
            << "chaos: sensor moves " << gaps.size() << ", p50 "
            << (gaps.empty() ? 0 : gaps[gaps.size() / 2]) << " ms, max "
            << (gaps.empty() ? 0 : gaps.back()) << " ms\n";
}

}  // namespace
}  // namespace gale::testing

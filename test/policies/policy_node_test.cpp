// Pack policies on three `gale up` nodes sharing one bus and store (issue 22): on the embedded
// default (the hub holds the bus and SQLite store) and on the real Kafka + MongoDB
// (GALE_KAFKA_BROKERS, GALE_MONGODB_URL; SKIPPED without them). Leases are 2 s (gale.yaml), so
// a killed node's slots free within seconds.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "host/common/uuid.h"
#include "host/policies/retry_id.h"
#include "test/support/api_fixture.h"
#include "test/support/node_harness.h"

namespace gale::testing {
namespace {

using store::ExecStatus;

// limited: threshold 2, delay. per_host: 1 per `host` value, delay. exclusive: 1, cancel.
// held: 2, delay (the kill test). fails / slowpoke: retried on failure / on timeout.
std::string PolicyPack(const TempDir& dir) {
  auto action = [](const std::string& name, const std::string& cmd) {
    return std::pair<std::string, std::string>{
        "actions/" + name + ".yaml",
        "---\nname: " + name +
            "\nrunner_type: local-shell-cmd\nenabled: true\nparameters:\n"
            "  cmd: {type: string, default: \"" +
            cmd +
            "\"}\n"
            "  host: {type: string, default: any}\n"};
  };
  auto concurrency = [](const std::string& name, const std::string& action, int threshold,
                        const std::string& over, bool by_host) {
    return std::pair<std::string, std::string>{
        "policies/" + name + ".yaml",
        "---\nname: " + name + "\nresource_ref: pol." + action +
            "\npolicy_type: " + (by_host ? "action.concurrency.attr" : "action.concurrency") +
            "\nparameters:\n  action: " + over + "\n  threshold: " + std::to_string(threshold) +
            "\n" + (by_host ? "  attributes: [host]\n" : "")};
  };
  auto retry = [](const std::string& name, const std::string& action, const std::string& on,
                  int count, int delay) {
    return std::pair<std::string, std::string>{
        "policies/" + name + ".yaml", "---\nname: " + name + "\nresource_ref: pol." + action +
                                          "\npolicy_type: action.retry\nparameters:\n  retry_on: " +
                                          on + "\n  max_retry_count: " + std::to_string(count) +
                                          "\n  delay: " + std::to_string(delay) + "\n"};
  };
  WriteFiles(dir.path() / "pol", {{"pack.yaml", "---\nref: pol\nname: pol\nversion: 0.1.0\n"},
                                  action("limited", "sleep 0.05"),
                                  action("per_host", "sleep 0.3"),
                                  action("exclusive", "sleep 60"),
                                  action("held", "true"),
                                  action("fails", "exit 3"),
                                  action("slowpoke", "sleep 5"),
                                  concurrency("limited_concurrency", "limited", 2, "delay", false),
                                  concurrency("one_per_host", "per_host", 1, "delay", true),
                                  concurrency("one_at_a_time", "exclusive", 1, "cancel", false),
                                  concurrency("held_concurrency", "held", 2, "delay", false),
                                  retry("fails_retry", "fails", "failure", 2, 1),
                                  retry("slowpoke_retry", "slowpoke", "timeout", 1, 0)});
  return dir.str();
}

class PolicyNodeTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kRealKafka) {
      const char* mongo = std::getenv("GALE_MONGODB_URL");
      if (RealBrokers().empty() || mongo == nullptr || *mongo == '\0') {
        GTEST_SKIP() << "SKIPPED: needs GALE_KAFKA_BROKERS and GALE_MONGODB_URL";
      }
      // A database of its own per test: tests run side by side.
      std::string url = mongo;
      url = url.substr(0, url.rfind('/')) + "/gale_policy_" + UuidV4().substr(0, 8);
      store_url_ = url;
    }
    paths_ = {std::string(GALE_BINARY_DIR) + "/packs", PolicyPack(packs_)};
  }

  NodeOptions Options(const std::string& name, const std::string& roles) {
    NodeOptions o;
    o.backend = GetParam();
    o.node_name = name;
    o.roles = roles;
    o.packs_paths = paths_;
    o.store_url = store_url_;
    o.extra_yaml = "runner: {lease_timeout: 2}\n";
    return o;
  }
  // The hub (API, runner; the embedded bus and store) and two more runners.
  void StartThree() {
    hub_ = NodeProcess::Start(Options("hub", "[api, runner]"));
    NodeOptions o = Options("node-b", "[runner]");
    o.join = hub_.get();
    b_ = NodeProcess::Start(o);
    o.node_name = "node-c";
    c_ = NodeProcess::Start(o);
    Settle(3);
  }
  // Until `nodes` runners have each run a core.noop: the consumer group has settled, and a
  // request is not held up behind a rebalance (which would reorder what the test measures).
  void Settle(size_t nodes) {
    ASSERT_TRUE(WaitFor(
        [&] {
          for (int i = 0; i < 6; ++i) Request("core.noop");
          std::set<std::string> ran;
          for (const auto& e : Executions("core.noop")) {
            if (e.status == ExecStatus::kSucceeded) ran.insert(e.node);
          }
          return ran.size() >= nodes;
        },
        std::chrono::seconds(60)))
        << Logs();
  }

  std::string Request(const std::string& action, const Json& parameters = Json::object()) {
    cli::ApiClient api(ApiFlagsOf(*hub_));
    Json body = {{"action", action}, {"parameters", parameters}};
    auto reply = api.Call("POST", "/v1/executions", &body);
    EXPECT_TRUE(reply.ok() && reply->status == 201) << (reply.ok() ? reply->body : reply.message());
    return reply.ok() ? reply->json().value("id", "") : "";
  }

  std::vector<store::Execution> Executions(const std::string& action) {
    store::ExecutionQuery q;
    q.action = action;
    q.limit = store::kMaxPageSize;
    auto page = hub_->OpenStore()->ListExecutions(q);
    return page.ok() ? page->items : std::vector<store::Execution>{};
  }

  bool AllFinal(const std::string& action, size_t n) {
    auto all = Executions(action);
    return all.size() >= n && std::all_of(all.begin(), all.end(),
                                          [](const auto& e) { return store::IsFinal(e.status); });
  }

  std::string SlotsOf(const std::string& key) {
    std::string out;
    auto slots = hub_->OpenStore()->ListPolicySlots(key, store::NowMs());
    if (!slots.ok()) return slots.message();
    for (const auto& slot : *slots) {
      out += "slot " + slot.execution_id + " on " + slot.node + " until " +
             std::to_string(slot.lease_until - store::NowMs()) + " ms from now\n";
      auto e = hub_->OpenStore()->GetExecution(slot.execution_id);
      if (e.ok() && *e) {
        for (const auto& c : (*e)->log) {
          out += std::string("  ") + std::string(store::ToString(c.status)) + " at " +
                 std::to_string(c.at) + " by " + c.node + "\n";
        }
      }
    }
    return out;
  }
  static std::string Grep(const std::string& text, const std::string& needle) {
    std::string out, line;
    std::istringstream in(text);
    while (std::getline(in, line)) {
      if (line.find(needle) != std::string::npos) out += line + "\n";
    }
    return out;
  }

  bool SlotsFree(const std::string& key) {
    auto slots = hub_->OpenStore()->ListPolicySlots(key, store::NowMs());
    return slots.ok() && slots->empty();
  }

  std::string Logs() { return hub_->Log() + (b_ ? b_->Log() : "") + (c_ ? c_->Log() : ""); }

  TempDir packs_;
  std::vector<std::string> paths_;
  std::string store_url_;
  std::unique_ptr<NodeProcess> hub_, b_, c_;
};

// The most executions whose recorded [started_at, finished_at] overlap (a finish at the same
// millisecond as a start does not overlap it).
int MaxOverlap(const std::vector<store::Execution>& executions) {
  std::vector<std::pair<store::TimeMs, int>> edges;
  for (const auto& e : executions) {
    if (e.started_at == 0) continue;
    edges.push_back({e.started_at, +1});
    edges.push_back({e.finished_at == 0 ? INT64_MAX : e.finished_at, -1});
  }
  std::sort(edges.begin(), edges.end());
  int now = 0, most = 0;
  for (const auto& [at, d] : edges) most = std::max(most, now += d);
  return most;
}

TEST_P(PolicyNodeTest, ThresholdTwoOnThreeNodesNeverRunsMoreThanTwo) {
  StartThree();
  const auto begin = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) Request("pol.limited");
  ASSERT_TRUE(WaitFor([&] { return AllFinal("pol.limited", 100); }, std::chrono::seconds(120)))
      << Logs();
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  auto all = Executions("pol.limited");
  ASSERT_EQ(all.size(), 100u);
  std::set<std::string> nodes;
  size_t delayed = 0;
  for (const auto& e : all) {
    EXPECT_EQ(e.status, ExecStatus::kSucceeded) << e.id << " " << e.result.dump();
    EXPECT_EQ(e.attempt, 1) << e.id << " was claimed more than once";
    nodes.insert(e.node);
    for (const auto& c : e.log) delayed += c.status == ExecStatus::kDelayed;
  }
  EXPECT_LE(MaxOverlap(all), 2);
  EXPECT_EQ(MaxOverlap(all), 2) << "two at once was never reached";
  EXPECT_GT(delayed, 0u);
  // Request order among the delayed ones (the first burst is consumed partition by partition,
  // in no global order), loosely, as several nodes start them side by side: the 20 oldest
  // delayed requests all started before the 20 newest.
  std::vector<store::Execution> waited;
  for (const auto& e : all) {
    if (std::any_of(e.log.begin(), e.log.end(),
                    [](const auto& c) { return c.status == ExecStatus::kDelayed; })) {
      waited.push_back(e);
    }
  }
  std::sort(waited.begin(), waited.end(), [](const auto& a, const auto& b) {
    return a.requested_at != b.requested_at ? a.requested_at < b.requested_at : a.id < b.id;
  });
  ASSERT_GE(waited.size(), 40u);
  store::TimeMs oldest_last = 0, newest_first = INT64_MAX;
  for (size_t i = 0; i < 20; ++i) {
    oldest_last = std::max(oldest_last, waited[i].started_at);
    newest_first = std::min(newest_first, waited[waited.size() - 1 - i].started_at);
  }
  std::string order;
  for (const auto& e : waited) {
    order += std::to_string(e.requested_at - waited[0].requested_at) + ":";
    for (const auto& c : e.log) {
      order += " " + std::string(store::ToString(c.status)) + "@" +
               std::to_string(c.at - waited[0].requested_at) + c.node;
    }
    order += "\n";
  }
  EXPECT_LT(oldest_last, newest_first) << "delayed executions did not start in request order\n"
                                       << order;
  // Released at once, not left to expire (the lease is 2 s).
  EXPECT_TRUE(WaitFor([&] { return SlotsFree("pol.limited_concurrency"); },
                      std::chrono::milliseconds(1000)))
      << SlotsOf("pol.limited_concurrency") << Grep(Logs(), "policies:");
  std::cout << BackendName(GetParam()) << ": 100 executions, " << delayed << " delayed, on "
            << nodes.size() << " node(s), in " << took << " s\n";
}

TEST_P(PolicyNodeTest, AttrCountsEachHostApart) {
  StartThree();
  for (int i = 0; i < 6; ++i) {
    Request("pol.per_host", {{"host", "web1"}});
    Request("pol.per_host", {{"host", "web2"}});
  }
  ASSERT_TRUE(WaitFor([&] { return AllFinal("pol.per_host", 12); }, std::chrono::seconds(60)))
      << Logs();
  auto all = Executions("pol.per_host");
  std::map<std::string, std::vector<store::Execution>> by_host;
  for (const auto& e : all) {
    EXPECT_EQ(e.status, ExecStatus::kSucceeded) << e.id;
    by_host[e.parameters.value("host", "")].push_back(e);
  }
  ASSERT_EQ(by_host.size(), 2u);
  for (const auto& [host, runs] : by_host) EXPECT_EQ(MaxOverlap(runs), 1) << host;
  EXPECT_EQ(MaxOverlap(all), 2) << "web1 and web2 never ran side by side";
}

TEST_P(PolicyNodeTest, CancelModeCancelsWithTheReason) {
  StartThree();
  const std::string first = Request("pol.exclusive", {{"cmd", "sleep 60"}});
  auto status_of = [&](const std::string& id) {
    auto e = hub_->OpenStore()->GetExecution(id);
    return e.ok() && *e ? (*e)->status : ExecStatus::kRequested;
  };
  ASSERT_TRUE(
      WaitFor([&] { return status_of(first) == ExecStatus::kRunning; }, std::chrono::seconds(30)))
      << Logs();
  const std::string second = Request("pol.exclusive");
  const std::string third = Request("pol.exclusive");
  ASSERT_TRUE(WaitFor(
      [&] {
        return status_of(second) == ExecStatus::kCanceled &&
               status_of(third) == ExecStatus::kCanceled;
      },
      std::chrono::seconds(30)))
      << Logs();
  for (const auto& id : {second, third}) {
    auto e = *hub_->OpenStore()->GetExecution(id);
    EXPECT_EQ(e->started_at, 0) << "a canceled execution never started";
    EXPECT_NE(e->result.value("error", "").find("canceled by policy pol.one_at_a_time"),
              std::string::npos)
        << e->result.dump();
  }
  int code = -1;
  const std::string shown = RunGale(hub_->home(), "execution get " + second, &code);
  EXPECT_NE(shown.find("canceled by policy"), std::string::npos) << shown;
  // Canceling the running one frees its slot: the next request runs.
  cli::ApiClient api(ApiFlagsOf(*hub_));
  auto canceled = api.Call("DELETE", "/v1/executions/" + first);
  ASSERT_TRUE(canceled.ok()) << canceled.message();
  ASSERT_TRUE(
      WaitFor([&] { return status_of(first) == ExecStatus::kCanceled; }, std::chrono::seconds(30)))
      << Logs();
  const std::string next = Request("pol.exclusive", {{"cmd", "true"}});
  ASSERT_TRUE(WaitFor([&] { return store::IsFinal(status_of(next)); }, std::chrono::seconds(30)));
  EXPECT_EQ(status_of(next), ExecStatus::kSucceeded);
  EXPECT_TRUE(
      WaitFor([&] { return SlotsFree("pol.one_at_a_time"); }, std::chrono::milliseconds(1000)));
}

TEST_P(PolicyNodeTest, KilledHolderFreesItsSlotsAfterTheLease) {
  hub_ = NodeProcess::Start(Options("hub", "[api]"));
  NodeOptions o = Options("node-b", "[runner]");
  o.join = hub_.get();
  b_ = NodeProcess::Start(o);
  // Two long executions hold both slots on node-b; three short ones wait behind them.
  Request("pol.held", {{"cmd", "sleep 120"}});
  Request("pol.held", {{"cmd", "sleep 120"}});
  ASSERT_TRUE(WaitFor(
      [&] {
        auto all = Executions("pol.held");
        return std::count_if(all.begin(), all.end(),
                             [](const auto& e) { return e.status == ExecStatus::kRunning; }) == 2;
      },
      std::chrono::seconds(30)))
      << Logs();
  for (int i = 0; i < 3; ++i) Request("pol.held");
  ASSERT_TRUE(WaitFor(
      [&] {
        auto all = Executions("pol.held");
        return std::count_if(all.begin(), all.end(),
                             [](const auto& e) { return e.status == ExecStatus::kDelayed; }) == 3;
      },
      std::chrono::seconds(30)))
      << Logs();
  o.node_name = "node-c";
  c_ = NodeProcess::Start(o);
  const store::TimeMs killed_at = store::NowMs();
  kill(-b_->pid(), SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return AllFinal("pol.held", 5); }, std::chrono::seconds(60))) << Logs();
  int abandoned = 0, succeeded = 0;
  for (const auto& e : Executions("pol.held")) {
    if (e.status == ExecStatus::kAbandoned) {
      ++abandoned;
      EXPECT_EQ(e.node, "node-b");
      continue;
    }
    ++succeeded;
    EXPECT_EQ(e.status, ExecStatus::kSucceeded) << e.id << " " << e.result.dump();
    EXPECT_EQ(e.node, "node-c");
    EXPECT_EQ(e.attempt, 1);
    // Not before the dead node's slots expired: its last renewal plus the 2 s lease.
    EXPECT_GE(e.started_at, killed_at + 2000 - 700) << e.id;
  }
  EXPECT_EQ(abandoned, 2);
  EXPECT_EQ(succeeded, 3);
}

TEST_P(PolicyNodeTest, RetriesOnFailureAndOnTimeoutAreLinkedAndCounted) {
  // One node: a retry is its own execution, whichever runner claims it.
  hub_ = NodeProcess::Start(Options("hub", "[api, runner]"));
  const std::string failing = Request("pol.fails");
  const std::string slow = Request("pol.slowpoke", {{"timeout", 1}});
  ASSERT_TRUE(WaitFor([&] { return AllFinal("pol.fails", 3) && AllFinal("pol.slowpoke", 2); },
                      std::chrono::seconds(60)))
      << Logs();
  // Nothing more comes: max_retry_count is reached.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  auto fails = Executions("pol.fails");
  auto slowpoke = Executions("pol.slowpoke");
  ASSERT_EQ(fails.size(), 3u);
  ASSERT_EQ(slowpoke.size(), 2u);
  std::sort(fails.begin(), fails.end(),
            [](const auto& a, const auto& b) { return a.retry_attempt < b.retry_attempt; });
  for (int i = 0; i < 3; ++i) {
    const auto& e = fails[static_cast<size_t>(i)];
    EXPECT_EQ(e.status, ExecStatus::kFailed);
    EXPECT_EQ(e.retry_attempt, i);
    EXPECT_EQ(e.id, i == 0 ? failing : policies::RetryExecutionId(failing, i));
    EXPECT_EQ(e.retry_of, i == 0 ? "" : failing);
    // delay: 1 s after the attempt before it ended.
    if (i > 0) {
      EXPECT_GE(e.started_at, fails[static_cast<size_t>(i - 1)].finished_at + 1000);
    }
  }
  for (const auto& e : slowpoke) {
    EXPECT_EQ(e.status, ExecStatus::kTimeout);
    if (e.id != slow) {
      EXPECT_EQ(e.retry_of, slow);
    }
  }
  int code = -1;
  const std::string shown = RunGale(hub_->home(), "execution get " + fails[1].id, &code);
  EXPECT_EQ(code, 0) << shown;
  EXPECT_NE(shown.find("retry:    1 of " + failing), std::string::npos) << shown;
  EXPECT_NE(shown.find("original  " + failing), std::string::npos) << shown;
  EXPECT_NE(shown.find("retry 2  " + fails[2].id), std::string::npos) << shown;
  const std::string json = RunGale(hub_->home(), "execution get --json " + fails[2].id, &code);
  Json j = Json::parse(json, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << json;
  EXPECT_EQ(j.value("retry_of", ""), failing);
  EXPECT_EQ(j.value("retry_attempt", 0), 2);
  EXPECT_EQ(j["retry_chain"].size(), 3u);
}

INSTANTIATE_TEST_SUITE_P(Backends, PolicyNodeTest,
                         ::testing::Values(Backend::kEmbedded, Backend::kRealKafka),
                         [](const auto& info) { return BackendName(info.param); });

}  // namespace
}  // namespace gale::testing

// Nothing accepted is lost on the embedded default (issue 17, docs/operations.md "What the
// embedded bus can lose"): a node killed with -9 while executions wait in its in-memory bus, or
// after it answered a webhook 2xx but before any rule ran, does that work after a restart on the
// same store, and does it once.
#include <signal.h>

#include <fstream>

#include "host/bus/bus.h"
#include "host/bus/messages.h"

#include "test/support/api_fixture.h"

namespace gale::testing {
namespace {

using namespace std::chrono_literals;

class CrashRecoveryTest : public ::testing::Test {
 public:
  void SetUp() override { WriteApiPacks(packs_.path()); }

  // A node on `store_url` ("" for a new store) with `roles` ("" for every role).
  std::unique_ptr<NodeProcess> Start(const std::string& roles, const std::string& store_url,
                                     std::vector<std::string> env = {}, bool wait_ready = true) {
    NodeOptions options;
    options.packs_paths = {packs_.str()};
    options.roles = roles;
    options.store_url = store_url;
    options.env = std::move(env);
    options.wait_ready = wait_ready;
    options.topic_prefix = topic_prefix_;  // a deployment's: the same after each restart
    auto node = NodeProcess::Start(options);
    topic_prefix_ = node->topic_prefix();
    return node;
  }

  static void Kill9(NodeProcess& node) {
    kill(-node.pid(), SIGKILL);  // the node and its sensor hosts, with no chance to clean up
    ASSERT_TRUE(WaitFor([&] { return !node.Alive(); }, 10s));
  }

  // How many times `e` was started: its status log's `running` entries.
  static int Runs(const store::Execution& e) {
    int runs = 0;
    for (const auto& change : e.log) runs += change.status == store::ExecStatus::kRunning;
    return runs;
  }

  TempDir packs_;
  std::string topic_prefix_;
};

TEST_F(CrashRecoveryTest, FourQueuedExecutionsFinishEachOnceAfterAKill9) {
  // Without the runner role the requests wait on the node's embedded bus, as they would behind
  // a busy runner.
  auto first = Start("[api]", "");
  ASSERT_TRUE(first->Alive()) << first->Log();
  cli::ApiClient api(ApiFlagsOf(*first));
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    Json run = {{"action", "core.local"},
                {"parameters", {{"cmd", "echo run-" + std::to_string(i)}}}};
    auto r = api.Call("POST", "/v1/executions", &run);
    ASSERT_TRUE(r.ok() && r->status == 201) << (r.ok() ? r->body : r.message());
    ids.push_back(r->json().value("id", ""));
  }
  Kill9(*first);

  auto second = Start("", first->store_url());
  ASSERT_TRUE(second->Alive()) << second->Log();
  EXPECT_NE(second->Log().find("replayed 0 pending trigger instance(s) and 4 requested"),
            std::string::npos)
      << second->Log();
  cli::ApiClient api2(ApiFlagsOf(*second));
  for (size_t i = 0; i < ids.size(); ++i) {
    const Json done = WaitFinal(api2, ids[i]);
    EXPECT_EQ(done.value("status", ""), "succeeded") << done.dump();
    EXPECT_NE(done.dump().find("run-" + std::to_string(i)), std::string::npos) << done.dump();
  }
  EXPECT_EQ(second->Stop(), 0) << second->Log();

  // A third start finds nothing left to replay, and nothing ran twice.
  auto third = Start("", first->store_url());
  ASSERT_TRUE(third->Alive()) << third->Log();
  EXPECT_EQ(third->Log().find("replayed"), std::string::npos) << third->Log();
  auto store = third->OpenStore();
  ASSERT_TRUE(store);
  for (const auto& id : ids) {
    auto e = store->GetExecution(id);
    ASSERT_TRUE(e.ok() && e->has_value()) << id;
    EXPECT_EQ((**e).status, store::ExecStatus::kSucceeded) << id;
    EXPECT_EQ((**e).attempt, 1) << id;
    EXPECT_EQ(Runs(**e), 1) << id;
  }
  EXPECT_EQ(third->Stop(), 0) << third->Log();
}

TEST_F(CrashRecoveryTest, AWebhookAnswered2xxRunsItsRuleAfterAKill9) {
  // Without the rules role the trigger instance waits on the node's embedded bus.
  auto first = Start("[api]", "");
  ASSERT_TRUE(first->Alive()) << first->Log();
  cli::ApiClient api(ApiFlagsOf(*first));
  Json body = {{"service", "billing"}};
  auto fired = api.Call("POST", "/v1/webhooks/deploy", &body);
  ASSERT_TRUE(fired.ok() && fired->status == 202) << (fired.ok() ? fired->body : fired.message());
  const std::string instance = fired->json().value("id", "");
  ASSERT_FALSE(instance.empty()) << fired->body;
  Kill9(*first);

  auto second = Start("", first->store_url());
  ASSERT_TRUE(second->Alive()) << second->Log();
  EXPECT_NE(second->Log().find("replayed 1 pending trigger instance(s)"), std::string::npos)
      << second->Log();
  cli::ApiClient api2(ApiFlagsOf(*second));
  Json executions;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto list = api2.Call("GET", "/v1/executions?trigger_instance=" + instance);
        if (!list.ok() || list->status != 200) return false;
        executions = list->json();
        return executions.is_array() && !executions.empty();
      },
      60s))
      << second->Log();
  ASSERT_EQ(executions.size(), 1u) << executions.dump();
  const Json done = WaitFinal(api2, executions[0].value("id", ""));
  EXPECT_EQ(done.value("status", ""), "succeeded") << done.dump();
  EXPECT_NE(done.dump().find("deploying billing"), std::string::npos) << done.dump();
  auto store = second->OpenStore();
  ASSERT_TRUE(store);
  auto record = store->GetTriggerInstance(instance);
  ASSERT_TRUE(record.ok() && record->has_value());
  EXPECT_EQ((**record).status, store::TriggerStatus::kProcessed);
  EXPECT_EQ((**record).trigger_parameters, Json({{"url", "deploy"}}));
  EXPECT_EQ(second->Stop(), 0) << second->Log();
}

// No role crash-loops on one message: a trigger instance that ends the rules engine's process
// (a fault injected for the test: no known input does) is counted in the store before each
// attempt that is a process's first batch, and after three the node sets it aside to
// gale.dead-letters and goes on. `warm`: the node had worked triggers before the poison came;
// when the poison's partition was one of them, its attempt was a later batch and uncounted
// (ConsumerRole::WorkedSinceAssigned): one more crash at most, still bounded.
void PoisonIsSetAsideAfterCrashes(CrashRecoveryTest& t, bool warm, int max_crashes) {
  const std::vector<std::string> fault = {"GALE_TEST_FAILPOINTS=rules.abort_on=POISON"};
  auto first = t.Start("", "", fault);
  ASSERT_TRUE(first->Alive()) << first->Log();
  cli::ApiClient api(ApiFlagsOf(*first));
  auto store = first->OpenStore();
  ASSERT_TRUE(store);
  // Waits for the execution of a webhook that carries `service`.
  auto runs = [&](NodeProcess& node, const std::string& service) {
    cli::ApiClient client(ApiFlagsOf(node));
    Json body = {{"service", service}};
    auto fired = client.Call("POST", "/v1/webhooks/deploy", &body);
    ASSERT_TRUE(fired.ok() && fired->status == 202);
    const std::string id = fired->json().value("id", "");
    ASSERT_TRUE(WaitFor(
        [&] {
          auto page = store->ListExecutions({.trigger_instance = id});
          return page.ok() && !page->items.empty() &&
                 page->items[0].status == store::ExecStatus::kSucceeded;
        },
        60s))
        << node.Log();
  };
  if (warm) {
    for (int i = 0; i < 4; ++i) runs(*first, "web");
  }
  Json poison = {{"service", "POISON"}};
  auto fired = api.Call("POST", "/v1/webhooks/deploy", &poison);
  // The answer may be cut: a node already at work can reach the poison (and end) before the
  // API has written its 202. The instance was recorded before either: find it in the store.
  if (fired.ok()) {
    ASSERT_EQ(fired->status, 202) << fired->body;
  }
  std::string instance = fired.ok() ? fired->json().value("id", "") : "";
  if (instance.empty()) {
    auto listed = store->ListTriggerInstances({});
    ASSERT_TRUE(listed.ok()) << listed.message();
    for (const auto& ti : listed->items) {
      if (ti.payload.value("service", "") == "POISON") instance = ti.id;
    }
  }
  ASSERT_FALSE(instance.empty()) << "the poison was not recorded";
  const std::string store_url = first->store_url();
  ASSERT_TRUE(WaitFor([&] { return !first->Alive(); }, 60s)) << "the fault did not fire";
  EXPECT_EQ(first->Stop(), 128 + SIGABRT) << first->Log();
  kill(-first->pid(), SIGKILL);

  // Restarted, the node gets the instance again (replayed from the store) and ends again,
  // until a start sets it aside (the record says so) and serves.
  int ended = 1;
  std::unique_ptr<NodeProcess> last;
  auto set_aside = [&] {
    auto record = store->GetTriggerInstance(instance);
    return record.ok() && record->has_value() &&
           (**record).status == store::TriggerStatus::kProcessingFailed;
  };
  for (;;) {
    auto again = t.Start("", store_url, fault, /*wait_ready=*/false);
    ASSERT_TRUE(WaitFor([&] { return !again->Alive() || set_aside(); }, 60s)) << again->Log();
    if (again->Alive()) {
      last = std::move(again);
      break;
    }
    EXPECT_EQ(again->Stop(), 128 + SIGABRT) << again->Log();
    kill(-again->pid(), SIGKILL);
    ASSERT_LE(++ended, max_crashes) << "the poison is never set aside";
  }
  EXPECT_GE(ended, 3);
  ASSERT_TRUE(WaitFor([&] { return !last->api_url().empty(); }, 60s)) << last->Log();
  std::string brokers;  // started without waiting for ready: its embedded bus's address
  std::getline(std::ifstream(last->home() + "/bus.addr"), brokers);
  bus::DeadLetterMessage letter;
  ReadTopic(
      brokers, bus::Topic(bus::BusConfig{.topic_prefix = last->topic_prefix()}, bus::kDeadLetters),
      [&](const std::vector<bus::Message>& read) {
        for (const auto& m : read) {
          if (auto l = bus::DecodeDeadLetter(m.value); l.ok()) letter = *l;
        }
        return !letter.key.empty();
      },
      60s);
  EXPECT_EQ(letter.key, instance) << last->Log();
  EXPECT_NE(letter.reason.find("set aside after 3 attempts"), std::string::npos) << letter.reason;
  EXPECT_TRUE(last->Alive()) << last->Log();
  EXPECT_TRUE(set_aside());
  auto none = store->ListExecutions({.trigger_instance = instance});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->items.empty()) << "the poison's rule never ran";

  // The node goes on: the next webhook runs its rule.
  runs(*last, "api");
  EXPECT_EQ(last->Stop(), 0) << last->Log();
}

TEST_F(CrashRecoveryTest, AMessageThatEndsTheProcessIsSetAsideAfterThreeAttempts) {
  PoisonIsSetAsideAfterCrashes(*this, /*warm=*/false, /*max_crashes=*/3);
}

TEST_F(CrashRecoveryTest, APoisonAfterOtherWorkIsSetAsideAfterOneMoreCrash) {
  PoisonIsSetAsideAfterCrashes(*this, /*warm=*/true, /*max_crashes=*/4);
}

}  // namespace
}  // namespace gale::testing

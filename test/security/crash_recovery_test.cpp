// Nothing accepted is lost on the embedded default (issue 17, docs/operations.md "What the
// embedded bus can lose"): a node killed with -9 while executions wait in its in-memory bus, or
// after it answered a webhook 2xx but before any rule ran, does that work after a restart on the
// same store, and does it once.
#include <signal.h>

#include "host/bus/bus.h"
#include "host/bus/messages.h"

#include "test/support/api_fixture.h"

namespace gale::testing {
namespace {

using namespace std::chrono_literals;

class CrashRecoveryTest : public ::testing::Test {
 protected:
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
// attempt, and after three the node sets it aside to gale.dead-letters and goes on.
TEST_F(CrashRecoveryTest, AMessageThatEndsTheProcessIsSetAsideAfterThreeAttempts) {
  const std::vector<std::string> fault = {"GALE_TEST_FAILPOINTS=rules.abort_on=POISON"};
  auto first = Start("", "", fault);
  ASSERT_TRUE(first->Alive()) << first->Log();
  cli::ApiClient api(ApiFlagsOf(*first));
  Json poison = {{"service", "POISON"}};
  auto fired = api.Call("POST", "/v1/webhooks/deploy", &poison);
  ASSERT_TRUE(fired.ok() && fired->status == 202) << (fired.ok() ? fired->body : fired.message());
  const std::string instance = fired->json().value("id", "");
  const std::string store_url = first->store_url();
  ASSERT_TRUE(WaitFor([&] { return !first->Alive(); }, 60s)) << "the fault did not fire";
  EXPECT_EQ(first->Stop(), 128 + SIGABRT) << first->Log();
  kill(-first->pid(), SIGKILL);

  // Restarted, the node gets the instance again (replayed from the store) and ends again.
  for (int attempt = 2; attempt <= 3; ++attempt) {
    auto again = Start("", store_url, fault, /*wait_ready=*/false);
    ASSERT_TRUE(WaitFor([&] { return !again->Alive(); }, 60s)) << "attempt " << attempt;
    EXPECT_EQ(again->Stop(), 128 + SIGABRT) << again->Log();
    kill(-again->pid(), SIGKILL);
  }

  // The fourth start sets it aside and serves.
  auto fourth = Start("", store_url, fault);
  ASSERT_TRUE(fourth->Alive()) << fourth->Log();
  bus::DeadLetterMessage letter;
  ReadTopic(
      fourth->brokers(),
      bus::Topic(bus::BusConfig{.topic_prefix = fourth->topic_prefix()}, bus::kDeadLetters),
      [&](const std::vector<bus::Message>& read) {
        for (const auto& m : read) {
          if (auto l = bus::DecodeDeadLetter(m.value); l.ok()) letter = *l;
        }
        return !letter.key.empty();
      },
      60s);
  EXPECT_EQ(letter.key, instance) << fourth->Log();
  EXPECT_NE(letter.reason.find("set aside after 3 attempts"), std::string::npos) << letter.reason;
  EXPECT_TRUE(fourth->Alive()) << fourth->Log();
  auto store = fourth->OpenStore();
  ASSERT_TRUE(store);
  auto record = store->GetTriggerInstance(instance);
  ASSERT_TRUE(record.ok() && record->has_value());
  EXPECT_EQ((**record).status, store::TriggerStatus::kProcessingFailed);
  auto none = store->ListExecutions({.trigger_instance = instance});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->items.empty()) << "the poison's rule never ran";

  // The node goes on: the next webhook runs its rule.
  cli::ApiClient api4(ApiFlagsOf(*fourth));
  Json body = {{"service", "web"}};
  auto next = api4.Call("POST", "/v1/webhooks/deploy", &body);
  ASSERT_TRUE(next.ok() && next->status == 202);
  const std::string next_instance = next->json().value("id", "");
  ASSERT_TRUE(WaitFor(
      [&] {
        auto page = store->ListExecutions({.trigger_instance = next_instance});
        return page.ok() && !page->items.empty() &&
               page->items[0].status == store::ExecStatus::kSucceeded;
      },
      60s))
      << fourth->Log();
  EXPECT_EQ(fourth->Stop(), 0) << fourth->Log();
}

}  // namespace
}  // namespace gale::testing

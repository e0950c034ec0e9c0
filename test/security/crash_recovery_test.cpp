// Nothing accepted is lost on the embedded default (issue 17, docs/operations.md "What the
// embedded bus can lose"): a node killed with -9 while executions wait in its in-memory bus, or
// after it answered a webhook 2xx but before any rule ran, does that work after a restart on the
// same store, and does it once.
#include <signal.h>

#include "test/api/api_fixture.h"

namespace gale::testing {
namespace {

using namespace std::chrono_literals;

class CrashRecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override { WriteApiPacks(packs_.path()); }

  // A node on `store_url` ("" for a new store) with `roles` ("" for every role).
  std::unique_ptr<NodeProcess> Start(const std::string& roles, const std::string& store_url) {
    NodeOptions options;
    options.packs_paths = {packs_.str()};
    options.roles = roles;
    options.store_url = store_url;
    return NodeProcess::Start(options);
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

}  // namespace
}  // namespace gale::testing

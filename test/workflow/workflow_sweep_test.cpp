// Workflows against real nodes (issue 21), what the engine does besides following events:
// - the sweep for lost final events: a runner that dies (SIGABRT, at a failpoint) right after
//   recording a task's final status and before sending its event leaves the workflow's only task
//   in flight final with no event; another node's sweep moves the workflow on, and every task
//   ran exactly once (orquesta and action-chain; embedded bus, and real Kafka + MongoDB when
//   GALE_KAFKA_BROKERS and GALE_MONGODB_URL are set);
// - /metrics counts orquesta workflows (started, transitions, finished);
// - st2kv('system.x', decrypt=true) in an orquesta workflow gives an encrypted key's plain value,
//   and without decrypt its ciphertext, as StackStorm does.
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

#include "host/common/uuid.h"
#include "test/support/api_fixture.h"

namespace gale::testing {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The `wfs` pack: `lost` runs first, then `after` (an orquesta workflow and an action-chain);
// `steps`, three sequential tasks; `secret`, reading an encrypted datastore key.
void WriteSweepPack(const fs::path& root) {
  WriteFiles(root / "wfs",
             {{"pack.yaml",
               "---\nref: wfs\nname: wfs\ndescription: workflow sweep\nversion: 0.1.0\n"
               "author: tests\n"},
              {"actions/orq.yaml",
               "---\nname: orq\nrunner_type: orquesta\nentry_point: workflows/orq.yaml\n"},
              {"actions/workflows/orq.yaml", R"Y(version: 1.0
tasks:
  lost:
    action: core.local cmd="printf first"
    next:
      - when: <% succeeded() %>
        publish:
          - first: <% result().stdout %>
        do: after
  after:
    action: core.local cmd="printf second"
output:
  - both: <% ctx(first) + '+' + task(after).result.stdout %>
)Y"},
              {"actions/chain.yaml",
               "---\nname: chain\nrunner_type: action-chain\nentry_point: chains/chain.yaml\n"},
              {"actions/chains/chain.yaml",
               "---\nchain:\n"
               "  - name: lost\n    ref: core.local\n    parameters: {cmd: \"printf first\"}\n"
               "    on-success: after\n"
               "  - name: after\n    ref: core.local\n"
               "    parameters: {cmd: \"printf '{{ lost.stdout }}+second'\"}\n"},
              {"actions/steps.yaml",
               "---\nname: steps\nrunner_type: orquesta\nentry_point: workflows/steps.yaml\n"},
              {"actions/workflows/steps.yaml", R"Y(version: 1.0
tasks:
  one:
    action: core.noop
    next:
      - do: two
  two:
    action: core.local cmd="printf two"
    next:
      - do: three
  three:
    action: core.noop
)Y"},
              {"actions/secret.yaml",
               "---\nname: secret\nrunner_type: orquesta\nentry_point: workflows/secret.yaml\n"},
              {"actions/workflows/secret.yaml", R"Y(version: 1.0
tasks:
  show:
    action: core.local
    input:
      cmd: printf '%s' '<% st2kv('system.wfs_secret', decrypt => true) %>'
    next:
      - publish:
          - jinja: "{{ st2kv('system.wfs_secret', decrypt=true) }}"
          - sealed: <% st2kv('system.wfs_secret') %>
          - sealed_jinja: "{{ st2kv('system.wfs_secret') }}"
output:
  - plain: <% task(show).result.stdout %>
  - jinja: <% ctx(jinja) %>
  - sealed: <% ctx(sealed) %>
  - sealed_jinja: <% ctx(sealed_jinja) %>
)Y"}});
  ShareWithActions(root / "wfs");
}

std::string Start(cli::ApiClient& api, const std::string& action, const Json& parameters) {
  Json body = {{"action", action}, {"parameters", parameters}};
  auto created = api.Call("POST", "/v1/executions", &body);
  EXPECT_TRUE(created.ok()) << created.message();
  if (!created.ok()) return "";
  EXPECT_EQ(created->status, 201) << created->body;
  return created->json().value("id", "");
}

Json Get(cli::ApiClient& api, const std::string& id) {
  auto got = api.Call("GET", "/v1/executions/" + id);
  if (!got.ok() || got->status != 200) return Json::object();
  return got->json();
}

// The executions in the store whose parent is `id`, counted per task.
std::map<std::string, int> ExecutionsPerTask(store::Store& st, const std::string& id) {
  store::ExecutionQuery q;
  q.action = "core.local";
  q.limit = store::kMaxPageSize;
  auto page = st.ListExecutions(q);
  EXPECT_TRUE(page.ok()) << page.message();
  std::map<std::string, int> per_task;
  if (!page.ok()) return per_task;
  for (const auto& e : page->items) {
    if (e.parent == id) per_task[e.task]++;
  }
  return per_task;
}

// This node's value of gale_NAME on /metrics (-1 when absent).
double NodeMetric(cli::ApiClient& api, const std::string& name) {
  auto r = api.Call("GET", "/metrics");
  if (!r.ok() || r->status != 200) return -1;
  std::istringstream lines(r->body);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("gale_" + name + "{", 0) != 0) continue;
    return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

// A hub (the API and, embedded, the bus and store) and two runner nodes, both of which abort
// right after recording the final status of a task named `lost`, before its event is sent.
// Whichever runs `lost` dies in that window; the other one's sweep must move the workflow on.
void LostFinalEvent(Backend backend, const std::string& action) {
  TempDir packs;
  WriteApiPacks(packs.path());
  WriteSweepPack(packs.path());
  NodeOptions base;
  base.packs_paths = {packs.str()};
  if (backend == Backend::kRealKafka) {
    const char* mongo_env = std::getenv("GALE_MONGODB_URL");
    if (RealBrokers().empty() || mongo_env == nullptr) GTEST_SKIP() << "no real Kafka/MongoDB";
    std::string mongo = mongo_env;
    base.backend = Backend::kRealKafka;
    base.store_url = mongo.substr(0, mongo.rfind('/')) + "/gale_wfs_" + UuidV4().substr(0, 8);
    base.brokers = RealBrokers();
    base.topic_prefix = "gale-wfs-" + UuidV4().substr(0, 8) + ".";
  }
  NodeOptions h = base;
  h.node_name = "hub";
  h.roles = "[api]";
  auto hub = NodeProcess::Start(h);
  ASSERT_TRUE(hub);
  base.brokers = hub->brokers();
  base.topic_prefix = hub->topic_prefix();
  base.store_url = hub->store_url();
  std::map<std::string, std::unique_ptr<NodeProcess>> workers;
  for (const char* name : {"worker-1", "worker-2"}) {
    NodeOptions o = base;
    o.node_name = name;
    o.roles = "[runner]";
    o.env = {"GALE_TEST_FAILPOINTS=runner.abort_before_final_event=lost"};
    workers[name] = NodeProcess::Start(o);
    ASSERT_TRUE(workers[name]);
  }
  auto logs = [&] {
    std::string all;
    for (const auto& [name, w] : workers) all += w->Log();
    return all;
  };
  cli::ApiClient api(ApiFlagsOf(*hub));
  const std::string id = Start(api, action, Json::object());
  // The runner of `lost` dies in the window.
  std::string dead, alive;
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& [name, w] : workers) {
          if (!w->Alive()) dead = name;
        }
        return !dead.empty();
      },
      60s))
      << Get(api, id).dump(2) << logs();
  for (const auto& [name, w] : workers) {
    if (name != dead) alive = name;
  }
  ASSERT_TRUE(workers[alive]->Alive()) << logs();
  // `lost` is final in the store, with no event sent for it.
  auto st = hub->OpenStore();
  ASSERT_NE(st, nullptr);
  Json lost;
  for (const auto& c : Get(api, id).value("children", Json::array())) {
    if (c.value("task", "") == "lost") lost = c;
  }
  ASSERT_FALSE(lost.empty()) << Get(api, id).dump(2);
  EXPECT_EQ(lost.value("status", ""), "succeeded") << lost.dump(2);
  EXPECT_EQ(lost.value("node", ""), dead) << lost.dump(2);

  // The survivor's sweep moves the workflow on: `after` runs, once, and the workflow succeeds.
  Json done = WaitFinal(api, id, 120s);
  EXPECT_EQ(done.value("status", ""), "succeeded") << Get(api, id).dump(2) << logs();
  const Json e = Get(api, id);
  if (action == "wfs.orq") {
    EXPECT_EQ(e["result"]["output"]["both"], "first+second") << e.dump(2);
  } else {
    const Json tasks = e["result"].value("tasks", Json::array());
    ASSERT_EQ(tasks.size(), 2u) << e.dump(2);
    EXPECT_EQ(tasks[1]["result"]["stdout"], "first+second") << e.dump(2);
  }
  EXPECT_EQ(ExecutionsPerTask(*st, id), (std::map<std::string, int>{{"after", 1}, {"lost", 1}}));
  EXPECT_NE(workers[alive]->Log().find("but its event never came; handled by the sweep"),
            std::string::npos)
      << logs();
}

TEST(LostFinalEvent, OrquestaWorkflowMovesOnEmbedded) {
  LostFinalEvent(Backend::kEmbedded, "wfs.orq");
}

TEST(LostFinalEvent, ActionChainMovesOnEmbedded) {
  LostFinalEvent(Backend::kEmbedded, "wfs.chain");
}

TEST(LostFinalEvent, OrquestaWorkflowMovesOnKafkaAndMongo) {
  LostFinalEvent(Backend::kRealKafka, "wfs.orq");
}

class OrquestaNodeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    packs_ = std::make_unique<TempDir>();
    WriteApiPacks(packs_->path());
    WriteSweepPack(packs_->path());
    NodeOptions options;
    options.packs_paths = {packs_->str()};
    node_ = NodeProcess::Start(options);
  }
  static void TearDownTestSuite() {
    if (node_) {
      EXPECT_EQ(node_->Stop(), 0) << node_->Log();
    }
    node_.reset();
    packs_.reset();
  }
  void SetUp() override { ASSERT_TRUE(node_) << "the node did not start"; }
  static cli::ApiClient Api() { return cli::ApiClient(ApiFlagsOf(*node_)); }

  static std::unique_ptr<TempDir> packs_;
  static std::unique_ptr<NodeProcess> node_;
};
std::unique_ptr<TempDir> OrquestaNodeTest::packs_;
std::unique_ptr<NodeProcess> OrquestaNodeTest::node_;

// /metrics counts an orquesta workflow as it counts a chain: started once, one transition per
// task's final event, finished once.
TEST_F(OrquestaNodeTest, MetricsCountOrquestaWorkflows) {
  auto api = Api();
  const double started = NodeMetric(api, "workflows_started");
  const double transitions = NodeMetric(api, "workflow_transitions");
  const double finished = NodeMetric(api, "workflows_finished");
  ASSERT_GE(started, 0) << "no gale_workflows_started on /metrics";
  ASSERT_GE(transitions, 0) << "no gale_workflow_transitions on /metrics";
  ASSERT_GE(finished, 0) << "no gale_workflows_finished on /metrics";
  const std::string id = Start(api, "wfs.steps", Json::object());
  Json done = WaitFinal(api, id);
  ASSERT_EQ(done.value("status", ""), "succeeded") << Get(api, id).dump(2) << node_->Log();
  EXPECT_EQ(Get(api, id).value("children", Json::array()).size(), 3u);
  // The counters move once the engine has handled the events (the workflow's own final status
  // is stored before its counter moves).
  EXPECT_TRUE(WaitFor([&] { return NodeMetric(api, "workflows_finished") >= finished + 1; }, 10s))
      << NodeMetric(api, "workflows_finished") << " " << finished;
  EXPECT_EQ(NodeMetric(api, "workflows_started"), started + 1);
  EXPECT_EQ(NodeMetric(api, "workflow_transitions"), transitions + 3);
  EXPECT_EQ(NodeMetric(api, "workflows_finished"), finished + 1);
  EXPECT_EQ(NodeMetric(api, "workflow_tasks_swept"), 0);  // every event came
}

// StackStorm: st2kv('system.k', decrypt=true) is the plain value of an encrypted key; without
// decrypt, the value as stored (the ciphertext), which is what GET /v1/keys/k shows.
TEST_F(OrquestaNodeTest, St2kvDecryptsAnEncryptedKey) {
  auto api = Api();
  Json body = {{"value", "hunter2 s3cret"}, {"secret", true}};
  auto put = api.Call("PUT", "/v1/keys/wfs_secret", &body);
  ASSERT_TRUE(put.ok() && put->status < 300) << (put.ok() ? put->body : put.message());
  auto shown = api.Call("GET", "/v1/keys/wfs_secret");
  ASSERT_TRUE(shown.ok() && shown->status == 200) << (shown.ok() ? shown->body : shown.message());
  const std::string sealed = shown->json().value("value", "");
  ASSERT_FALSE(sealed.empty());
  ASSERT_EQ(sealed.find("hunter2"), std::string::npos) << sealed;  // stored encrypted

  const std::string id = Start(api, "wfs.secret", Json::object());
  Json done = WaitFinal(api, id);
  ASSERT_EQ(done.value("status", ""), "succeeded") << Get(api, id).dump(2) << node_->Log();
  const Json output = Get(api, id)["result"]["output"];
  EXPECT_EQ(output["plain"], "hunter2 s3cret") << output.dump(2);
  EXPECT_EQ(output["jinja"], "hunter2 s3cret") << output.dump(2);
  EXPECT_EQ(output["sealed"], sealed) << output.dump(2);
  EXPECT_EQ(output["sealed_jinja"], sealed) << output.dump(2);
}

}  // namespace
}  // namespace gale::testing

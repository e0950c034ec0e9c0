// Operating a running workflow (issue 21) against real nodes, as a user does it with the CLI and
// the API: pause (no new task starts; paused once the running task ends) and resume (the recorded
// next task runs, once), on the embedded bus and on real Kafka + MongoDB; `gale execution tail`
// of a workflow, which prints its tasks' output prefixed with their names; and the state
// document removed once the workflow has ended, with a final event delivered again changing
// nothing.
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

#include "host/bus/bus.h"
#include "host/bus/messages.h"
#include "host/common/key_file.h"
#include "host/common/uuid.h"
#include "host/store/workflow_state.h"
#include "test/support/api_fixture.h"

namespace gale::testing {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The `ops` pack: steps (three links, the first one sleeps), quick (two links, no sleep), and
// broken (its second link fails, nothing handles it).
void WriteOpsPack(const fs::path& root) {
  WriteFiles(root / "ops",
             {{"pack.yaml",
               "---\nref: ops\nname: ops\ndescription: workflow operations\nversion: 0.1.0\n"
               "author: tests\n"},
              {"actions/steps.yaml",
               "---\nname: steps\nrunner_type: action-chain\nentry_point: chains/steps.yaml\n"
               "parameters:\n  seconds: {type: integer, default: 2}\n"},
              {"actions/chains/steps.yaml",
               "---\nchain:\n"
               "  - name: one\n    ref: core.local\n"
               "    parameters: {cmd: \"sleep {{ seconds }}; echo one-out\"}\n"
               "    on-success: two\n"
               "  - name: two\n    ref: core.local\n"
               "    parameters: {cmd: \"printf 'two-a\\\\ntwo-b\\\\n'\"}\n"
               "    on-success: three\n"
               "  - name: three\n    ref: core.local\n"
               "    parameters: {cmd: \"echo three-out\"}\n"},
              {"actions/quick.yaml",
               "---\nname: quick\nrunner_type: action-chain\nentry_point: chains/quick.yaml\n"},
              {"actions/chains/quick.yaml",
               "---\nchain:\n"
               "  - name: a\n    ref: core.local\n    parameters: {cmd: \"echo a\"}\n"
               "    on-success: b\n"
               "  - name: b\n    ref: core.local\n    parameters: {cmd: \"echo b\"}\n"},
              {"actions/race.yaml",
               "---\nname: race\nrunner_type: action-chain\nentry_point: chains/race.yaml\n"},
              {"actions/chains/race.yaml",
               "---\nchain:\n"
               "  - name: race1\n    ref: core.local\n    parameters: {cmd: \"echo 1\"}\n"
               "    on-success: race2\n"
               "  - name: race2\n    ref: core.local\n    parameters: {cmd: \"echo 2\"}\n"},
              {"actions/broken.yaml",
               "---\nname: broken\nrunner_type: action-chain\nentry_point: chains/broken.yaml\n"},
              {"actions/chains/broken.yaml",
               "---\nchain:\n"
               "  - name: fine\n    ref: core.local\n    parameters: {cmd: \"echo fine\"}\n"
               "    on-success: bad\n"
               "  - name: bad\n    ref: core.local\n"
               "    parameters: {cmd: \"echo bad-out; exit 5\"}\n"}});
  ShareWithActions(root / "ops");
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

using Row = std::pair<std::string, std::string>;
std::vector<Row> Tasks(const Json& e) {
  std::vector<Row> out;
  for (const auto& c : e.value("children", Json::array())) {
    out.emplace_back(c.value("task", ""), c.value("status", ""));
  }
  return out;
}

std::string StatusOf(cli::ApiClient& api, const std::string& id) {
  return Get(api, id).value("status", "");
}

bool WaitStatus(cli::ApiClient& api, const std::string& id, const std::string& status,
                std::chrono::milliseconds deadline = 30s) {
  return WaitFor([&] { return StatusOf(api, id) == status; }, deadline);
}

// How many executions each task of workflow `id` has in the store.
std::map<std::string, int> ExecutionsPerTask(const NodeProcess& node, const std::string& id) {
  std::map<std::string, int> per_task;
  auto store = node.OpenStore();
  if (store == nullptr) return per_task;
  store::ExecutionQuery q;
  q.action = "core.local";
  q.limit = store::kMaxPageSize;
  auto page = store->ListExecutions(q);
  if (!page.ok()) return per_task;
  for (const auto& e : page->items) {
    if (e.parent == id) per_task[e.task]++;
  }
  return per_task;
}

std::optional<Json> StateOf(const NodeProcess& node, const std::string& id) {
  auto store = node.OpenStore();
  if (store == nullptr) return std::nullopt;
  auto loaded = store::LoadState(*store, id);
  EXPECT_TRUE(loaded.ok()) << loaded.message();
  return loaded.ok() ? *loaded : std::nullopt;
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

// Pause mid-workflow, then resume: the running link ends, the next one is recorded but not
// requested while paused, and runs once after the resume; the rest of the chain follows.
void PauseAndResume(Backend backend) {
  TempDir packs;
  WriteApiPacks(packs.path());
  WriteOpsPack(packs.path());
  NodeOptions options;
  options.packs_paths = {packs.str()};
  if (backend == Backend::kRealKafka) {
    const char* mongo_env = std::getenv("GALE_MONGODB_URL");
    if (RealBrokers().empty() || mongo_env == nullptr) GTEST_SKIP() << "no real Kafka/MongoDB";
    std::string mongo = mongo_env;
    options.backend = Backend::kRealKafka;
    options.store_url = mongo.substr(0, mongo.rfind('/')) + "/gale_wfops_" + UuidV4().substr(0, 8);
    options.brokers = RealBrokers();
    options.topic_prefix = "gale-wfops-" + UuidV4().substr(0, 8) + ".";
  }
  auto node = NodeProcess::Start(options);
  ASSERT_TRUE(node);
  cli::ApiClient api(ApiFlagsOf(*node));
  const std::string id = Start(api, "ops.steps", {{"seconds", 2}});
  ASSERT_TRUE(WaitFor(
      [&] {
        auto tasks = Tasks(Get(api, id));
        return !tasks.empty() && tasks[0].second == "running";
      },
      30s))
      << Get(api, id).dump(2) << node->Log();

  int code = -1;
  std::string out = RunGale(node->home(), "execution pause " + id, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("execution " + id + " pausing"), std::string::npos) << out;
  // The running link is not touched: it ends, then the workflow is paused with nothing after it.
  ASSERT_TRUE(WaitStatus(api, id, "paused")) << Get(api, id).dump(2) << node->Log();
  EXPECT_EQ(Tasks(Get(api, id)), (std::vector<Row>{{"one", "succeeded"}}));
  auto state = StateOf(*node, id);
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ((*state)["pending"], Json::array({{{"task", "two"}}})) << state->dump(2);
  // Paused stays paused: no new link is requested meanwhile.
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(StatusOf(api, id), "paused");
  EXPECT_EQ(Tasks(Get(api, id)).size(), 1u) << Get(api, id).dump(2);
  EXPECT_EQ(NodeMetric(api, "workflows_paused"), 1) << node->Log();

  // Pausing again, or resuming something that is not paused, is refused with the reason.
  out = RunGale(node->home(), "execution pause " + id, &code);
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("is paused: only a running workflow can be paused"), std::string::npos) << out;

  out = RunGale(node->home(), "execution resume " + id, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("execution " + id + " resuming"), std::string::npos) << out;
  Json done = WaitFinal(api, id, 60s);
  EXPECT_EQ(done.value("status", ""), "succeeded") << Get(api, id).dump(2) << node->Log();
  EXPECT_EQ(Tasks(Get(api, id)),
            (std::vector<Row>{{"one", "succeeded"}, {"two", "succeeded"}, {"three", "succeeded"}}));
  EXPECT_EQ(ExecutionsPerTask(*node, id),
            (std::map<std::string, int>{{"one", 1}, {"three", 1}, {"two", 1}}));
  // The log shows the way it went.
  std::vector<std::string> log;
  for (const auto& s : Get(api, id).value("log", Json::array()))
    log.push_back(s.value("status", ""));
  EXPECT_EQ(log, (std::vector<std::string>{"requested", "running", "pausing", "paused", "resuming",
                                           "running", "succeeded"}));
  EXPECT_EQ(NodeMetric(api, "workflows_resumed"), 1);

  // A finished workflow is neither paused nor resumed.
  out = RunGale(node->home(), "execution resume " + id, &code);
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("is succeeded: it has finished"), std::string::npos) << out;
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

TEST(WorkflowPause, PauseThenResumeEmbedded) {
  PauseAndResume(Backend::kEmbedded);
}

TEST(WorkflowPause, PauseThenResumeKafkaAndMongo) {
  PauseAndResume(Backend::kRealKafka);
}

// A link that ends before its step has stored the state naming it (the first link before the
// workflow's state exists, the second before the state lists it), on two nodes: every step
// waits 1 s before its save, while the other node runs the link and its engine sees the link's
// end. That event is handled again shortly rather than dropped, and every chain finishes with
// one execution per link.
TEST(WorkflowRace, TaskEndingBeforeItsStepIsStoredIsNotLost) {
  TempDir packs;
  WriteApiPacks(packs.path());
  WriteOpsPack(packs.path());
  NodeOptions options;
  options.packs_paths = {packs.str()};
  options.env = {"GALE_TEST_FAILPOINTS=workflow.delay_save=race"};
  options.node_name = "node-a";
  auto a = NodeProcess::Start(options);
  ASSERT_TRUE(a);
  options.node_name = "node-b";
  options.join = a.get();
  auto b = NodeProcess::Start(options);
  ASSERT_TRUE(b);
  cli::ApiClient api(ApiFlagsOf(*a));
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(Start(api, "ops.race", Json::object()));
  for (const auto& id : ids) {
    Json done = WaitFinal(api, id, 90s);
    EXPECT_EQ(done.value("status", ""), "succeeded")
        << Get(api, id).dump(2) << a->Log() << b->Log();
    EXPECT_EQ(Tasks(Get(api, id)),
              (std::vector<Row>{{"race1", "succeeded"}, {"race2", "succeeded"}}));
    EXPECT_EQ(ExecutionsPerTask(*a, id), (std::map<std::string, int>{{"race1", 1}, {"race2", 1}}));
  }
  // Whether the race happened depends on which node owns which partition: said, not asserted.
  const std::string logs = a->Log() + b->Log();
  std::printf("task ends seen before their step was stored: %s\n",
              logs.find("ended before") != std::string::npos ? "yes" : "no");
  EXPECT_EQ(b->Stop(), 0) << b->Log();
  EXPECT_EQ(a->Stop(), 0) << a->Log();
}

class WorkflowOpsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    packs_ = std::make_unique<TempDir>();
    WriteApiPacks(packs_->path());
    WriteOpsPack(packs_->path());
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
std::unique_ptr<TempDir> WorkflowOpsTest::packs_;
std::unique_ptr<NodeProcess> WorkflowOpsTest::node_;

TEST_F(WorkflowOpsTest, PauseAndResumeRefuseWhatIsNotAWorkflowOrNotInTheRightState) {
  auto api = Api();
  int code = -1;
  // Not a workflow.
  const std::string plain = Start(api, "core.local", {{"cmd", "echo plain"}});
  ASSERT_EQ(WaitFinal(api, plain).value("status", ""), "succeeded");
  std::string out = RunGale(node_->home(), "execution pause " + plain, &code);
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("(core.local) is not a workflow: only workflows are paused"),
            std::string::npos)
      << out;
  out = RunGale(node_->home(), "execution resume " + plain, &code);
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("is not a workflow: only workflows are resumed"), std::string::npos) << out;
  out = RunGale(node_->home(), "execution pause no-such-id", &code);
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("not found"), std::string::npos) << out;
  out = RunGale(node_->home(), "execution pause --help", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("Pause a running workflow"), std::string::npos) << out;

  // StackStorm's form: PUT /v1/executions/ID {"status": ...}.
  const std::string id = Start(api, "ops.steps", {{"seconds", 3}});
  ASSERT_TRUE(WaitFor([&] { return StatusOf(api, id) == "running"; }, 30s));
  Json bad = {{"status", "succeeded"}};
  auto r = api.Call("PUT", "/v1/executions/" + id, &bad);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400) << r->body;
  Json resume = {{"status", "resuming"}};
  r = api.Call("PUT", "/v1/executions/" + id, &resume);
  EXPECT_EQ(r->status, 409) << r->body;
  EXPECT_NE(r->body.find("only a paused workflow can be resumed"), std::string::npos) << r->body;
  Json pause = {{"status", "pausing"}};
  r = api.Call("PUT", "/v1/executions/" + id, &pause);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->json().value("status", ""), "pausing");
  // Resuming before the running task has ended is refused, saying why.
  Json empty = Json::object();
  r = api.Call("POST", "/v1/executions/" + id + "/resume", &empty);
  EXPECT_EQ(r->status, 409) << r->body;
  EXPECT_NE(r->body.find("resume it once it is paused"), std::string::npos) << r->body;
  // A paused workflow can be canceled: it ends canceled, the next link never runs.
  ASSERT_TRUE(WaitStatus(api, id, "paused")) << Get(api, id).dump(2) << node_->Log();
  out = RunGale(node_->home(), "execution cancel " + id, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(WaitFinal(api, id, 20s).value("status", ""), "canceled") << node_->Log();
  EXPECT_EQ(Tasks(Get(api, id)), (std::vector<Row>{{"one", "succeeded"}}));
  EXPECT_FALSE(StateOf(*node_, id).has_value()) << "its state goes once it has ended";
}

// `gale execution tail` of a workflow prints each task's output, prefixed with its name, in the
// order the tasks ran, and ends with the workflow (exit code: whether it succeeded).
TEST_F(WorkflowOpsTest, TailFollowsTheTasksAndEndsWithTheWorkflow) {
  auto api = Api();
  const std::string id = Start(api, "ops.steps", {{"seconds", 1}});
  int code = -1;
  std::string out = RunGale(node_->home(), "execution tail " + id, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(StatusOf(api, id), "succeeded") << "tail ended before the workflow";
  const size_t one = out.find("[one] one-out\n"), two_a = out.find("[two] two-a\n"),
               two_b = out.find("[two] two-b\n"), three = out.find("[three] three-out\n");
  ASSERT_NE(one, std::string::npos) << out;
  ASSERT_NE(two_a, std::string::npos) << out;
  ASSERT_NE(two_b, std::string::npos) << out;
  ASSERT_NE(three, std::string::npos) << out;
  EXPECT_LT(one, two_a) << out;
  EXPECT_LT(two_a, two_b) << out;
  EXPECT_LT(two_b, three) << out;
  EXPECT_NE(out.find("task three succeeded"), std::string::npos) << out;
  EXPECT_NE(out.find("execution " + id + " succeeded"), std::string::npos) << out;

  // A workflow that fails: its failing task's output, and exit 1. Tailed after it ended (its
  // state is gone; the tasks come from its result).
  const std::string failed = Start(api, "ops.broken", Json::object());
  ASSERT_EQ(WaitFinal(api, failed).value("status", ""), "failed");
  out = RunGale(node_->home(), "execution tail " + failed, &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("[fine] fine\n"), std::string::npos) << out;
  EXPECT_NE(out.find("[bad] bad-out\n"), std::string::npos) << out;
  EXPECT_NE(out.find("task bad failed"), std::string::npos) << out;

  // A plain execution is tailed as before: its output, no prefix.
  const std::string plain = Start(api, "core.local", {{"cmd", "echo plain-out"}});
  out = RunGale(node_->home(), "execution tail " + plain, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("plain-out"), std::string::npos) << out;
  EXPECT_EQ(out.find("[]"), std::string::npos) << out;
}

// Once a workflow has ended its state document is gone; its tasks' final events delivered again
// (as after a crash before their offsets were committed) start nothing and bring nothing back.
TEST_F(WorkflowOpsTest, FinishedWorkflowStateIsRemovedAndAReplayedEventChangesNothing) {
  auto api = Api();
  const std::string id = Start(api, "ops.quick", Json::object());
  Json done = WaitFinal(api, id);
  ASSERT_EQ(done.value("status", ""), "succeeded") << node_->Log();
  ASSERT_TRUE(WaitFor([&] { return !StateOf(*node_, id).has_value(); }, 10s))
      << StateOf(*node_, id)->dump(2);
  // The task tree is still shown (from the result).
  EXPECT_EQ(Tasks(Get(api, id)), (std::vector<Row>{{"a", "succeeded"}, {"b", "succeeded"}}));

  // Replay both tasks' final events, signed with the deployment's key.
  auto key = LoadOrCreateKeyFile(SharedBusKeyFile(), "the bus key", "bus.signing_key_file");
  ASSERT_TRUE(key.ok()) << key.message();
  bus::BusConfig config;
  config.brokers = node_->brokers();
  config.topic_prefix = node_->topic_prefix();
  config.signing_key.assign(reinterpret_cast<const char*>(key->data()), key->size());
  auto producer = bus::Producer::Create(config);
  ASSERT_TRUE(producer.ok()) << producer.message();
  const double transitions = NodeMetric(api, "workflow_transitions");
  const Json children = Get(api, id).value("children", Json::array());
  ASSERT_EQ(children.size(), 2u);
  for (const auto& c : children) {
    bus::ExecutionEventMessage event;
    event.id = c.value("id", "");
    event.status = "succeeded";
    event.at = store::NowMs();
    event.node = "replay";
    event.result = c.value("result", Json::object());
    event.parent = id;
    event.task = c.value("task", "");
    auto sent = (*producer)->ProduceSync(bus::Topic(config, bus::kExecutionEvents), event.id,
                                         bus::Encode(event), 30s);
    ASSERT_TRUE(sent.ok()) << sent.message();
  }
  // Both were handled by the engine...
  ASSERT_TRUE(
      WaitFor([&] { return NodeMetric(api, "workflow_transitions") >= transitions + 2; }, 30s))
      << NodeMetric(api, "workflow_transitions") << " " << transitions << node_->Log();
  // ...and changed nothing: no new task, no state, the same status.
  EXPECT_EQ(StatusOf(api, id), "succeeded");
  EXPECT_EQ(ExecutionsPerTask(*node_, id), (std::map<std::string, int>{{"a", 1}, {"b", 1}}));
  EXPECT_FALSE(StateOf(*node_, id).has_value());
}

}  // namespace
}  // namespace gale::testing

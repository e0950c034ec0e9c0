// The action-chain runner (issue 21) against real nodes: chains written from StackStorm's
// ActionChain documentation, run through the API as a user runs them. Success and failure
// branches, vars, publish, the chain's parameters and earlier links' results; a chain refused at
// registration with file:line; cancel mid-chain; and kill -9 of the node running a link, with
// other nodes sharing the bus and store (the embedded bus, and real Kafka + MongoDB when
// GALE_KAFKA_BROKERS and GALE_MONGODB_URL are set): the chain finishes, each link ran once.
#include <signal.h>

#include <filesystem>
#include <map>

#include "host/common/uuid.h"
#include "test/support/api_fixture.h"

namespace gale::testing {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The `chains` pack: flow (branches, vars, publish), slow (a link that sleeps).
void WriteChainPack(const fs::path& root) {
  WriteFiles(root / "chains",
             {{"pack.yaml",
               "---\nref: chains\nname: chains\ndescription: action chains\nversion: 0.1.0\n"
               "author: tests\n"},
              {"actions/flow.yaml",
               "---\nname: flow\nrunner_type: action-chain\nentry_point: chains/flow.yaml\n"
               "parameters:\n  who: {type: string, default: world}\n"
               "  fail_first: {type: boolean, default: false}\n"
               "  fail_second: {type: boolean, default: false}\n"},
              {"actions/chains/flow.yaml",
               "---\n"
               "vars:\n"
               "  greeting: \"hello {{ who }}\"\n"
               "chain:\n"
               "  - name: first\n"
               "    ref: core.local\n"
               "    parameters:\n"
               "      cmd: \"printf %s '{{ greeting }}'{% if fail_first %}; exit 3{% endif %}\"\n"
               "    publish:\n"
               "      said: \"{{ first.stdout }}\"\n"
               "      code: \"{{ first.return_code }}\"\n"
               "    on-success: second\n"
               "    on-failure: recover\n"
               "  - name: second\n"
               "    ref: core.local\n"
               "    parameters:\n"
               "      cmd: \"printf '%s|%s|%s' '{{ said }}' '{{ first.stdout }}' '{{ code }}'"
               "{% if fail_second %}; exit 4{% endif %}\"\n"
               "  - name: recover\n"
               "    ref: core.local\n"
               "    parameters:\n"
               "      cmd: \"printf 'recovered from %s' '{{ first.return_code }}'\"\n"
               "default: first\n"},
              {"actions/slow.yaml",
               "---\nname: slow\nrunner_type: action-chain\nentry_point: chains/slow.yaml\n"
               "parameters:\n  seconds: {type: integer, default: 30}\n"},
              {"actions/chains/slow.yaml",
               "---\nchain:\n"
               "  - name: wait\n    ref: core.local\n"
               "    parameters: {cmd: \"sleep {{ seconds }}\"}\n"
               "    on-success: after\n    on-failure: after\n"
               "  - name: after\n    ref: core.local\n    parameters: {cmd: \"printf done\"}\n"}});
  ShareWithActions(root / "chains");
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

// The task names of a workflow's children with their statuses, in order.
std::vector<std::pair<std::string, std::string>> Tasks(const Json& e) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& c : e.value("children", Json::array())) {
    out.emplace_back(c.value("task", ""), c.value("status", ""));
  }
  return out;
}

// Waits until the workflow's first child is running; returns that child.
Json WaitFirstChildRunning(cli::ApiClient& api, const std::string& id) {
  Json child;
  WaitFor(
      [&] {
        Json e = Get(api, id);
        const Json children = e.value("children", Json::array());
        if (children.empty() || children[0].value("status", "") != "running") return false;
        child = children[0];
        return true;
      },
      30s);
  return child;
}

class ActionChainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    packs_ = std::make_unique<TempDir>();
    WriteApiPacks(packs_->path());
    WriteChainPack(packs_->path());
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
std::unique_ptr<TempDir> ActionChainTest::packs_;
std::unique_ptr<NodeProcess> ActionChainTest::node_;

TEST_F(ActionChainTest, SuccessBranchPublishesVarsAndPassesResults) {
  auto api = Api();
  Json done = WaitFinal(api, Start(api, "chains.flow", {{"who", "ann"}}));
  ASSERT_EQ(done.value("status", ""), "succeeded") << done.dump(2) << node_->Log();
  Json e = Get(api, done["id"]);
  using Row = std::pair<std::string, std::string>;
  EXPECT_EQ(Tasks(e), (std::vector<Row>{{"first", "succeeded"}, {"second", "succeeded"}}))
      << e.dump(2);
  // vars from the chain's parameters; publish from a link's result; a link's result by name.
  EXPECT_EQ(e["children"][1]["result"]["stdout"], "hello ann|hello ann|0") << e.dump(2);
  EXPECT_EQ(e["result"]["published"]["said"], "hello ann");
  ASSERT_EQ(e["result"]["tasks"].size(), 2u);
  EXPECT_EQ(e["result"]["tasks"][0]["name"], "first");
  // Each child names its workflow and task.
  EXPECT_EQ(e["children"][0]["parent"], done["id"]);
  EXPECT_EQ(e["children"][0]["task"], "first");

  // The CLI shows the task tree; --json gives it whole.
  int code = -1;
  std::string out = RunGale(node_->home(), "execution get " + done["id"].get<std::string>(), &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("tasks:"), std::string::npos) << out;
  EXPECT_NE(out.find("first"), std::string::npos) << out;
  EXPECT_NE(out.find("second"), std::string::npos) << out;
  out = RunGale(node_->home(), "execution get --json " + done["id"].get<std::string>(), &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(Json::parse(out, nullptr, false).value("children", Json::array()).size(), 2u) << out;
}

TEST_F(ActionChainTest, FailureBranchRunsOnFailureAndLastLinkDecides) {
  auto api = Api();
  Json done = WaitFinal(api, Start(api, "chains.flow", {{"fail_first", true}}));
  // The failure was handled: the chain's status is its last link's, as in StackStorm.
  ASSERT_EQ(done.value("status", ""), "succeeded") << done.dump(2) << node_->Log();
  Json e = Get(api, done["id"]);
  using Row = std::pair<std::string, std::string>;
  EXPECT_EQ(Tasks(e), (std::vector<Row>{{"first", "failed"}, {"recover", "succeeded"}}))
      << e.dump(2);
  EXPECT_EQ(e["children"][1]["result"]["stdout"], "recovered from 3");
  EXPECT_FALSE(e["result"]["published"].contains("said"));  // published on success only

  done = WaitFinal(api, Start(api, "chains.flow", {{"fail_second", true}}));
  EXPECT_EQ(done.value("status", ""), "failed") << done.dump(2);
  EXPECT_EQ(Tasks(Get(api, done["id"])),
            (std::vector<Row>{{"first", "succeeded"}, {"second", "failed"}}));
}

TEST_F(ActionChainTest, CancelStopsTheRunningLinkAndTheChain) {
  auto api = Api();
  const std::string id = Start(api, "chains.slow", {{"seconds", 30}});
  Json child = WaitFirstChildRunning(api, id);
  ASSERT_FALSE(child.empty()) << Get(api, id).dump(2) << node_->Log();
  int code = -1;
  std::string out = RunGale(node_->home(), "execution cancel " + id, &code);
  EXPECT_EQ(code, 0) << out;
  Json done = WaitFinal(api, id, 20s);
  EXPECT_EQ(done.value("status", ""), "canceled") << done.dump(2) << node_->Log();
  using Row = std::pair<std::string, std::string>;
  EXPECT_EQ(Tasks(Get(api, id)), (std::vector<Row>{{"wait", "canceled"}}));  // `after` never ran
}

TEST(ActionChainRegistration, InvalidChainRefusedWithFileAndLine) {
  TempDir packs;
  WriteApiPacks(packs.path());
  WriteFiles(packs.path() / "bad",
             {{"pack.yaml", "---\nref: bad\nname: bad\nversion: 0.1.0\nauthor: tests\n"},
              {"actions/broken.yaml",
               "---\nname: broken\nrunner_type: action-chain\nentry_point: chains/broken.yaml\n"},
              {"actions/chains/broken.yaml",
               "---\n"                               // 1
               "chain:\n"                            // 2
               "  - name: a\n"                       // 3
               "    ref: core.local\n"               // 4
               "    parameters:\n"                   // 5
               "      cmd: \"echo {{ oops \"\n"      // 6
               "    on-success: nowhere\n"           // 7
               "  - name: b\n"                       // 8
               "    ref: core.does_not_exist\n"}});  // 9
  int code = -1;
  std::string out = RunGale(
      "", "pack validate " + (packs.path() / "bad").string() + " --packs " + packs.str(), &code);
  EXPECT_NE(out.find("broken.yaml:6: template 'echo {{ oops ': "), std::string::npos) << out;
  EXPECT_NE(out.find("broken.yaml:7: link 'a': on-success names no link: 'nowhere'"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("broken.yaml:9: link 'b': unknown action 'core.does_not_exist'"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("bad.broken"), std::string::npos) << out;  // listed as refused
}

// kill -9 of the node running a link: another node of the deployment finishes the chain and
// every link has exactly one execution.
void KillMidChain(Backend backend) {
  TempDir packs;
  WriteApiPacks(packs.path());
  WriteChainPack(packs.path());
  NodeOptions base;
  base.packs_paths = {packs.str()};
  base.extra_yaml = "runner: {lease_timeout: 2, shutdown_grace: 1}\n";
  if (backend == Backend::kRealKafka) {
    const char* mongo_env = std::getenv("GALE_MONGODB_URL");
    if (RealBrokers().empty() || mongo_env == nullptr) GTEST_SKIP() << "no real Kafka/MongoDB";
    std::string mongo = mongo_env;
    base.backend = Backend::kRealKafka;
    base.store_url = mongo.substr(0, mongo.rfind('/')) + "/gale_wf_" + UuidV4().substr(0, 8);
    base.brokers = RealBrokers();
    base.topic_prefix = "gale-wf-" + UuidV4().substr(0, 8) + ".";
  }
  // The hub holds the API (and, embedded, the bus and store) and is never killed; the two
  // workers run links and progress workflows.
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
    workers[name] = NodeProcess::Start(o);
    ASSERT_TRUE(workers[name]);
  }
  cli::ApiClient api(ApiFlagsOf(*hub));
  const std::string id = Start(api, "chains.slow", {{"seconds", 4}});
  Json child = WaitFirstChildRunning(api, id);
  ASSERT_FALSE(child.empty()) << Get(api, id).dump(2) << hub->Log();
  const std::string victim = child.value("node", "");
  ASSERT_TRUE(workers.count(victim)) << child.dump(2);
  kill(-workers[victim]->pid(), SIGKILL);  // the node and the link's process
  Json done = WaitFinal(api, id, 90s);
  std::string logs;
  for (auto& [name, w] : workers) logs += w->Log();
  // The killed link was abandoned (its lease ran out), its on-failure link ran elsewhere.
  EXPECT_EQ(done.value("status", ""), "succeeded") << Get(api, id).dump(2) << logs;
  using Row = std::pair<std::string, std::string>;
  EXPECT_EQ(Tasks(Get(api, id)), (std::vector<Row>{{"wait", "abandoned"}, {"after", "succeeded"}}));
  // Exactly one execution per link, whatever was delivered again after the kill.
  auto store = hub->OpenStore();
  ASSERT_NE(store, nullptr);
  store::ExecutionQuery q;
  q.action = "core.local";
  q.limit = store::kMaxPageSize;
  auto page = store->ListExecutions(q);
  ASSERT_TRUE(page.ok()) << page.message();
  std::map<std::string, int> per_task;
  for (const auto& e : page->items) {
    if (e.parent == id) per_task[e.task]++;
  }
  EXPECT_EQ(per_task, (std::map<std::string, int>{{"after", 1}, {"wait", 1}}));
}

TEST(ActionChainKill, KilledNodeMidChainEmbedded) {
  KillMidChain(Backend::kEmbedded);
}

TEST(ActionChainKill, KilledNodeMidChainKafkaAndMongo) {
  KillMidChain(Backend::kRealKafka);
}

}  // namespace
}  // namespace gale::testing

// The orquesta runner (issue 21) against real nodes: workflows written from the Orquesta
// documentation's syntax, run through the API as a user runs them. input/vars/output, publish,
// parallel branches and a join, the engine commands, the inline action form, both expression
// forms, with items and concurrency, retry and delay, ctx().st2 and st2kv, subworkflows, cancel
// (in the middle of a with-items, and passed down to a subworkflow), registration errors with
// file:line; on two nodes sharing the bus and store (embedded, and real Kafka + MongoDB when
// GALE_KAFKA_BROKERS and GALE_MONGODB_URL are set) parallel branches and items handled on both
// at once, and kill -9 of the node running a task: the workflow finishes, each task ran once.
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "host/common/uuid.h"
#include "test/support/api_fixture.h"

namespace gale::testing {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string Action(const std::string& name, const std::string& params) {
  return "---\nname: " + name + "\nrunner_type: orquesta\nentry_point: workflows/" + name +
         ".yaml\nparameters:\n" + params;
}

// The `orq` pack.
void WriteOrquestaPack(const fs::path& root) {
  WriteFiles(
      root / "orq",
      {{"pack.yaml",
        "---\nref: orq\nname: orq\ndescription: orquesta\nversion: 0.1.0\nauthor: tests\n"},
       // input (a name, a default), vars, publish, parallel branches joined, output; inline
       // parameters, YAQL and Jinja; ctx().st2.
       {"actions/flow.yaml",
        Action("flow", "  who: {type: string, required: true}\n  greeting: {type: string}\n")},
       {"actions/workflows/flow.yaml", R"Y(version: 1.0
input:
  - who
  - greeting: hello
vars:
  - prefix: <% ctx(greeting) + ' ' %>
output:
  - said: <% ctx(said) %>
  - both: <% ctx(left) + '+' + ctx(right) %>
  - user: <% ctx().st2.user %>
  - wfid: <% ctx().st2.action_execution_id %>
  - api: "{{ ctx().st2.api_url }}"
tasks:
  greet:
    action: core.local cmd=<% 'printf %s "' + ctx(prefix) + ctx(who) + '"' %> timeout=<% 20 %>
    next:
      - when: <% succeeded() %>
        publish:
          - said: <% result().stdout %>
        do: left, right
  left:
    action: core.local
    input:
      cmd: printf L
    next:
      - when: <% succeeded() %>
        publish:
          - left: <% result().stdout %>
        do: done
  right:
    action: core.local
    input:
      cmd: printf R
    next:
      - when: "{{ succeeded() }}"
        publish:
          - right: "{{ result().stdout }}"
        do: [done]
  done:
    join: all
    action: core.local
    input:
      cmd: printf '%s' '<% ctx(left) + ctx(right) %>-<% task(greet).result.stdout %>'
)Y"},
       // A failing task and the ways to handle it.
       {"actions/fails.yaml", Action("fails", "  mode: {type: string, required: true}\n")},
       {"actions/workflows/fails.yaml", R"Y(version: 1.0
input:
  - mode
vars:
  - code: null
tasks:
  first:
    action: core.local cmd="exit 3"
    next:
      - when: <% failed() and ctx(mode) = 'recover' %>
        publish:
          - code: <% result().return_code %>
        do: recover
      - when: <% failed() and ctx(mode) = 'noop' %>
        do: noop
      - when: <% failed() and ctx(mode) = 'fail' %>
        do: fail
      - when: <% failed() and ctx(mode) = 'continue' %>
        do: continue
  recover:
    action: core.local
    input:
      cmd: printf 'recovered from <% ctx(code) %>'
output:
  - code: <% ctx(code) %>
)Y"},
       // with items, concurrency
       {"actions/items.yaml", Action("items",
                                     "  names: {type: array, required: true}\n"
                                     "  conc: {type: integer, default: 2}\n"
                                     "  seconds: {type: number, default: 0.3}\n")},
       {"actions/workflows/items.yaml", R"Y(version: 1.0
input:
  - names
  - conc
  - seconds
tasks:
  each:
    with:
      items: n in <% ctx(names) %>
      concurrency: <% ctx(conc) %>
    action: core.local
    input:
      cmd: "sleep {{ ctx('seconds') }}; printf {{ item('n') }}"
    next:
      - when: <% succeeded() %>
        publish:
          - outs: <% result().select($.stdout) %>
output:
  - outs: <% ctx(outs) %>
)Y"},
       // retry (count, delay, when) and a task delay; counts attempts in a file.
       {"actions/retry.yaml", Action("retry",
                                     "  file: {type: string, required: true}\n"
                                     "  succeed_at: {type: integer, default: 3}\n")},
       {"actions/workflows/retry.yaml", R"Y(version: 1.0
input:
  - file
  - succeed_at
vars:
  - attempts: null
tasks:
  pause:
    delay: 1
    action: core.noop
    next:
      - do: flaky
  flaky:
    action: core.local
    input:
      cmd: n=$(cat <% ctx(file) %> 2>/dev/null || echo 0); n=$((n+1)); echo $n > <% ctx(file) %>; printf $n; test $n -ge <% ctx(succeed_at) %>
    retry:
      when: <% failed() %>
      count: 3
      delay: 1
    next:
      - when: <% succeeded() %>
        publish:
          - attempts: <% int(result().stdout) %>
output:
  - attempts: <% ctx(attempts) %>
)Y"},
       // many items
       {"actions/many.yaml", Action("many", "  n: {type: integer, default: 200}\n")},
       {"actions/workflows/many.yaml", R"Y(version: 1.0
input:
  - n
tasks:
  make:
    action: core.noop
    next:
      - publish:
          - list: <% [1] * ctx(n) %>
        do: each
  each:
    with:
      items: <% ctx(list) %>
      concurrency: 50
    action: core.noop
    next:
      - publish:
          - count: <% len(result()) %>
output:
  - count: <% ctx(count) %>
)Y"},
       // items that end out of order, one failing: the task's result is still in item order
       {"actions/itemsfail.yaml", Action("itemsfail", "  names: {type: array, required: true}\n")},
       {"actions/workflows/itemsfail.yaml", R"Y(version: 1.0
input:
  - names
tasks:
  each:
    with:
      items: n in <% ctx(names) %>
      concurrency: 3
    action: core.local
    input:
      cmd: "n={{ item('n') }}; sleep 0.$((5 - $(printf %s $n | wc -c))); printf $n; test $n != bb"
    next:
      - when: <% failed() %>
        publish:
          - outs: <% result().select($.stdout) %>
          - codes: <% result().select($.return_code) %>
        do: noop
output:
  - outs: <% ctx(outs) %>
  - codes: <% ctx(codes) %>
)Y"},
       // a task that waits long before it starts
       {"actions/later.yaml", Action("later", "  {}\n")},
       {"actions/workflows/later.yaml", R"Y(version: 1.0
tasks:
  later:
    delay: 3
    action: core.local cmd="printf late"
)Y"},
       // the engine command `retry`
       {"actions/again.yaml", Action("again", "  file: {type: string, required: true}\n")},
       {"actions/workflows/again.yaml", R"Y(version: 1.0
input:
  - file
tasks:
  flaky:
    action: core.local
    input:
      cmd: n=$(cat <% ctx(file) %> 2>/dev/null || echo 0); n=$((n+1)); echo $n > <% ctx(file) %>; test $n -ge 2
    next:
      - when: <% failed() %>
        do: retry
)Y"},
       // the datastore
       {"actions/kv.yaml", Action("kv", "  {}\n")},
       {"actions/workflows/kv.yaml", R"Y(version: 1.0
tasks:
  read:
    action: core.local
    input:
      cmd: printf '%s' '<% st2kv('system.orq_key') %>'
    next:
      - publish:
          - j: "{{ st2kv('system.orq_key') }}"
output:
  - value: <% task(read).result.stdout %>
  - jinja: <% ctx(j) %>
)Y"},
       // a subworkflow, and a run-time expression error
       {"actions/parent.yaml", Action("parent", "  who: {type: string, default: sub}\n")},
       {"actions/workflows/parent.yaml", R"Y(version: 1.0
input:
  - who
tasks:
  child:
    action: orq.flow who=<% ctx(who) %>
    next:
      - when: <% succeeded() %>
        publish:
          - from_child: <% result().output.said %>
output:
  - from_child: <% ctx(from_child) %>
)Y"},
       {"actions/slowparent.yaml", Action("slowparent", "  {}\n")},
       {"actions/workflows/slowparent.yaml", R"Y(version: 1.0
tasks:
  child:
    action: orq.items names=<% list(a, b, c, d) %> conc=1 seconds=30
)Y"},
       {"actions/broken_at_run.yaml", Action("broken_at_run", "  {}\n")},
       {"actions/workflows/broken_at_run.yaml", R"Y(version: 1.0
tasks:
  first:
    action: core.local cmd="printf x"
    next:
      - when: <% succeeded() %>
        publish:
          - y: <% result().nope %>
        do: second
  second:
    action: core.local cmd="printf never"
)Y"},
       // kill -9: a task that sleeps, then one that runs after it whatever happened
       {"actions/slow.yaml", Action("slow", "  seconds: {type: integer, default: 30}\n")},
       {"actions/workflows/slow.yaml", R"Y(version: 1.0
input:
  - seconds
tasks:
  wait:
    action: core.local cmd="sleep <% ctx(seconds) %>"
    next:
      - when: <% completed() %>
        do: after
  quick:
    action: core.local cmd="printf quick"
    next:
      - do: after
  after:
    join: all
    action: core.local cmd="printf done"
)Y"}});
  ShareWithActions(root / "orq");
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

// task -> statuses of its executions, in the order requested.
std::map<std::string, std::vector<std::string>> Tasks(const Json& e) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& c : e.value("children", Json::array())) {
    out[c.value("task", "")].push_back(c.value("status", ""));
  }
  return out;
}

using TaskMap = std::map<std::string, std::vector<std::string>>;

class OrquestaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    packs_ = std::make_unique<TempDir>();
    scratch_ = std::make_unique<TempDir>();
    ShareWithActions(scratch_->path());  // where the retry test's task counts its attempts
    WriteApiPacks(packs_->path());
    WriteOrquestaPack(packs_->path());
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
    scratch_.reset();
  }
  void SetUp() override { ASSERT_TRUE(node_) << "the node did not start"; }
  static cli::ApiClient Api() { return cli::ApiClient(ApiFlagsOf(*node_)); }

  static std::unique_ptr<TempDir> packs_;
  static std::unique_ptr<TempDir> scratch_;
  static std::unique_ptr<NodeProcess> node_;
};
std::unique_ptr<TempDir> OrquestaTest::packs_;
std::unique_ptr<TempDir> OrquestaTest::scratch_;
std::unique_ptr<NodeProcess> OrquestaTest::node_;

TEST_F(OrquestaTest, InputVarsPublishBranchesJoinAndOutput) {
  auto api = Api();
  const std::string id = Start(api, "orq.flow", {{"who", "ann"}});
  Json done = WaitFinal(api, id);
  ASSERT_EQ(done.value("status", ""), "succeeded") << Get(api, id).dump(2) << node_->Log();
  Json e = Get(api, id);
  EXPECT_EQ(Tasks(e), (TaskMap{{"greet", {"succeeded"}},
                               {"left", {"succeeded"}},
                               {"right", {"succeeded"}},
                               {"done", {"succeeded"}}}))
      << e.dump(2);
  const Json output = e["result"]["output"];
  EXPECT_EQ(output["said"], "hello ann") << e.dump(2);  // input default, vars, inline params
  EXPECT_EQ(output["both"], "L+R");                     // both branches published (YAQL, Jinja)
  EXPECT_EQ(output["user"], "stanley");
  EXPECT_EQ(output["wfid"], id);
  EXPECT_EQ(output["api"].get<std::string>().rfind("http://", 0), 0u) << output.dump();
  // The join ran once, after both branches; task() reads another task's result.
  for (const auto& c : e["children"]) {
    if (c["task"] == "done") {
      EXPECT_EQ(c["result"]["stdout"], "LR-hello ann") << c.dump(2);
    }
    if (c["task"] == "greet") {
      EXPECT_EQ(c["parameters"]["timeout"], 20) << c.dump(2);
    }
  }
  EXPECT_EQ(e["children"][0]["parent"], id);
}

TEST_F(OrquestaTest, FailuresAndEngineCommands) {
  auto api = Api();
  // Handled by a task: the workflow succeeds.
  std::string id = Start(api, "orq.fails", {{"mode", "recover"}});
  Json done = WaitFinal(api, id);
  EXPECT_EQ(done.value("status", ""), "succeeded") << Get(api, id).dump(2) << node_->Log();
  Json e = Get(api, id);
  EXPECT_EQ(Tasks(e), (TaskMap{{"first", {"failed"}}, {"recover", {"succeeded"}}}));
  EXPECT_EQ(e["result"]["output"]["code"], 3) << e.dump(2);
  // noop handles it too.
  id = Start(api, "orq.fails", {{"mode", "noop"}});
  EXPECT_EQ(WaitFinal(api, id).value("status", ""), "succeeded") << Get(api, id).dump(2);
  // fail, continue, or no transition at all: the workflow fails, the error names the task.
  for (const char* mode : {"fail", "continue", "none"}) {
    id = Start(api, "orq.fails", {{"mode", mode}});
    done = WaitFinal(api, id);
    EXPECT_EQ(done.value("status", ""), "failed") << mode << Get(api, id).dump(2);
    e = Get(api, id);
    EXPECT_EQ(Tasks(e), (TaskMap{{"first", {"failed"}}})) << mode;
    ASSERT_TRUE(e["result"].contains("errors")) << e.dump(2);
    EXPECT_EQ(e["result"]["errors"][0]["task_id"], "first") << e.dump(2);
    EXPECT_TRUE(e["result"].contains("output"));
  }
}

TEST_F(OrquestaTest, RunTimeExpressionErrorFailsTheWorkflow) {
  auto api = Api();
  const std::string id = Start(api, "orq.broken_at_run", Json::object());
  Json done = WaitFinal(api, id);
  EXPECT_EQ(done.value("status", ""), "failed") << Get(api, id).dump(2);
  Json e = Get(api, id);
  EXPECT_EQ(Tasks(e), (TaskMap{{"first", {"succeeded"}}}));  // `second` never ran
  const std::string message = e["result"]["errors"][0].value("message", "");
  EXPECT_NE(message.find("<% result().nope %>"), std::string::npos) << e.dump(2);
}

TEST_F(OrquestaTest, WithItemsKeepsToConcurrency) {
  auto api = Api();
  const std::string id =
      Start(api, "orq.items", {{"names", {"a", "b", "c", "d", "e"}}, {"conc", 2}});
  Json done = WaitFinal(api, id, 90s);
  ASSERT_EQ(done.value("status", ""), "succeeded") << Get(api, id).dump(2) << node_->Log();
  Json e = Get(api, id);
  EXPECT_EQ(e["result"]["output"]["outs"], Json({"a", "b", "c", "d", "e"})) << e.dump(2);
  ASSERT_EQ(e["children"].size(), 5u);
  // Never more than 2 items at once: at each item's start, count the items running.
  std::set<std::string> ids;
  for (const auto& a : e["children"]) {
    ids.insert(a.value("id", ""));
    int overlapping = 0;
    const int64_t t = a.value("started_at", int64_t{0});
    for (const auto& b : e["children"]) {
      if (b.value("started_at", int64_t{0}) <= t && b.value("finished_at", int64_t{0}) > t) {
        ++overlapping;
      }
    }
    EXPECT_LE(overlapping, 2) << e.dump(2);
  }
  EXPECT_EQ(ids.size(), 5u);  // each item its own execution
}

// Many items at concurrency 50 (StackStorm's with-items of hundreds of items timed out): all
// run, each once.
TEST_F(OrquestaTest, TwoHundredItemsAtConcurrencyFifty) {
  auto api = Api();
  const auto start = std::chrono::steady_clock::now();
  const std::string id = Start(api, "orq.many", {{"n", 200}});
  Json done = WaitFinal(api, id, 180s);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  ASSERT_EQ(done.value("status", ""), "succeeded") << Get(api, id)["result"].dump(2);
  std::cout << "200 items at concurrency 50: " << ms << " ms\n";
  Json e = Get(api, id);
  EXPECT_EQ(e["result"]["output"]["count"], 200);
  std::set<std::string> ids;
  for (const auto& c : e["children"]) {
    if (c["task"] == "each") ids.insert(c.value("id", ""));
  }
  EXPECT_EQ(ids.size(), 200u);
}

// The items' results are read from their records when the last one ends (the state keeps counts
// only): in item order whatever order they ended in, a failed item's result among them.
TEST_F(OrquestaTest, WithItemsResultInItemOrderWithAFailedItem) {
  auto api = Api();
  const std::string id =
      Start(api, "orq.itemsfail", {{"names", {"aaaa", "bb", "c", "ddd", "ee", "f"}}});
  Json done = WaitFinal(api, id, 90s);
  ASSERT_EQ(done.value("status", ""), "succeeded") << Get(api, id).dump(2) << node_->Log();
  Json e = Get(api, id);
  EXPECT_EQ(e["result"]["output"]["outs"], Json({"aaaa", "bb", "c", "ddd", "ee", "f"}))
      << e.dump(2);
  EXPECT_EQ(e["result"]["output"]["codes"], Json({0, 1, 0, 0, 0, 0})) << e.dump(2);
  auto statuses = Tasks(e)["each"];
  std::sort(statuses.begin(), statuses.end());
  EXPECT_EQ(statuses, (std::vector<std::string>{"failed", "succeeded", "succeeded", "succeeded",
                                                "succeeded", "succeeded"}));
}

TEST_F(OrquestaTest, RetryAndDelay) {
  auto api = Api();
  const std::string file = (scratch_->path() / ("count-" + UuidV4())).string();
  const std::string id = Start(api, "orq.retry", {{"file", file}});
  Json done = WaitFinal(api, id, 90s);
  ASSERT_EQ(done.value("status", ""), "succeeded") << Get(api, id).dump(2) << node_->Log();
  Json e = Get(api, id);
  EXPECT_EQ(Tasks(e),
            (TaskMap{{"pause", {"succeeded"}}, {"flaky", {"failed", "failed", "succeeded"}}}))
      << e.dump(2);
  EXPECT_EQ(e["result"]["output"]["attempts"], 3);
  // `delay: 1` before pause was requested; `retry.delay: 1` between the attempts.
  const auto& c = e["children"];
  EXPECT_GE(c[0].value("requested_at", int64_t{0}) - done.value("started_at", int64_t{0}), 900)
      << e.dump(2);
  EXPECT_GE(c[2].value("requested_at", int64_t{0}) - c[1].value("finished_at", int64_t{0}), 900);

  // Retries run out: the task's last failure fails the workflow.
  const std::string file2 = (scratch_->path() / ("count-" + UuidV4())).string();
  const std::string id2 = Start(api, "orq.retry", {{"file", file2}, {"succeed_at", 10}});
  EXPECT_EQ(WaitFinal(api, id2, 90s).value("status", ""), "failed");
  EXPECT_EQ(Tasks(Get(api, id2))["flaky"].size(), 4u);  // the first run and 3 retries

  // The engine command: `do: retry` runs the failed task again.
  const std::string file3 = (scratch_->path() / ("count-" + UuidV4())).string();
  const std::string id3 = Start(api, "orq.again", {{"file", file3}});
  EXPECT_EQ(WaitFinal(api, id3, 60s).value("status", ""), "succeeded") << Get(api, id3).dump(2);
  EXPECT_EQ(Tasks(Get(api, id3)), (TaskMap{{"flaky", {"failed", "succeeded"}}}));
}

TEST_F(OrquestaTest, DatastoreAndSt2Context) {
  auto api = Api();
  Json body = {{"value", "from the datastore"}};
  auto put = api.Call("PUT", "/v1/keys/orq_key", &body);
  ASSERT_TRUE(put.ok() && put->status < 300) << (put.ok() ? put->body : put.message());
  const std::string id = Start(api, "orq.kv", Json::object());
  Json done = WaitFinal(api, id);
  ASSERT_EQ(done.value("status", ""), "succeeded") << Get(api, id).dump(2) << node_->Log();
  Json e = Get(api, id);
  EXPECT_EQ(e["result"]["output"]["value"], "from the datastore") << e.dump(2);
  EXPECT_EQ(e["result"]["output"]["jinja"], "from the datastore");
}

TEST_F(OrquestaTest, SubworkflowResultReachesTheParent) {
  auto api = Api();
  const std::string id = Start(api, "orq.parent", {{"who", "bob"}});
  Json done = WaitFinal(api, id, 90s);
  ASSERT_EQ(done.value("status", ""), "succeeded") << Get(api, id).dump(2) << node_->Log();
  Json e = Get(api, id);
  EXPECT_EQ(e["result"]["output"]["from_child"], "hello bob") << e.dump(2);
  ASSERT_EQ(e["children"].size(), 1u);
  Json child = Get(api, e["children"][0]["id"]);
  EXPECT_EQ(child["action"], "orq.flow");
  EXPECT_EQ(Tasks(child).size(), 4u) << child.dump(2);
}

// Waits until `n` children of `id` run.
bool WaitRunning(cli::ApiClient& api, const std::string& id, size_t n) {
  return WaitFor(
      [&] {
        size_t running = 0;
        for (const auto& c : Get(api, id).value("children", Json::array())) {
          running += c.value("status", "") == "running" ? 1 : 0;
        }
        return running >= n;
      },
      30s);
}

TEST_F(OrquestaTest, CancelInTheMiddleOfWithItems) {
  auto api = Api();
  const std::string id = Start(
      api, "orq.items", {{"names", {"a", "b", "c", "d", "e", "f"}}, {"conc", 2}, {"seconds", 30}});
  ASSERT_TRUE(WaitRunning(api, id, 2)) << Get(api, id).dump(2) << node_->Log();
  int code = -1;
  std::string out = RunGale(node_->home(), "execution cancel " + id, &code);
  EXPECT_EQ(code, 0) << out;
  Json done = WaitFinal(api, id, 30s);
  EXPECT_EQ(done.value("status", ""), "canceled") << Get(api, id).dump(2) << node_->Log();
  // The two running items were canceled; no further item started.
  EXPECT_EQ(Tasks(Get(api, id)), (TaskMap{{"each", {"canceled", "canceled"}}}));
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(Get(api, id)["children"].size(), 2u);
}

TEST_F(OrquestaTest, CancelDuringADelayStartsNothing) {
  auto api = Api();
  const std::string id = Start(api, "orq.later", Json::object());
  ASSERT_TRUE(WaitFor([&] { return Get(api, id).value("status", "") == "running"; }, 30s));
  int code = -1;
  std::string out = RunGale(node_->home(), "execution cancel " + id, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(WaitFinal(api, id, 30s).value("status", ""), "canceled") << node_->Log();
  std::this_thread::sleep_for(4s);  // past the delay: its request is not made after all
  EXPECT_EQ(Get(api, id).value("children", Json::array()).size(), 0u) << Get(api, id).dump(2);
}

TEST_F(OrquestaTest, PauseIsRefusedWithTheReasonAndTheWorkflowGoesOn) {
  auto api = Api();
  const std::string id = Start(api, "orq.later", Json::object());
  ASSERT_TRUE(WaitFor([&] { return Get(api, id).value("status", "") == "running"; }, 30s));
  int code = -1;
  std::string out = RunGale(node_->home(), "execution pause " + id, &code);
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("is an orquesta workflow: only action-chain workflows can be paused yet"),
            std::string::npos)
      << out;
  EXPECT_EQ(Get(api, id).value("status", ""), "running");
  out = RunGale(node_->home(), "execution cancel " + id, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(WaitFinal(api, id, 30s).value("status", ""), "canceled") << node_->Log();
}

TEST_F(OrquestaTest, CancelPassesDownToASubworkflow) {
  auto api = Api();
  const std::string id = Start(api, "orq.slowparent", Json::object());
  std::string child_id;
  ASSERT_TRUE(WaitFor(
      [&] {
        Json c = Get(api, id).value("children", Json::array());
        if (c.empty()) return false;
        child_id = c[0].value("id", "");
        return WaitRunning(api, child_id, 1);
      },
      30s))
      << Get(api, id).dump(2) << node_->Log();
  int code = -1;
  std::string out = RunGale(node_->home(), "execution cancel " + id, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(WaitFinal(api, id, 30s).value("status", ""), "canceled") << node_->Log();
  Json child = Get(api, child_id);
  EXPECT_EQ(child.value("status", ""), "canceled") << child.dump(2);
  EXPECT_EQ(Tasks(child), (TaskMap{{"each", {"canceled"}}}));
}

TEST(OrquestaRegistration, InvalidWorkflowRefusedWithFileAndLine) {
  TempDir packs;
  WriteApiPacks(packs.path());
  WriteFiles(packs.path() / "bad",
             {{"pack.yaml", "---\nref: bad\nname: bad\nversion: 0.1.0\nauthor: tests\n"},
              {"actions/good.yaml",
               "---\nname: good\nrunner_type: orquesta\nentry_point: workflows/good.yaml\n"},
              {"actions/workflows/good.yaml",
               "version: 1.0\ntasks:\n  a:\n    action: core.local cmd=\"printf ok\"\n"},
              {"actions/broken.yaml",
               "---\nname: broken\nrunner_type: orquesta\nentry_point: workflows/broken.yaml\n"},
              {"actions/workflows/broken.yaml",
               "version: 1.0\n"                                    // 1
               "tasks:\n"                                          // 2
               "  a:\n"                                            // 3
               "    action: core.local\n"                          // 4
               "    input:\n"                                      // 5
               "      cmd: <% ctx(hosts).lenght() %>\n"            // 6
               "    next:\n"                                       // 7
               "      - when: <% succeeded() %>\n"                 // 8
               "        do: nowhere\n"                             // 9
               "  b:\n"                                            // 10
               "    action: core.does_not_exist\n"                 // 11
               "    colour: blue\n"                                // 12
               "  c:\n"                                            // 13
               "    action: core.local cmd=<% ctx(x) =~ 'a' %>\n"  // 14
               "    join: some\n"                                  // 15
               "  d:\n"                                            // 16
               "    action: core.noop\n"                           // 17
               "    with: <% [1] %>\n"                             // 18
               "    retry:\n"                                      // 19
               "      count: 2\n"}});                              // 20
  int code = -1;
  std::string out = RunGale(
      "", "pack validate " + (packs.path() / "bad").string() + " --packs " + packs.str(), &code);
  EXPECT_NE(out.find("broken.yaml:6: expression '<% ctx(hosts).lenght() %>': unknown function "
                     "'lenght'"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("broken.yaml:9: task 'a': do names no task: 'nowhere'"), std::string::npos)
      << out;
  EXPECT_NE(out.find("broken.yaml:11: task 'b': unknown action 'core.does_not_exist'"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("broken.yaml:12: task 'b': unknown key 'colour'"), std::string::npos) << out;
  EXPECT_NE(out.find("broken.yaml:14: expression '<% ctx(x) =~ 'a' %>'"), std::string::npos) << out;
  EXPECT_NE(out.find("broken.yaml:15: task 'c': join must be 'all' or a positive count"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("broken.yaml:19: task 'd': retry on a with-items task is not supported"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("bad.broken"), std::string::npos) << out;  // listed as refused
  EXPECT_EQ(out.find("good.yaml"), std::string::npos) << out;   // the rest of the pack loads
}

// A deployment: a hub (the API and, embedded, the bus and store), never killed, and two workers
// that run tasks and progress workflows.
struct Deployment {
  TempDir packs;
  std::unique_ptr<NodeProcess> hub;
  std::map<std::string, std::unique_ptr<NodeProcess>> workers;
  std::string Logs() const {
    std::string logs;
    for (const auto& [name, w] : workers) logs += w->Log();
    return logs;
  }
};

// Skips (GTEST_SKIP) without real Kafka and MongoDB for Backend::kRealKafka.
void StartDeployment(Backend backend, Deployment* d) {
  WriteApiPacks(d->packs.path());
  WriteOrquestaPack(d->packs.path());
  NodeOptions base;
  base.packs_paths = {d->packs.str()};
  base.extra_yaml = "runner: {lease_timeout: 2, shutdown_grace: 1}\n";
  if (backend == Backend::kRealKafka) {
    const char* mongo_env = std::getenv("GALE_MONGODB_URL");
    if (RealBrokers().empty() || mongo_env == nullptr) GTEST_SKIP() << "no real Kafka/MongoDB";
    std::string mongo = mongo_env;
    base.backend = Backend::kRealKafka;
    base.store_url = mongo.substr(0, mongo.rfind('/')) + "/gale_orq_" + UuidV4().substr(0, 8);
    base.brokers = RealBrokers();
    base.topic_prefix = "gale-orq-" + UuidV4().substr(0, 8) + ".";
  }
  NodeOptions h = base;
  h.node_name = "hub";
  h.roles = "[api]";
  d->hub = NodeProcess::Start(h);
  ASSERT_TRUE(d->hub);
  base.brokers = d->hub->brokers();
  base.topic_prefix = d->hub->topic_prefix();
  base.store_url = d->hub->store_url();
  for (const char* name : {"worker-1", "worker-2"}) {
    NodeOptions o = base;
    o.node_name = name;
    o.roles = "[runner]";
    d->workers[name] = NodeProcess::Start(o);
    ASSERT_TRUE(d->workers[name]);
  }
}

// Parallel branches and items whose events two nodes handle at once: no update of the
// workflow's state is lost (the join runs once, after both branches; every item ran once and
// its result is there).
void ParallelOnTwoNodes(Backend backend) {
  Deployment d;
  StartDeployment(backend, &d);
  if (::testing::Test::IsSkipped() || ::testing::Test::HasFatalFailure()) return;
  cli::ApiClient api(ApiFlagsOf(*d.hub));
  std::vector<std::string> flows, items;
  for (int i = 0; i < 4; ++i) {
    flows.push_back(Start(api, "orq.flow", {{"who", "w" + std::to_string(i)}}));
    items.push_back(
        Start(api, "orq.items",
              {{"names", {"a", "b", "c", "d", "e", "f", "g", "h"}}, {"conc", 8}, {"seconds", 0}}));
  }
  std::set<std::string> nodes;
  for (int i = 0; i < 4; ++i) {
    Json done = WaitFinal(api, flows[i], 90s);
    ASSERT_EQ(done.value("status", ""), "succeeded") << Get(api, flows[i]).dump(2) << d.Logs();
    Json e = Get(api, flows[i]);
    EXPECT_EQ(e["result"]["output"]["both"], "L+R") << e.dump(2);
    EXPECT_EQ(Tasks(e)["done"].size(), 1u) << e.dump(2);
    done = WaitFinal(api, items[i], 90s);
    ASSERT_EQ(done.value("status", ""), "succeeded") << Get(api, items[i]).dump(2) << d.Logs();
    e = Get(api, items[i]);
    EXPECT_EQ(e["result"]["output"]["outs"], Json({"a", "b", "c", "d", "e", "f", "g", "h"}))
        << e.dump(2);
    EXPECT_EQ(e["children"].size(), 8u);
    for (const auto& c : e["children"]) nodes.insert(c.value("node", ""));
  }
  EXPECT_EQ(nodes.size(), 2u) << "both workers ran items";
}

TEST(OrquestaNodes, ParallelBranchesAndItemsOnTwoNodesEmbedded) {
  ParallelOnTwoNodes(Backend::kEmbedded);
}

TEST(OrquestaNodes, ParallelBranchesAndItemsOnTwoNodesKafkaAndMongo) {
  ParallelOnTwoNodes(Backend::kRealKafka);
}

// kill -9 of the node running a task while a parallel branch finished: another node of the
// deployment finishes the workflow and every task has exactly one execution.
void KillMidWorkflow(Backend backend) {
  Deployment d;
  StartDeployment(backend, &d);
  if (::testing::Test::IsSkipped() || ::testing::Test::HasFatalFailure()) return;
  auto& hub = d.hub;
  auto& workers = d.workers;
  cli::ApiClient api(ApiFlagsOf(*hub));
  const std::string id = Start(api, "orq.slow", {{"seconds", 4}});
  Json wait;  // running, while the parallel branch `quick` has finished
  ASSERT_TRUE(WaitFor(
      [&] {
        Json running, quick;
        for (const auto& c : Get(api, id).value("children", Json::array())) {
          if (c.value("task", "") == "wait" && c.value("status", "") == "running") running = c;
          if (c.value("task", "") == "quick" && c.value("status", "") == "succeeded") quick = c;
        }
        if (!quick.empty()) wait = running;
        return !wait.empty();
      },
      30s))
      << Get(api, id).dump(2) << hub->Log();
  const std::string victim = wait.value("node", "");
  ASSERT_TRUE(workers.count(victim)) << wait.dump(2);
  kill(-workers[victim]->pid(), SIGKILL);  // the node and the task's process
  Json done = WaitFinal(api, id, 90s);
  std::string logs;
  for (auto& [name, w] : workers) logs += w->Log();
  EXPECT_EQ(done.value("status", ""), "succeeded") << Get(api, id).dump(2) << logs;
  EXPECT_EQ(Tasks(Get(api, id)),
            (TaskMap{{"wait", {"abandoned"}}, {"quick", {"succeeded"}}, {"after", {"succeeded"}}}));
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
  EXPECT_EQ(per_task, (std::map<std::string, int>{{"after", 1}, {"quick", 1}, {"wait", 1}}));
}

TEST(OrquestaKill, KilledNodeMidWorkflowEmbedded) {
  KillMidWorkflow(Backend::kEmbedded);
}

TEST(OrquestaKill, KilledNodeMidWorkflowKafkaAndMongo) {
  KillMidWorkflow(Backend::kRealKafka);
}

}  // namespace
}  // namespace gale::testing

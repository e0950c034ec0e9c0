// The orquesta runner (issue 21) against real nodes: workflows written from the Orquesta
// documentation's syntax, run through the API as a user runs them. input/vars/output, publish,
// parallel branches and a join, the engine commands, the inline action form, both expression
// forms, with items and concurrency, retry and delay, ctx().st2 and st2kv, subworkflows, cancel
// (in the middle of a with-items, and passed down to a subworkflow), pause and resume (mid-
// sequence, mid-items, passed down to a subworkflow, canceled while paused), the state removed
// once a workflow ended (a replayed event changes nothing), registration errors with
// file:line; on two nodes sharing the bus and store (embedded, and real Kafka + MongoDB when
// GALE_KAFKA_BROKERS and GALE_MONGODB_URL are set) parallel branches and items handled on both
// at once, pause and resume, and kill -9 of the node running a task: the workflow finishes,
// each task ran once.
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
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
       // pause and resume: three tasks in a row, the first one sleeps
       {"actions/seq.yaml", Action("seq", "  seconds: {type: integer, default: 2}\n")},
       {"actions/workflows/seq.yaml", R"Y(version: 1.0
input:
  - seconds
tasks:
  one:
    action: core.local cmd="sleep <% ctx(seconds) %>; printf one"
    next:
      - when: <% succeeded() %>
        publish:
          - first: <% result().stdout %>
        do: two
  two:
    action: core.local cmd="printf two"
    next:
      - when: <% succeeded() %>
        do: three
  three:
    action: core.local cmd=<% 'printf ' + ctx(first) + '-three' %>
output:
  - last: <% task(three).result.stdout %>
)Y"},
       // a subworkflow (seq) and a task after it
       {"actions/subseq.yaml", Action("subseq", "  seconds: {type: integer, default: 3}\n")},
       {"actions/workflows/subseq.yaml", R"Y(version: 1.0
input:
  - seconds
tasks:
  child:
    action: orq.seq seconds=<% ctx(seconds) %>
    next:
      - when: <% succeeded() %>
        publish:
          - from_child: <% result().output.last %>
        do: after
  after:
    action: core.local cmd="printf after"
output:
  - from_child: <% ctx(from_child) %>
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

std::string StatusOf(cli::ApiClient& api, const std::string& id) {
  return Get(api, id).value("status", "");
}

bool WaitStatus(cli::ApiClient& api, const std::string& id, const std::string& status,
                std::chrono::milliseconds deadline = 30s) {
  return WaitFor([&] { return StatusOf(api, id) == status; }, deadline);
}

// The statuses an execution went through (its log).
std::vector<std::string> StatusLog(cli::ApiClient& api, const std::string& id) {
  std::vector<std::string> log;
  for (const auto& s : Get(api, id).value("log", Json::array())) {
    log.push_back(s.value("status", ""));
  }
  return log;
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

// How many executions each task of workflow `id` has in the store (of the actions it runs).
std::map<std::string, int> ExecutionsPerTask(const NodeProcess& node, const std::string& id) {
  std::map<std::string, int> per_task;
  auto store = node.OpenStore();
  if (store == nullptr) return per_task;
  for (const char* action : {"core.local", "orq.seq"}) {
    store::ExecutionQuery q;
    q.action = action;
    q.limit = store::kMaxPageSize;
    auto page = store->ListExecutions(q);
    if (!page.ok()) continue;
    for (const auto& e : page->items) {
      if (e.parent == id) per_task[e.task]++;
    }
  }
  return per_task;
}

// The workflow's state document and delayed requests left in the store.
std::optional<Json> StateOf(const NodeProcess& node, const std::string& id) {
  auto store = node.OpenStore();
  if (store == nullptr) return std::nullopt;
  auto loaded = store::LoadState(*store, id);
  EXPECT_TRUE(loaded.ok()) << loaded.message();
  return loaded.ok() ? *loaded : std::nullopt;
}
size_t DelayKeysOf(const NodeProcess& node, const std::string& id) {
  auto store = node.OpenStore();
  if (store == nullptr) return 0;
  auto keys =
      store->ListKeys(store::KeyScope::kGale, "", "workflow-delay/" + id + "/", store::NowMs());
  EXPECT_TRUE(keys.ok()) << keys.message();
  return keys.ok() ? keys->size() : 0;
}

// Pause mid-sequence: the running task ends, the next one is held (not requested) and the
// workflow paused; resume requests it once and the rest follows, each task one execution.
TEST_F(OrquestaTest, PauseMidSequenceThenResume) {
  auto api = Api();
  const std::string id = Start(api, "orq.seq", {{"seconds", 2}});
  ASSERT_TRUE(WaitRunning(api, id, 1)) << Get(api, id).dump(2) << node_->Log();
  int code = -1;
  std::string out = RunGale(node_->home(), "execution pause " + id, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("execution " + id + " pausing"), std::string::npos) << out;
  ASSERT_TRUE(WaitStatus(api, id, "paused")) << Get(api, id).dump(2) << node_->Log();
  EXPECT_EQ(Tasks(Get(api, id)), (TaskMap{{"one", {"succeeded"}}}));
  auto state = StateOf(*node_, id);
  ASSERT_TRUE(state.has_value());
  ASSERT_EQ((*state)["held"].size(), 1u) << state->dump(2);
  EXPECT_EQ((*state)["held"][0]["record"]["task"], "two");
  // Paused stays paused: nothing is requested meanwhile.
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(StatusOf(api, id), "paused");
  EXPECT_EQ(ExecutionsPerTask(*node_, id), (std::map<std::string, int>{{"one", 1}}));
  // Paused again, or resumed when not paused: refused with the reason.
  out = RunGale(node_->home(), "execution pause " + id, &code);
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("is paused: only a running workflow can be paused"), std::string::npos) << out;

  out = RunGale(node_->home(), "execution resume " + id, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("execution " + id + " resuming"), std::string::npos) << out;
  Json done = WaitFinal(api, id, 60s);
  ASSERT_EQ(done.value("status", ""), "succeeded") << Get(api, id).dump(2) << node_->Log();
  Json e = Get(api, id);
  EXPECT_EQ(Tasks(e),
            (TaskMap{{"one", {"succeeded"}}, {"two", {"succeeded"}}, {"three", {"succeeded"}}}))
      << e.dump(2);
  EXPECT_EQ(e["result"]["output"]["last"], "one-three") << e.dump(2);
  EXPECT_EQ(ExecutionsPerTask(*node_, id),
            (std::map<std::string, int>{{"one", 1}, {"three", 1}, {"two", 1}}));
  EXPECT_EQ(StatusLog(api, id),
            (std::vector<std::string>{"requested", "running", "pausing", "paused", "resuming",
                                      "running", "succeeded"}));
  out = RunGale(node_->home(), "execution resume " + id, &code);
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("is succeeded: it has finished"), std::string::npos) << out;
}

// Pause in the middle of a with-items at concurrency 2: the two running items end, the next
// ones are held; none starts while paused; after the resume all run, each once, still two at a
// time.
TEST_F(OrquestaTest, PauseInTheMiddleOfWithItemsHoldsTheRest) {
  auto api = Api();
  const std::string id = Start(
      api, "orq.items", {{"names", {"a", "b", "c", "d", "e", "f"}}, {"conc", 2}, {"seconds", 2}});
  ASSERT_TRUE(WaitRunning(api, id, 2)) << Get(api, id).dump(2) << node_->Log();
  int code = -1;
  std::string out = RunGale(node_->home(), "execution pause " + id, &code);
  EXPECT_EQ(code, 0) << out;
  ASSERT_TRUE(WaitStatus(api, id, "paused")) << Get(api, id).dump(2) << node_->Log();
  EXPECT_EQ(Tasks(Get(api, id)), (TaskMap{{"each", {"succeeded", "succeeded"}}}));
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(StatusOf(api, id), "paused");
  EXPECT_EQ(Get(api, id)["children"].size(), 2u) << Get(api, id).dump(2);
  auto state = StateOf(*node_, id);
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ((*state)["held"].size(), 2u) << state->dump(2);  // up to the concurrency

  out = RunGale(node_->home(), "execution resume " + id, &code);
  EXPECT_EQ(code, 0) << out;
  Json done = WaitFinal(api, id, 90s);
  ASSERT_EQ(done.value("status", ""), "succeeded") << Get(api, id).dump(2) << node_->Log();
  Json e = Get(api, id);
  EXPECT_EQ(e["result"]["output"]["outs"], Json({"a", "b", "c", "d", "e", "f"})) << e.dump(2);
  ASSERT_EQ(e["children"].size(), 6u);
  std::set<std::string> ids;
  const int64_t paused_at = [&] {
    for (const auto& l : e["log"]) {
      if (l.value("status", "") == "paused") return l.value("at", int64_t{0});
    }
    return int64_t{0};
  }();
  const int64_t resumed_at = [&] {
    for (const auto& l : e["log"]) {
      if (l.value("status", "") == "resuming") return l.value("at", int64_t{0});
    }
    return int64_t{0};
  }();
  ASSERT_GT(paused_at, 0) << e.dump(2);
  ASSERT_GT(resumed_at, 0) << e.dump(2);
  int before = 0;
  for (const auto& a : e["children"]) {
    ids.insert(a.value("id", ""));
    const int64_t t = a.value("started_at", int64_t{0});
    if (t < paused_at) ++before;
    if (t > paused_at) {
      EXPECT_GE(t, resumed_at) << "an item started while paused" << e.dump(2);
    }
    int overlapping = 0;
    for (const auto& b : e["children"]) {
      if (b.value("started_at", int64_t{0}) <= t && b.value("finished_at", int64_t{0}) > t) {
        ++overlapping;
      }
    }
    EXPECT_LE(overlapping, 2) << e.dump(2);
  }
  EXPECT_EQ(before, 2) << e.dump(2);
  EXPECT_EQ(ids.size(), 6u);
}

// Pausing a workflow whose task is a running subworkflow pauses the subworkflow too (after its
// own running task); resuming the parent resumes it; both finish, each task once.
TEST_F(OrquestaTest, PausePassesDownToASubworkflowAndResumeToo) {
  auto api = Api();
  const std::string id = Start(api, "orq.subseq", {{"seconds", 2}});
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
  std::string out = RunGale(node_->home(), "execution pause " + id, &code);
  EXPECT_EQ(code, 0) << out;
  ASSERT_TRUE(WaitStatus(api, id, "paused"))
      << Get(api, id).dump(2) << Get(api, child_id).dump(2) << node_->Log();
  EXPECT_EQ(StatusOf(api, child_id), "paused");
  EXPECT_EQ(Tasks(Get(api, child_id)), (TaskMap{{"one", {"succeeded"}}}));
  EXPECT_EQ(Tasks(Get(api, id)), (TaskMap{{"child", {"paused"}}}));
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(Tasks(Get(api, child_id)), (TaskMap{{"one", {"succeeded"}}}));
  // The subworkflow, paused by its parent, is resumed with it.
  out = RunGale(node_->home(), "execution resume " + id, &code);
  EXPECT_EQ(code, 0) << out;
  Json done = WaitFinal(api, id, 60s);
  ASSERT_EQ(done.value("status", ""), "succeeded")
      << Get(api, id).dump(2) << Get(api, child_id).dump(2) << node_->Log();
  Json e = Get(api, id);
  EXPECT_EQ(Tasks(e), (TaskMap{{"child", {"succeeded"}}, {"after", {"succeeded"}}}));
  EXPECT_EQ(e["result"]["output"]["from_child"], "one-three") << e.dump(2);
  EXPECT_EQ(ExecutionsPerTask(*node_, child_id),
            (std::map<std::string, int>{{"one", 1}, {"three", 1}, {"two", 1}}));
  EXPECT_EQ(ExecutionsPerTask(*node_, id),
            (std::map<std::string, int>{{"after", 1}, {"child", 1}}));
  EXPECT_EQ(StatusLog(api, child_id),
            (std::vector<std::string>{"requested", "running", "pausing", "paused", "resuming",
                                      "running", "succeeded"}));
}

// Paused while its only task waits for its delay: paused at once (nothing runs); the delay runs
// out while paused and the task is not requested; after the resume it is, once.
TEST_F(OrquestaTest, PauseDuringADelayThenResume) {
  auto api = Api();
  const std::string id = Start(api, "orq.later", Json::object());
  ASSERT_TRUE(WaitStatus(api, id, "running")) << Get(api, id).dump(2) << node_->Log();
  int code = -1;
  std::string out = RunGale(node_->home(), "execution pause " + id, &code);
  EXPECT_EQ(code, 0) << out;
  ASSERT_TRUE(WaitStatus(api, id, "paused", 5s)) << Get(api, id).dump(2) << node_->Log();
  std::this_thread::sleep_for(4s);  // past the delay
  EXPECT_EQ(StatusOf(api, id), "paused");
  EXPECT_EQ(Get(api, id).value("children", Json::array()).size(), 0u) << Get(api, id).dump(2);
  out = RunGale(node_->home(), "execution resume " + id, &code);
  EXPECT_EQ(code, 0) << out;
  Json done = WaitFinal(api, id, 30s);
  ASSERT_EQ(done.value("status", ""), "succeeded") << Get(api, id).dump(2) << node_->Log();
  EXPECT_EQ(Tasks(Get(api, id)), (TaskMap{{"later", {"succeeded"}}}));
  EXPECT_EQ(ExecutionsPerTask(*node_, id), (std::map<std::string, int>{{"later", 1}}));
  EXPECT_TRUE(WaitFor([&] { return DelayKeysOf(*node_, id) == 0; }, 10s));
}

// A paused workflow canceled: it ends canceled, what it held is never requested, its state goes.
TEST_F(OrquestaTest, CancelOfAPausedWorkflow) {
  auto api = Api();
  const std::string id = Start(api, "orq.seq", {{"seconds", 1}});
  ASSERT_TRUE(WaitRunning(api, id, 1)) << Get(api, id).dump(2) << node_->Log();
  int code = -1;
  std::string out = RunGale(node_->home(), "execution pause " + id, &code);
  EXPECT_EQ(code, 0) << out;
  ASSERT_TRUE(WaitStatus(api, id, "paused")) << Get(api, id).dump(2) << node_->Log();
  out = RunGale(node_->home(), "execution cancel " + id, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(WaitFinal(api, id, 30s).value("status", ""), "canceled") << node_->Log();
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(Tasks(Get(api, id)), (TaskMap{{"one", {"succeeded"}}}));
  EXPECT_EQ(ExecutionsPerTask(*node_, id), (std::map<std::string, int>{{"one", 1}}));
  EXPECT_TRUE(WaitFor([&] { return !StateOf(*node_, id).has_value(); }, 10s));
}

// Once an orquesta workflow has ended its state document and delayed requests are gone, its
// tasks are still shown, and its tasks' final events delivered again (as after a crash before
// their offsets were committed) start nothing and change nothing.
TEST_F(OrquestaTest, FinishedStateIsRemovedAndAReplayedEventChangesNothing) {
  auto api = Api();
  const std::string id = Start(api, "orq.seq", {{"seconds", 0}});
  Json done = WaitFinal(api, id, 60s);
  ASSERT_EQ(done.value("status", ""), "succeeded") << Get(api, id).dump(2) << node_->Log();
  ASSERT_TRUE(WaitFor([&] { return !StateOf(*node_, id).has_value(); }, 10s))
      << StateOf(*node_, id)->dump(2);
  EXPECT_EQ(DelayKeysOf(*node_, id), 0u);
  const Json children = Get(api, id).value("children", Json::array());
  EXPECT_EQ(Tasks(Get(api, id)),
            (TaskMap{{"one", {"succeeded"}}, {"two", {"succeeded"}}, {"three", {"succeeded"}}}));
  ASSERT_EQ(children.size(), 3u);

  auto key = LoadOrCreateKeyFile(SharedBusKeyFile(), "the bus key", "bus.signing_key_file");
  ASSERT_TRUE(key.ok()) << key.message();
  bus::BusConfig config;
  config.brokers = node_->brokers();
  config.topic_prefix = node_->topic_prefix();
  config.signing_key.assign(reinterpret_cast<const char*>(key->data()), key->size());
  auto producer = bus::Producer::Create(config);
  ASSERT_TRUE(producer.ok()) << producer.message();
  const double transitions = NodeMetric(api, "workflow_transitions");
  const size_t log_size = Get(api, id)["log"].size();
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
  // All three were handled by the engine...
  ASSERT_TRUE(
      WaitFor([&] { return NodeMetric(api, "workflow_transitions") >= transitions + 3; }, 30s))
      << NodeMetric(api, "workflow_transitions") << " " << transitions << node_->Log();
  // ...and changed nothing: no new task, no state, the same status and log.
  EXPECT_EQ(StatusOf(api, id), "succeeded");
  EXPECT_EQ(Get(api, id)["log"].size(), log_size) << Get(api, id).dump(2);
  EXPECT_EQ(ExecutionsPerTask(*node_, id),
            (std::map<std::string, int>{{"one", 1}, {"three", 1}, {"two", 1}}));
  EXPECT_FALSE(StateOf(*node_, id).has_value());
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

// Pause and resume with two nodes handling the workflow's events (and, with real Kafka and
// MongoDB, the store's compare-and-set across processes): paused after the running task, the
// next one held; one node killed -9 while paused; resumed, the other node runs the rest and
// every task ran once. A with-items alongside, paused the same way.
void PauseOnTwoNodes(Backend backend) {
  Deployment d;
  StartDeployment(backend, &d);
  if (::testing::Test::IsSkipped() || ::testing::Test::HasFatalFailure()) return;
  cli::ApiClient api(ApiFlagsOf(*d.hub));
  const std::string id = Start(api, "orq.seq", {{"seconds", 2}});
  const std::string items = Start(
      api, "orq.items", {{"names", {"a", "b", "c", "d", "e", "f"}}, {"conc", 3}, {"seconds", 2}});
  ASSERT_TRUE(WaitRunning(api, id, 1)) << Get(api, id).dump(2) << d.Logs();
  ASSERT_TRUE(WaitRunning(api, items, 3)) << Get(api, items).dump(2) << d.Logs();
  for (const auto& w : {id, items}) {
    int code = -1;
    std::string out = RunGale(d.hub->home(), "execution pause " + w, &code);
    EXPECT_EQ(code, 0) << out;
  }
  ASSERT_TRUE(WaitStatus(api, id, "paused")) << Get(api, id).dump(2) << d.Logs();
  ASSERT_TRUE(WaitStatus(api, items, "paused")) << Get(api, items).dump(2) << d.Logs();
  // No node owns a paused workflow: one killed meanwhile loses nothing of it.
  kill(-d.workers["worker-1"]->pid(), SIGKILL);
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(Tasks(Get(api, id)), (TaskMap{{"one", {"succeeded"}}}));
  EXPECT_EQ(Get(api, items)["children"].size(), 3u) << Get(api, items).dump(2);
  for (const auto& w : {id, items}) {
    int code = -1;
    std::string out = RunGale(d.hub->home(), "execution resume " + w, &code);
    EXPECT_EQ(code, 0) << out;
  }
  Json done = WaitFinal(api, id, 60s);
  ASSERT_EQ(done.value("status", ""), "succeeded") << Get(api, id).dump(2) << d.Logs();
  EXPECT_EQ(ExecutionsPerTask(*d.hub, id),
            (std::map<std::string, int>{{"one", 1}, {"three", 1}, {"two", 1}}));
  done = WaitFinal(api, items, 60s);
  ASSERT_EQ(done.value("status", ""), "succeeded") << Get(api, items).dump(2) << d.Logs();
  EXPECT_EQ(Get(api, items)["result"]["output"]["outs"], Json({"a", "b", "c", "d", "e", "f"}));
  EXPECT_EQ(ExecutionsPerTask(*d.hub, items), (std::map<std::string, int>{{"each", 6}}));
  EXPECT_TRUE(WaitFor([&] { return !StateOf(*d.hub, id).has_value(); }, 10s));
  EXPECT_TRUE(WaitFor([&] { return !StateOf(*d.hub, items).has_value(); }, 10s));
}

TEST(OrquestaNodes, PauseAndResumeOnTwoNodesEmbedded) {
  PauseOnTwoNodes(Backend::kEmbedded);
}

TEST(OrquestaNodes, PauseAndResumeOnTwoNodesKafkaAndMongo) {
  PauseOnTwoNodes(Backend::kRealKafka);
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

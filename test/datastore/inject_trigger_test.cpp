// core.inject_trigger against a real node: a python-script action (StackStorm's Action class,
// host/python/st2common) whose action_service dispatches through the runner's datastore socket;
// the instance it fires runs a rule's action.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "host/cli/api_client.h"
#include "test/support/api_fixture.h"
#include "test/support/node_harness.h"
#include "test/support/pack_dir.h"

namespace gale::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

TEST(InjectTriggerTest, CoreInjectTriggerFiresAnInstanceThatARuleTurnsIntoAnExecution) {
  TempDir packs, watched;
  ShareWithActions(watched.path());
  fs::copy(fs::path(GALE_BINARY_DIR) / "packs/core", packs.path() / "core",
           fs::copy_options::recursive);
  CopyExamplesPack(packs.path() / "examples");  // declares examples.changed_file
  std::ofstream(packs.path() / "examples" / "config.yaml")
      << "directories: [" << watched.str() << "]\n";
  WriteFiles(packs.path() / "injtest",
             {{"pack.yaml",
               "---\nref: injtest\nname: injtest\ndescription: core.inject_trigger's rule\n"
               "version: 0.1.0\nauthor: tests\n"},
              {"rules/on_inject.yaml",
               "---\nname: on_inject\npack: injtest\n"
               "trigger: {type: examples.changed_file}\n"
               "criteria:\n  trigger.path: {type: equals, pattern: /injected}\n"
               "action:\n  ref: core.echo\n"
               "  parameters: {message: 'injected {{ trigger.status }}'}\n"}});
  NodeOptions options;
  options.packs_paths = {packs.str()};
  auto node = NodeProcess::Start(options);
  cli::ApiClient api(ApiFlagsOf(*node));

  Json run = {{"action", "core.inject_trigger"},
              {"parameters",
               {{"trigger", "examples.changed_file"},
                {"payload",
                 {{"path", "/injected"}, {"time", "2026-12-07T05:00:00Z"}, {"status", "created"}}},
                {"trace_tag", "inject-trace"}}}};
  auto r = api.Call("POST", "/v1/executions", &run);
  ASSERT_TRUE(r.ok() && r->status == 201) << (r.ok() ? r->body : r.message()) << node->Log();
  const Json injected = WaitFinal(api, r->json().value("id", ""));
  ASSERT_EQ(injected.value("status", ""), "succeeded") << injected.dump() << node->Log();
  // StackStorm's python-script result: the action's return value under "result".
  const Json instance = injected["result"]["result"];
  ASSERT_TRUE(instance.is_object()) << injected.dump();
  EXPECT_EQ(instance["trigger"], "examples.changed_file");
  EXPECT_EQ(instance["trace_id"], "inject-trace");

  auto store = node->OpenStore();
  store::Execution fired;
  ASSERT_TRUE(WaitFor(
      [&] {
        store::ExecutionQuery q;
        q.rule = "injtest.on_inject";
        auto page = store->ListExecutions(q);
        if (!page.ok() || page->items.empty() || !store::IsFinal(page->items.front().status)) {
          return false;
        }
        fired = page->items.front();
        return true;
      },
      60s))
      << node->Log();
  EXPECT_EQ(fired.status, store::ExecStatus::kSucceeded) << fired.result.dump();
  EXPECT_EQ(fired.trigger_instance, instance["id"]);
  EXPECT_EQ(fired.trace_id, "inject-trace");
  EXPECT_EQ(fired.result["stdout"], "injected created\n");

  // A trigger type that does not exist fails the action with the node's reason.
  Json bad = {{"action", "core.inject_trigger"}, {"parameters", {{"trigger", "nope.nothing"}}}};
  auto rb = api.Call("POST", "/v1/executions", &bad);
  ASSERT_TRUE(rb.ok() && rb->status == 201);
  const Json refused = WaitFinal(api, rb->json().value("id", ""));
  EXPECT_EQ(refused.value("status", ""), "failed");
  EXPECT_NE(refused["result"].dump().find("trigger type 'nope.nothing' not found"),
            std::string::npos)
      << refused.dump();
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

}  // namespace
}  // namespace gale::testing

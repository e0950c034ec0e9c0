// Actions' datastore against a real node: an action of pack `dstest` runs /usr/bin/python3 with
// the shim (gale_shim.channel and gale_shim.datastore, the calls Python actions make) over the
// runner's socket, as the sandbox's action user. What it may read and write, sealed values, a
// forged or stale token, and a dispatch that a rule turns into an execution.
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

// Every probe starts with this: a channel from the environment the runner set, and `ds`, the
// DatastoreService of class Probe of pack dstest. `attempt` records a call's value or refusal.
constexpr const char* kPrelude = R"(import json, os, sys
from gale_shim.channel import Channel, ChannelError
from gale_shim.datastore import DatastoreService
out = {}
def attempt(name, f):
    try:
        out[name] = f()
    except ChannelError as e:
        out[name] = "refused: %s" % e
ch = Channel.from_env()
ds = DatastoreService(ch, "dstest", "Probe", None)
)";

constexpr const char* kPayload =
    R"({"path": "/dispatched/by/an/action", "time": "2026-12-07T05:00:00Z", "status": "created"})";

void WritePacks(const fs::path& root, const fs::path& watched) {
  WriteFiles(
      root / "dstest",
      {{"pack.yaml",
        "---\nref: dstest\nname: dstest\ndescription: datastore probes\n"
        "version: 0.1.0\nauthor: tests\n"},
       // The code arrives as PARAM_CODE, never as part of the command text.
       {"actions/py.yaml",
        "---\nname: py\npack: dstest\nrunner_type: local-shell-cmd\n"
        "description: runs PARAM_CODE with the system Python and the Gale shim\n"
        "parameters:\n"
        "  code: {type: string, required: true}\n"
        "  cmd:\n    type: string\n    immutable: true\n"
        "    default: 'PYTHONPATH=\"$GALE_PYTHON_SHIM\" /usr/bin/python3 -c \"$PARAM_CODE\"'\n"},
       {"rules/on_dispatch.yaml",
        "---\nname: on_dispatch\npack: dstest\n"
        "trigger: {type: examples.changed_file}\n"
        "criteria:\n  trigger.path: {type: equals, pattern: /dispatched/by/an/action}\n"
        "action:\n  ref: dstest.py\n"
        "  parameters: {code: 'print(\"fired by {{ trigger.status }}\")'}\n"}});
  // The examples pack declares examples.changed_file (its sensor watches a directory of ours).
  CopyExamplesPack(root / "examples");
  std::ofstream(root / "examples" / "config.yaml") << "directories: [" << watched.string() << "]\n";
}

class ActionDatastoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    packs_ = std::make_unique<TempDir>();
    watched_ = std::make_unique<TempDir>();
    scratch_ = std::make_unique<TempDir>();
    ShareWithActions(watched_->path());
    ShareWithActions(scratch_->path());
    WritePacks(packs_->path(), watched_->path());
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
    watched_.reset();
    scratch_.reset();
  }

  // Runs `code` (after the prelude, then printing `out` as JSON) as dstest.py; the final
  // execution document.
  Json RunProbe(const std::string& code) {
    cli::ApiClient api(ApiFlagsOf(*node_));
    Json run = {
        {"action", "dstest.py"},
        {"parameters", {{"code", std::string(kPrelude) + code + "\nprint(json.dumps(out))\n"}}}};
    auto r = api.Call("POST", "/v1/executions", &run);
    EXPECT_TRUE(r.ok() && r->status == 201) << (r.ok() ? r->body : r.message());
    if (!r.ok() || r->status != 201) return Json();
    return WaitFinal(api, r->json().value("id", ""));
  }
  // What the probe printed last (its `out`).
  static Json Out(const Json& execution) {
    std::string text = execution["result"].value("stdout", "");
    while (!text.empty() && text.back() == '\n') text.pop_back();
    const size_t line = text.rfind('\n');
    return Json::parse(line == std::string::npos ? text : text.substr(line + 1), nullptr, false);
  }
  static std::string Gale(const std::string& args) {
    int code = 0;
    std::string out = RunGale(node_->home(), args, &code);
    EXPECT_EQ(code, 0) << args << ": " << out;
    return out;
  }

  static std::unique_ptr<TempDir> packs_;
  static std::unique_ptr<TempDir> watched_;
  static std::unique_ptr<TempDir> scratch_;  // where probes may write
  static std::unique_ptr<NodeProcess> node_;
};

std::unique_ptr<TempDir> ActionDatastoreTest::packs_;
std::unique_ptr<TempDir> ActionDatastoreTest::watched_;
std::unique_ptr<TempDir> ActionDatastoreTest::scratch_;
std::unique_ptr<NodeProcess> ActionDatastoreTest::node_;

TEST_F(ActionDatastoreTest, APythonActionSetsGetsListsAndDeletesItsKeys) {
  Gale("key set shared.greeting hello");
  Json e = RunProbe(R"(
attempt("env", lambda: [n for n in ("GALE_DATASTORE_SOCKET", "GALE_DATASTORE_TOKEN",
                                    "GALE_PYTHON_SHIM") if os.environ.get(n)])
attempt("set", lambda: ds.set_value("counter", "1"))
attempt("set_ttl", lambda: ds.set_value("shortlived", "x", ttl=3600))
attempt("get", lambda: ds.get_value("counter"))
attempt("get_shared", lambda: ds.get_value("shared.greeting", local=False))
attempt("get_absent", lambda: ds.get_value("absent"))
attempt("list", lambda: [(k.name, k.value, k.expire_timestamp is not None)
                         for k in ds.list_values()])
attempt("delete", lambda: ds.delete_value("shortlived"))
attempt("delete_again", lambda: ds.delete_value("shortlived"))
attempt("user_set", lambda: ds.set_value("pref", "dark", scope="user"))
attempt("user_get", lambda: ds.get_value("pref", scope="user"))
attempt("system_get_of_user_key", lambda: ds.get_value("pref"))
)");
  ASSERT_EQ(e.value("status", ""), "succeeded") << e.dump() << node_->Log();
  const Json out = Out(e);
  EXPECT_EQ(out["env"],
            Json::array({"GALE_DATASTORE_SOCKET", "GALE_DATASTORE_TOKEN", "GALE_PYTHON_SHIM"}));
  EXPECT_EQ(out["set"], true) << out.dump();
  EXPECT_EQ(out["get"], "1");
  EXPECT_EQ(out["get_shared"], "hello");
  EXPECT_EQ(out["get_absent"], nullptr);
  EXPECT_EQ(out["list"], Json::parse(R"([["dstest.Probe:counter", "1", false],
                                          ["dstest.Probe:shortlived", "x", true]])"));
  EXPECT_EQ(out["delete"], true);
  EXPECT_EQ(out["delete_again"], false);
  EXPECT_EQ(out["user_set"], true);
  EXPECT_EQ(out["user_get"], "dark");
  EXPECT_EQ(out["system_get_of_user_key"], nullptr);
  // What the node's CLI sees: the action's keys, under its pack's local prefix; the user-scope
  // key is the system user's (rules and `gale run` act as it).
  EXPECT_EQ(Gale("key get dstest.Probe:counter"), "1\n");
  EXPECT_EQ(Gale("key get dstest.Probe:pref --scope user --user stanley"), "dark\n");
}

TEST_F(ActionDatastoreTest, ASecretSetByTheCliOpensOnlyWithDecryptAndAnActionCanSealOne) {
  Gale("key set dstest.api_token s3cr3t --encrypt");
  Json e = RunProbe(R"(
attempt("sealed", lambda: ds.get_value("dstest.api_token", local=False))
attempt("plain", lambda: ds.get_value("dstest.api_token", local=False, decrypt=True))
attempt("seal", lambda: ds.set_value("mine", "p4ss", encrypt=True))
attempt("mine_sealed", lambda: ds.get_value("mine"))
attempt("mine_plain", lambda: ds.get_value("mine", decrypt=True))
attempt("listed_secret", lambda: [k.secret for k in ds.list_values(prefix="mine")])
)");
  ASSERT_EQ(e.value("status", ""), "succeeded") << e.dump();
  const Json out = Out(e);
  EXPECT_EQ(out["plain"], "s3cr3t") << out.dump();
  ASSERT_TRUE(out["sealed"].is_string());
  EXPECT_EQ(out["sealed"].get<std::string>().find("s3cr3t"), std::string::npos);
  EXPECT_EQ(out["sealed"].get<std::string>().rfind("aes256gcm", 0), 0u) << out["sealed"];
  EXPECT_EQ(out["mine_plain"], "p4ss");
  EXPECT_EQ(out["mine_sealed"].get<std::string>().find("p4ss"), std::string::npos);
  EXPECT_EQ(out["listed_secret"], Json::array({true}));
  // The CLI opens what the action sealed: the same key, the same binding.
  EXPECT_EQ(Gale("key get dstest.Probe:mine --decrypt"), "p4ss\n");
}

TEST_F(ActionDatastoreTest, OtherPacksKeysAndTheGaleScopeAreOutOfReach) {
  Json e = RunProbe(R"(
attempt("other_pack", lambda: ds.set_value("examples.planted", "x", local=False))
attempt("other_delete", lambda: ds.delete_value("shared.greeting", local=False))
attempt("gale_scope", lambda: ch.request("get", name="apikey", scope="gale"))
attempt("counters", lambda: ch.request("counters", dispatched=0, rejected=0, undelivered=0))
)");
  ASSERT_EQ(e.value("status", ""), "succeeded") << e.dump();
  const Json out = Out(e);
  EXPECT_EQ(out["other_pack"],
            "refused: set: 'examples.planted' is not a key of pack dstest (names start with "
            "'dstest.')");
  EXPECT_EQ(out["other_delete"],
            "refused: delete: 'shared.greeting' is not a key of pack dstest (names start with "
            "'dstest.')");
  EXPECT_EQ(out["gale_scope"], "refused: scope \"gale\" is not open to actions");
  EXPECT_EQ(out["counters"], "refused: counters is not open to actions");
  int code = 0;
  RunGale(node_->home(), "key get examples.planted", &code);
  EXPECT_EQ(code, 1);
}

TEST_F(ActionDatastoreTest, AForgedOrStaleTokenIsRefused) {
  // The first execution leaves its token behind; once it ended, the token opens nothing.
  const fs::path left = scratch_->path() / "token";
  Json first = RunProbe("open('" + left.string() +
                        "', 'w').write(os.environ['GALE_DATASTORE_TOKEN'])\n"
                        "attempt('own', lambda: ds.get_value('counter'))\n");
  ASSERT_EQ(first.value("status", ""), "succeeded") << first.dump();
  std::ifstream in(left);
  std::string stale;
  std::getline(in, stale);
  ASSERT_EQ(stale.size(), 32u);
  Json e = RunProbe(R"(
path = os.environ["GALE_DATASTORE_SOCKET"]
def hello(token):
    c = Channel.connect(path, hello={"op": "hello", "token": token})
    return c.request("get", name="x")
attempt("forged", lambda: hello("0" * 32))
attempt("stale", lambda: hello(")" +
                    stale + R"("))
attempt("no_hello", lambda: Channel.connect(path).request("get", name="x"))
attempt("own", lambda: hello(os.environ["GALE_DATASTORE_TOKEN"]))
)");
  ASSERT_EQ(e.value("status", ""), "succeeded") << e.dump();
  const Json out = Out(e);
  const std::string unknown =
      "refused: unknown token (a token is valid only while its execution runs)";
  EXPECT_EQ(out["forged"], unknown);
  EXPECT_EQ(out["stale"], unknown);
  EXPECT_EQ(out["no_hello"],
            "refused: the first message must be {\"op\": \"hello\", \"token\": "
            "$GALE_DATASTORE_TOKEN}");
  EXPECT_EQ(out["own"], nullptr);
}

TEST_F(ActionDatastoreTest, ADispatchFiresATriggerThatARuleTurnsIntoAnExecution) {
  Json e = RunProbe(std::string(R"(
attempt("fired", lambda: ds.dispatch("examples.changed_file", json.loads(')") +
                    kPayload +
                    R"('), trace_tag="probe-trace"))
attempt("unknown", lambda: ds.dispatch("examples.nope", {}))
attempt("invalid", lambda: ds.dispatch("examples.changed_file", {"path": 3}))
)");
  ASSERT_EQ(e.value("status", ""), "succeeded") << e.dump();
  const Json out = Out(e);
  ASSERT_TRUE(out["fired"].is_object()) << out.dump();
  EXPECT_EQ(out["fired"]["trigger"], "examples.changed_file");
  EXPECT_EQ(out["fired"]["trace_id"], "probe-trace");
  EXPECT_EQ(out["unknown"], "refused: dispatch: trigger type 'examples.nope' not found");
  EXPECT_EQ(
      out["invalid"].get<std::string>().rfind(
          "refused: dispatch: payload does not match trigger type 'examples.changed_file'", 0),
      0u)
      << out["invalid"];
  // The rule dstest.on_dispatch runs dstest.py for it, rendered from the payload.
  auto store = node_->OpenStore();
  Json fired;
  ASSERT_TRUE(WaitFor(
      [&] {
        store::ExecutionQuery q;
        q.rule = "dstest.on_dispatch";
        auto page = store->ListExecutions(q);
        if (!page.ok() || page->items.empty()) return false;
        const auto& x = page->items.front();
        if (!store::IsFinal(x.status)) return false;
        fired = {{"status", store::ToString(x.status)},
                 {"trigger_instance", x.trigger_instance},
                 {"trace_id", x.trace_id},
                 {"result", x.result}};
        return true;
      },
      60s))
      << node_->Log();
  EXPECT_EQ(fired["status"], "succeeded") << fired.dump();
  EXPECT_EQ(fired["trigger_instance"], out["fired"]["id"]);
  EXPECT_EQ(fired["trace_id"], "probe-trace");
  EXPECT_EQ(fired["result"]["stdout"], "fired by created\n");
}

}  // namespace
}  // namespace gale::testing

// python-script actions against a real node (issue 19, item 1; host/runner/launch.h): a pack
// written in StackStorm's layout (test/runner/fixtures/pystack), run through the API the way a
// user runs it, in the node's sandbox (as the action user when the test runs as root). Also
// core.uuid, and a local-shell-script whose #! line names StackStorm's Python (item 4).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "test/support/api_fixture.h"

namespace gale::testing {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

class PythonActionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    packs_ = std::make_unique<TempDir>();
    WriteApiPacks(packs_->path());  // core (with core.uuid), as built
    fs::copy(GALE_PYSTACK_FIXTURE, packs_->path() / "pystack", fs::copy_options::recursive);
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
  static std::string Start(const std::string& action, const Json& parameters) {
    Json body = {{"action", action}, {"parameters", parameters}};
    auto api = Api();
    auto created = api.Call("POST", "/v1/executions", &body);
    EXPECT_TRUE(created.ok()) << created.message();
    EXPECT_EQ(created->status, 201) << created->body;
    return created->json().value("id", "");
  }
  static Json Run(const std::string& action, const Json& parameters) {
    auto api = Api();
    return WaitFinal(api, Start(action, parameters));
  }

  static std::unique_ptr<TempDir> packs_;
  static std::unique_ptr<NodeProcess> node_;
};
std::unique_ptr<TempDir> PythonActionTest::packs_;
std::unique_ptr<NodeProcess> PythonActionTest::node_;

TEST_F(PythonActionTest, ReturnValueIsTheResultAndPrintAndLoggerAreStdoutAndStderr) {
  Json done = Run("pystack.greet", {{"name", "ann"}, {"shout", true}});
  ASSERT_EQ(done["status"], "succeeded") << done.dump(2) << node_->Log();
  const Json& r = done["result"];
  EXPECT_EQ(r["result"]["greeting"], "HELLO ANN");
  EXPECT_EQ(r["exit_code"], 0);
  // print() is the execution's stdout, exactly: the result block the runner reads is not in it.
  EXPECT_EQ(r["stdout"], "*** ann ***\n");
  // self.logger writes StackStorm's format on stderr.
  EXPECT_NE(r["stderr"].get<std::string>().find("actions.python.Greet: INFO     greeting ann"),
            std::string::npos)
      << r["stderr"];
  EXPECT_FALSE(r.contains("error")) << r.dump();
  // Nor in the live output stream (what `gale execution tail` shows).
  auto api = Api();
  auto live = api.Call("GET", "/v1/executions/" + done["id"].get<std::string>() + "/output");
  ASSERT_TRUE(live.ok()) << live.message();
  // stdout and stderr chunks interleave in the stream (print() writes the text, then "\n").
  EXPECT_NE(live->body.find("*** ann ***"), std::string::npos) << live->body;
  EXPECT_EQ(live->body.find("gale-result"), std::string::npos) << live->body;
  EXPECT_EQ(live->body.find("HELLO ANN"), std::string::npos) << live->body;
}

TEST_F(PythonActionTest, ThePackConfigIsSelfConfig) {
  Json done = Run("pystack.greet", {{"name", "cfg"}});
  ASSERT_EQ(done["status"], "succeeded") << done.dump(2);
  EXPECT_EQ(done["result"]["result"]["config"],
            Json({{"api_host", "api.example.test"}, {"retries", 3}}));
}

TEST_F(PythonActionTest, FalseTupleFailsWithItsResult) {
  Json done = Run("pystack.greet", {{"name", "bob"}, {"outcome", "refuse"}});
  EXPECT_EQ(done["status"], "failed") << done.dump(2);
  EXPECT_EQ(done["result"]["result"], Json({{"refused", "bob"}}));
  EXPECT_EQ(done["result"]["stdout"], "*** bob ***\n");
}

TEST_F(PythonActionTest, AnExceptionFailsWithItsTraceback) {
  Json done = Run("pystack.greet", {{"name", "eve"}, {"outcome", "raise"}});
  EXPECT_EQ(done["status"], "failed") << done.dump(2);
  const Json& r = done["result"];
  EXPECT_EQ(r["error"], "RuntimeError: cannot greet eve") << r.dump(2);
  const std::string tb = r.value("traceback", "");
  EXPECT_EQ(tb.rfind("Traceback (most recent call last):\n", 0), 0u) << tb;
  EXPECT_NE(tb.find("greet.py\", line"), std::string::npos) << tb;
  EXPECT_NE(tb.find("in run\n"), std::string::npos) << tb;
  // The wrapper's own frames are not the action's business.
  EXPECT_EQ(tb.find("action_wrapper.py"), std::string::npos) << tb;
  // And on stderr, as Python prints it.
  EXPECT_NE(r["stderr"].get<std::string>().find("RuntimeError: cannot greet eve"),
            std::string::npos);
  EXPECT_EQ(r["exit_code"], 1);
}

TEST_F(PythonActionTest, ParametersArriveButNeverInAnyArgv) {
  const std::string token = "py-tok-" + std::to_string(getpid()) + "-secret";
  auto api = Api();
  const std::string id =
      Start("pystack.greet", {{"name", "sam"}, {"token", token}, {"seconds", 3}});
  ASSERT_TRUE(WaitFor(
      [&] {
        return api.Call("GET", "/v1/executions/" + id)->json().value("status", "") == "running";
      },
      20s));
  // Wait until the interpreter is up (it prints its banner before sleeping), then look at every
  // command line on the machine, as `ps` shows them to any local user.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto out = api.Call("GET", "/v1/executions/" + id + "/output");
        return out.ok() && out->body.find("*** sam ***") != std::string::npos;
      },
      20s))
      << "the action never printed";
  bool saw_wrapper = false;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(cmdline.find(token), std::string::npos) << entry.path() << " shows the secret";
    saw_wrapper = saw_wrapper || cmdline.find("action_wrapper.py") != std::string::npos;
  }
  EXPECT_TRUE(saw_wrapper) << "no python-script process was running to look at";
  Json done = WaitFinal(api, id);
  ASSERT_EQ(done["status"], "succeeded") << done.dump(2);
  EXPECT_EQ(done["result"]["result"]["token_length"], token.size());
  EXPECT_EQ(done["result"]["result"]["greeting"], "hello sam");
}

TEST_F(PythonActionTest, CoreUuidReturnsAUuid4ByDefault) {
  const std::regex uuid4("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  Json done = Run("core.uuid", Json::object());
  ASSERT_EQ(done["status"], "succeeded") << done.dump(2);
  const Json& value = done["result"]["result"];
  ASSERT_TRUE(value.is_string()) << done.dump(2);
  EXPECT_TRUE(std::regex_match(value.get<std::string>(), uuid4)) << value;
  Json again = Run("core.uuid", {{"uuid_type", "uuid4"}});
  EXPECT_NE(again["result"]["result"], value);
  Json v1 = Run("core.uuid", {{"uuid_type", "uuid1"}});
  ASSERT_EQ(v1["status"], "succeeded") << v1.dump(2);
  EXPECT_TRUE(std::regex_match(
      v1["result"]["result"].get<std::string>(),
      std::regex("[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << v1.dump();
}

// The node's pack copy is <root>/<ref>@<digest>/<ref>; its virtualenv, when the pack has one,
// <root>/<ref>@<digest>/virtualenv. A stand-in (a symlink to the system Python: sys.executable
// keeps the path it was started as) shows which interpreter the runner chose.
TEST_F(PythonActionTest, StackStormShebangsAndPythonActionsRunThePacksVirtualenv) {
  Json before = Run("pystack.which_python", {{"label", "first"}});
  ASSERT_EQ(before["status"], "succeeded") << before.dump(2) << node_->Log();
  Json seen = Json::parse(before["result"]["stdout"].get<std::string>());
  const fs::path script = seen["script"].get<std::string>();
  const fs::path venv = script.parent_path().parent_path().parent_path() / "virtualenv";
  EXPECT_EQ(seen["argv"], Json::array({"first"}));
  const fs::path venv_python = venv / "bin" / "python";
  bool made = false;
  if (!fs::exists(venv_python)) {
    EXPECT_EQ(seen["python"], "/usr/bin/python3") << "no virtualenv: the system's Python";
    fs::create_directories(venv / "bin");
    fs::permissions(venv, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
    fs::permissions(venv / "bin", fs::perms::owner_all | fs::perms::group_read |
                                      fs::perms::group_exec | fs::perms::others_read |
                                      fs::perms::others_exec);
    fs::create_symlink("/usr/bin/python3", venv_python);
    made = true;
  }
  Json after = Run("pystack.which_python", {{"label", "second"}});
  ASSERT_EQ(after["status"], "succeeded") << after.dump(2);
  EXPECT_EQ(Json::parse(after["result"]["stdout"].get<std::string>())["python"],
            venv_python.string());
  Json action = Run("pystack.greet", {{"name", "venv"}});
  ASSERT_EQ(action["status"], "succeeded") << action.dump(2);
  EXPECT_EQ(action["result"]["result"]["python"], venv_python.string());
  if (made) fs::remove_all(venv);
}

// self.action_service, every call, from a python-script action through the runner's datastore
// socket: local names scoped to the class, list, delete, the user scope, encrypt and decrypt (of
// its own value and of one sealed by `gale key set --encrypt`), and the node's refusals.
TEST_F(PythonActionTest, ActionServiceReachesTheDatastore) {
  int code = 0;
  const std::string set = RunGale(node_->home(), "key set pystack.api_key t0ken --encrypt", &code);
  ASSERT_EQ(code, 0) << set;
  Json done = Run("pystack.keep", {{"secret_name", "pystack.api_key"}});
  ASSERT_EQ(done["status"], "succeeded") << done.dump(2) << node_->Log();
  const Json& seen = done["result"]["result"];
  EXPECT_EQ(seen["local"], "1") << seen.dump(2);
  EXPECT_EQ(seen["local_full"], "1");
  EXPECT_EQ(seen["listed"], (Json{"pystack.Keep:counter", "pystack.Keep:gone"})) << seen.dump(2);
  EXPECT_EQ(seen["deleted"], true);
  EXPECT_TRUE(seen["after_delete"].is_null()) << seen.dump(2);
  EXPECT_EQ(seen["user"], "u1");
  EXPECT_TRUE(seen["user_not_system"].is_null()) << seen.dump(2);
  EXPECT_EQ(seen["sealed_raw_differs"], true);
  EXPECT_EQ(seen["sealed"], "s3cret");
  EXPECT_EQ(seen["secret"], "t0ken");
  EXPECT_NE(seen["other_pack"].get<std::string>().find("is not a key of pack pystack"),
            std::string::npos)
      << seen.dump(2);
  EXPECT_NE(seen["bad_scope"].get<std::string>().find("Scope nobody is unsupported"),
            std::string::npos)
      << seen.dump(2);
  // What the action wrote is in the store, as any client sees it.
  const std::string shared = RunGale(node_->home(), "key get pystack.shared", &code);
  EXPECT_EQ(code, 0) << shared;
  EXPECT_NE(shared.find("everyone"), std::string::npos) << shared;
}

}  // namespace
}  // namespace gale::testing

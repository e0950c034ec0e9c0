// Actions cannot reach past their sandbox (docs/security.md, "Threat model"): run as a user
// would run them, through a real node's API, with the shipped defaults. Every test also checks
// that the node keeps serving.
#include <pwd.h>
#include <sys/stat.h>
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

// The pack of would-be escapes: a script action with a secret parameter, and an action whose
// sandbox block asks for more than the node gives.
void WriteEscapePack(const fs::path& root) {
  const fs::path pack = root / "escape";
  fs::create_directories(pack / "actions");
  std::ofstream(pack / "pack.yaml") << "---\nref: escape\nname: escape\ndescription: escapes\n"
                                       "version: 0.1.0\nauthor: tests\n";
  std::ofstream(pack / "actions/holder.yaml")
      << "---\nname: holder\npack: escape\nrunner_type: local-shell-script\n"
         "entry_point: holder.sh\nparameters:\n"
         "  token: {type: string, secret: true, required: true}\n"
         "  seconds: {type: integer, default: 4}\n";
  std::ofstream(pack / "actions/holder.sh") << "#!/bin/sh\nsleep \"$PARAM_SECONDS\"\necho held\n";
  fs::permissions(pack / "actions/holder.sh",
                  fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
  std::ofstream(pack / "actions/wide.yaml")
      << "---\nname: wide\npack: escape\nrunner_type: local-shell-cmd\n"
         "sandbox: {profile: default, network: true, timeout: 86400}\n"
         "parameters:\n  cmd: {type: string, required: true}\n";
}

class ContainmentTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    packs_ = std::make_unique<TempDir>();
    WriteApiPacks(packs_->path());
    WriteEscapePack(packs_->path());
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
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "SKIPPED: the node must run as root to drop actions to the action user";
    }
    ASSERT_TRUE(node_) << "the node did not start";
  }
  void TearDown() override {
    if (!node_) return;
    // Whatever the action tried, the node still runs actions.
    Json echo = Run("core.echo", {{"message", "still serving"}});
    EXPECT_EQ(echo["status"], "succeeded") << echo.dump() << node_->Log();
    EXPECT_TRUE(node_->Alive()) << node_->Log();
  }

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
  static std::string Shell(const std::string& cmd) {
    Json done = Run("core.local", {{"cmd", cmd}});
    return done["result"].value("stdout", "") + done["result"].value("stderr", "");
  }

  static std::unique_ptr<TempDir> packs_;
  static std::unique_ptr<NodeProcess> node_;
};
std::unique_ptr<TempDir> ContainmentTest::packs_;
std::unique_ptr<NodeProcess> ContainmentTest::node_;

uid_t ActionUid() {
  passwd* pw = getpwnam("gale-action");
  return pw ? pw->pw_uid : 0;
}

// Row "action: uid and capabilities".
TEST_F(ContainmentTest, ActionsRunAsTheActionUserWithNoCapabilities) {
  ASSERT_NE(ActionUid(), 0u) << "scripts/setup creates the gale-action user";
  Json done = Run("core.local", {{"cmd",
                                  "id -u; grep -E '^(Cap|NoNewPrivs|Seccomp:)' "
                                  "/proc/self/status"}});
  ASSERT_EQ(done["status"], "succeeded") << done.dump();
  const std::string out = done["result"]["stdout"];
  EXPECT_EQ(out.substr(0, out.find('\n')), std::to_string(ActionUid())) << out;
  for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
    EXPECT_NE(out.find(std::string(set) + ":\t0000000000000000"), std::string::npos)
        << set << " not empty:\n"
        << out;
  }
  EXPECT_NE(out.find("NoNewPrivs:\t1"), std::string::npos) << out;
  EXPECT_NE(out.find("Seccomp:\t2"), std::string::npos) << out;
}

// Row "action: the node's files".
TEST_F(ContainmentTest, TheNodesKeysStoreAndBusAddressCannotBeRead) {
  const std::string home = node_->home();
  std::string key;
  std::getline(std::ifstream(home + "/keys/datastore.key", std::ios::binary), key);
  ASSERT_FALSE(key.empty()) << "the node has a datastore key";
  for (const std::string file :
       {"/keys/datastore.key", "/gale.db", "/bus.addr", "/api.addr", "/api.token"}) {
    Json done = Run("core.local", {{"cmd", "cat '" + home + file + "'"}});
    EXPECT_EQ(done["status"], "failed") << file << ": " << done.dump();
    const std::string err = done["result"].value("stderr", "");
    EXPECT_NE(err.find("Permission denied"), std::string::npos) << file << ": " << err;
    EXPECT_EQ(done["result"].value("stdout", ""), "") << file;
  }
  // Not by listing or writing either.
  const std::string out = Shell("ls '" + home + "' 2>&1; echo x > '" + home + "/planted' 2>&1");
  EXPECT_FALSE(fs::exists(home + "/planted")) << out;
  EXPECT_EQ(out.find("gale.db"), std::string::npos) << out;
}

// Row "action: the node's memory and /dev/userfaultfd".
TEST_F(ContainmentTest, TheNodeIsNotVisibleAndItsMemoryNotReadable) {
  const std::string pid = std::to_string(node_->pid());
  const std::string out = Shell("head -c 16 /proc/" + pid +
                                "/mem 2>&1; echo; ls /proc | grep -c '^[0-9]'; "
                                "exec 3<>/dev/userfaultfd 2>&1 && echo uffd-open");
  EXPECT_EQ(out.find("uffd-open"), std::string::npos) << out;
  // Only the execution's own namespace is in /proc: its keeper, sh, ls, grep.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("\n([0-9]+)\n"))) << out;
  EXPECT_LE(std::stoi(m[1]), 6) << out;
  EXPECT_NE(out.find("No such file"), std::string::npos) << "the node's pid is visible:\n" << out;
}

// Row "action: another execution".
TEST_F(ContainmentTest, ExecutionsCannotSeeSignalOrReadEachOther) {
  const std::string token = "tok-" + std::to_string(getpid()) + "-secret";
  const std::string holder = Start("escape.holder", {{"token", token}, {"seconds", 4}});
  auto api = Api();
  // Wait until the holder runs, then look for it from a second execution.
  ASSERT_TRUE(WaitFor(
      [&] {
        return api.Call("GET", "/v1/executions/" + holder)->json().value("status", "") == "running";
      },
      20s));
  std::this_thread::sleep_for(300ms);
  // Secrets never in any argv on the machine (what `ps` shows to every local user).
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(cmdline.find(token), std::string::npos) << entry.path() << " shows the secret";
  }
  const std::string out = Shell(
      "for p in /proc/[0-9]*; do cat $p/environ 2>/dev/null | tr '\\0' '\\n' | grep tok-; done;"
      "pkill -f 'holde[r].sh' && echo signalled; pgrep -f 'holde[r].sh' || echo not-seen");
  EXPECT_EQ(out.find(token), std::string::npos) << out;
  EXPECT_EQ(out.find("signalled"), std::string::npos) << out;
  EXPECT_NE(out.find("not-seen"), std::string::npos) << out;
  Json held = WaitFinal(api, holder);
  EXPECT_EQ(held["status"], "succeeded") << held.dump();
  EXPECT_EQ(held["result"]["stdout"], "held\n");
}

// Row "caller: core.echo message".
TEST_F(ContainmentTest, CoreEchoPrintsItsMessageLiterally) {
  const std::string message = "$(id) `id` ; id && echo pwned | cat";
  Json done = Run("core.echo", {{"message", message}});
  ASSERT_EQ(done["status"], "succeeded") << done.dump();
  EXPECT_EQ(done["result"]["stdout"], message + "\n");
}

// Row "caller: env and cwd".
TEST_F(ContainmentTest, CallersCannotSetLoaderVariablesOrEnterTheNodesHome) {
  Json preload = Run("core.local", {{"cmd", "echo ran"}, {"env", {{"LD_PRELOAD", "/tmp/x.so"}}}});
  EXPECT_EQ(preload["status"], "failed") << preload.dump();
  EXPECT_NE(preload.dump().find("LD_PRELOAD"), std::string::npos) << preload.dump();
  EXPECT_EQ(preload["result"].value("stdout", ""), "");
  Json cwd = Run("core.local", {{"cmd", "ls"}, {"cwd", node_->home()}});
  EXPECT_EQ(cwd["status"], "failed") << cwd.dump();
  EXPECT_EQ(cwd["result"].value("stdout", ""), "");
}

// Row "pack: sandbox block and timeout". A node that allows no network and at most 2 s.
TEST(NarrowingTest, PacksAndCallersOnlyNarrowTheNodesPolicy) {
  if (geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root (namespaces, the action user)";
  TempDir packs;
  WriteApiPacks(packs.path());
  WriteEscapePack(packs.path());
  NodeOptions options;
  options.packs_paths = {packs.str()};
  options.extra_yaml = "sandbox:\n  profile: no-network\n  max_timeout: 2\n";
  auto node = NodeProcess::Start(options);
  cli::ApiClient api(ApiFlagsOf(*node));
  auto run = [&](const std::string& action, const Json& parameters) {
    Json body = {{"action", action}, {"parameters", parameters}};
    auto created = api.Call("POST", "/v1/executions", &body);
    EXPECT_EQ(created->status, 201) << created->body;
    return WaitFinal(api, created->json().value("id", ""));
  };
  // The pack asked for `default` with network: it gets the node's no-network, and its own
  // network namespace (not even the host's loopback is there).
  const std::string port = node->api_url().substr(node->api_url().rfind(':') + 1);
  Json net = run("escape.wide", {{"cmd",
                                  "cat /proc/net/dev | grep -c ':'; "
                                  "bash -c 'exec 3<>/dev/tcp/127.0.0.1/" +
                                      port + "' 2>&1 && echo connected"}});
  EXPECT_EQ(net["result"].value("stdout", "").find("connected"), std::string::npos) << net.dump();
  EXPECT_EQ(net["result"].value("stdout", "").substr(0, 2), "1\n")
      << "only loopback: " << net.dump();
  // The pack asked for a day, the caller for an hour: the node's 2 s maximum wins.
  Json slow = run("escape.wide", {{"cmd", "sleep 30"}});
  EXPECT_EQ(slow["status"], "timeout") << slow.dump();
  Json caller = run("core.local", {{"cmd", "sleep 30"}, {"timeout", 3600}});
  EXPECT_EQ(caller["status"], "timeout") << caller.dump();
  EXPECT_LT(caller["result"]["sandbox"].value("wall_ms", 0), 20000) << caller.dump();
  Json echo = run("core.echo", {{"message", "still serving"}});
  EXPECT_EQ(echo["status"], "succeeded") << echo.dump();
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

}  // namespace
}  // namespace gale::testing

// Off loopback the API demands an API key on every request (but /healthz); keys come from
// `gale apikey create`, are stored hashed, and stop working when deleted.
#include <cstdio>

#include "test/api/api_fixture.h"

namespace gale::testing {
namespace {

// Runs `gale ARGS` with GALE_HOME=home; returns stdout, sets *code to the exit code.
std::string Gale(const std::string& home, const std::string& args, int* code) {
  // The node's store is its own SQLite file: CI's GALE_MONGODB_URL must not redirect the CLI.
  const std::string cmd = "env -u GALE_MONGODB_URL -u GALE_KAFKA_BROKERS GALE_HOME=" + home + " " +
                          std::string(GALE_BINARY_DIR) + "/bin/gale " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return out;
}

TEST(ApiSecurityTest, OffLoopbackEveryRequestNeedsAValidApiKey) {
  TempDir packs;
  WriteApiPacks(packs.path());
  NodeOptions options;
  options.packs_paths = {packs.str()};
  options.api_listen = "0.0.0.0:0";
  auto node = NodeProcess::Start(options);
  ASSERT_NE(node->Log().find("API keys required"), std::string::npos) << node->Log();
  cli::ApiFlags flags;
  flags.url = node->api_url();
  cli::ApiClient anonymous(flags);
  auto refused = anonymous.Call("GET", "/v1/executions");
  ASSERT_TRUE(refused.ok()) << refused.message();
  EXPECT_EQ(refused->status, 401);
  EXPECT_NE(refused->error().find("gale apikey create"), std::string::npos);
  EXPECT_EQ(anonymous.Call("GET", "/healthz")->status, 200) << "health checks need no key";

  int code = 0;
  const std::string key = Gale(node->home(), "apikey create --name ci --json", &code);
  ASSERT_EQ(code, 0) << key;
  Json created = Json::parse(key);
  flags.key = created["key"];
  cli::ApiClient authorised(flags);
  EXPECT_EQ(authorised.Call("GET", "/v1/executions")->status, 200);
  flags.key = std::string(created["key"]) + "x";
  EXPECT_EQ(cli::ApiClient(flags).Call("GET", "/v1/executions")->status, 401);
  // Only the hash is stored.
  auto store = node->OpenStore();
  auto stored = store->ListKeys(store::KeyScope::kGale, "", "apikey:", store::NowMs());
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].value.find(created["key"].get<std::string>()), std::string::npos);
  EXPECT_EQ((*stored)[0].name.find(created["key"].get<std::string>()), std::string::npos);

  const std::string listed = Gale(node->home(), "apikey list", &code);
  EXPECT_EQ(code, 0);
  EXPECT_NE(listed.find(created["id"].get<std::string>()), std::string::npos) << listed;
  Gale(node->home(), "apikey delete " + created["id"].get<std::string>(), &code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(authorised.Call("GET", "/v1/executions")->status, 401) << "a deleted key still works";
  Gale(node->home(), "apikey delete " + created["id"].get<std::string>(), &code);
  EXPECT_EQ(code, 1);
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

}  // namespace
}  // namespace gale::testing

// The API's doors (host/api/access.h) against a real node: no anonymous caller, loopback
// included (another local user, an action); no browser page (foreign Host, cross-origin
// text/plain); keys scoped read/run/admin; keys in query strings only for webhooks. Keys come
// from `gale apikey create`, are stored hashed, and stop working when deleted.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>

#include "host/api/api_keys.h"
#include "host/api/http_server.h"

#include "test/support/api_fixture.h"

namespace gale::testing {
namespace {

// Runs `cmd` in a shell; returns its output (stdout and stderr).
std::string Sh(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  pclose(p);
  return out;
}

// A raw request's first line, sent from this process with exactly these headers.
std::string Raw(const std::string& url, const std::string& method, const std::string& target,
                const std::string& headers, const std::string& body = "") {
  const std::string response =
      RawExchange(url, method + " " + target + " HTTP/1.1\r\n" + headers +
                           "Connection: close\r\nContent-Length: " + std::to_string(body.size()) +
                           "\r\n\r\n" + body);
  return response.substr(0, response.find("\r\n\r\n"));
}

const char* kRunNoop = R"({"action": "core.noop"})";

class ApiDoorsTest : public ApiNodeTest {
 protected:
  static std::string Host() { return "Host: " + HostOf(node().api_url()) + "\r\n"; }
  static std::string Token() { return "St2-Api-Key: " + node().api_token() + "\r\n"; }
  static std::string Key(const std::string& scope) {
    int code = 0;
    const std::string out = RunGale(node().home(), "apikey create --json --scope " + scope, &code);
    EXPECT_EQ(code, 0) << out;
    return Json::parse(out, nullptr, false).value("key", "");
  }
};

TEST_F(ApiDoorsTest, TheNodeWritesAPrivateTokenThatIsAnAdminKey) {
  struct stat st {};
  ASSERT_EQ(stat((node().home() + "/api.token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(node().api_token().size(), 64u) << "256 bits in hex";
  EXPECT_EQ(node().Log().find(node().api_token()), std::string::npos) << "the log has the token";
  Json put = {{"value", "s3cret"}, {"encrypt", true}};
  ASSERT_EQ(Api().Call("PUT", "/v1/keys/doors.secret", &put)->status, 200);
  EXPECT_EQ(Api().Call("GET", "/v1/keys/doors.secret?decrypt=true")->json()["value"], "s3cret");
  // Anonymous on loopback: only /healthz and /metrics.
  cli::ApiFlags anonymous;
  anonymous.url = node().api_url();
  anonymous.key = "-";  // not empty, so the client does not look for a token: sent, and invalid
  EXPECT_EQ(cli::ApiClient(anonymous).Call("GET", "/v1/executions")->status, 401);
  EXPECT_EQ(StatusOf(RawExchange(node().api_url(), "GET /v1/executions HTTP/1.1\r\n" + Host() +
                                                       "Connection: close\r\n\r\n")),
            401);
  EXPECT_EQ(StatusOf(RawExchange(node().api_url(), "GET /metrics HTTP/1.1\r\n" + Host() +
                                                       "Connection: close\r\n\r\n")),
            200);
  EXPECT_EQ(StatusOf(RawExchange(node().api_url(),
                                 "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")),
            200);
}

TEST_F(ApiDoorsTest, AnotherLocalUserGets401AndCannotReadTheToken) {
  if (geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root to act as another user";
  const std::string as_nobody = "setpriv --reuid=nobody --regid=nogroup --clear-groups ";
  const std::string posted = Sh(as_nobody +
                                "curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: "
                                "application/json' --data '" +
                                std::string(kRunNoop) + "' " + node().api_url() + "/v1/executions");
  EXPECT_EQ(posted, "401");
  EXPECT_NE(Sh(as_nobody + "cat " + node().home() + "/api.token"), node().api_token() + "\n");
  // Their CLI, pointed at the node's home, finds no token and is refused too.
  const std::string listed =
      Sh(as_nobody + "env GALE_HOME=" + node().home() + " GALE_API_URL=" + node().api_url() + " " +
         std::string(GALE_BINARY_DIR) + "/bin/gale execution list");
  EXPECT_NE(listed.find("API key"), std::string::npos) << listed;
}

TEST_F(ApiDoorsTest, AnActionCallingTheApiGets401) {
  if (geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root to drop actions to the action user";
  // Under the default profile an action shares the host's network, loopback included.
  Json run = {{"action", "core.local"},
              {"parameters",
               {{"cmd",
                 "curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: "
                 "application/json' --data '" +
                     std::string(kRunNoop) + "' " + node().api_url() + "/v1/executions"}}}};
  auto api = Api();
  auto created = api.Call("POST", "/v1/executions", &run);
  ASSERT_EQ(created->status, 201) << created->body;
  Json done = WaitFinal(api, created->json()["id"]);
  EXPECT_EQ(done["result"].value("stdout", ""), "401") << done.dump();
}

TEST_F(ApiDoorsTest, BrowserPagesAreRefused) {
  const std::string url = node().api_url();
  // A page's form post: text/plain, cross-origin, even with a valid key.
  EXPECT_NE(Raw(url, "POST", "/v1/executions",
                Host() + Token() + "Origin: http://evil.example\r\nContent-Type: text/plain\r\n",
                kRunNoop)
                .find(" 403 "),
            std::string::npos);
  // Same origin but not JSON.
  EXPECT_EQ(StatusOf(Raw(url, "POST", "/v1/executions",
                         Host() + Token() + "Content-Type: text/plain\r\n", kRunNoop)),
            415);
  // DNS rebinding: the page's own name in Host.
  EXPECT_EQ(StatusOf(Raw(url, "GET", "/v1/executions", "Host: evil.example:80\r\n" + Token())),
            421);
  EXPECT_EQ(StatusOf(Raw(url, "GET", "/v1/executions", Token())), 421) << "no Host at all";
  // The API's own origin and the loopback names pass.
  const std::string port = HostOf(url).substr(HostOf(url).rfind(':') + 1);
  EXPECT_EQ(StatusOf(Raw(url, "GET", "/v1/executions",
                         "Host: localhost:" + port + "\r\n" + Token() +
                             "Origin: http://localhost:" + port + "\r\n")),
            200);
  // Webhooks take what senders send.
  EXPECT_EQ(StatusOf(Raw(url, "POST", "/v1/webhooks/deploy",
                         Host() + Token() + "Content-Type: application/x-www-form-urlencoded\r\n",
                         "service=form")),
            202);
}

TEST_F(ApiDoorsTest, KeysDoWhatTheirScopeAllows) {
  const std::string url = node().api_url();
  auto as = [&](const std::string& key) { return Api(key); };
  auto read = as(Key("read")), run = as(Key("run")), admin = as(Key("admin"));
  Json put = {{"value", "classified"}, {"encrypt", true}};
  ASSERT_EQ(admin.Call("PUT", "/v1/keys/doors.scoped", &put)->status, 200);
  Json noop = {{"action", "core.noop"}};

  EXPECT_EQ(read.Call("GET", "/v1/executions")->status, 200);
  EXPECT_EQ(read.Call("GET", "/v1/keys/doors.scoped")->status, 200);
  EXPECT_EQ(read.Call("GET", "/v1/keys/doors.scoped?decrypt=true")->status, 403);
  EXPECT_EQ(read.Call("GET", "//v1//keys?decrypt=true")->status, 403) << "the router's spelling";
  EXPECT_EQ(read.Call("POST", "/v1/executions", &noop)->status, 403);

  auto ran = run.Call("POST", "/v1/executions", &noop);
  ASSERT_EQ(ran->status, 201) << ran->body;
  EXPECT_EQ(WaitFinal(run, ran->json()["id"])["status"], "succeeded");
  Json hook = {{"service", "scoped"}};
  EXPECT_EQ(run.Call("POST", "/v1/webhooks/deploy", &hook)->status, 202);
  EXPECT_EQ(run.Call("GET", "/v1/keys/doors.scoped?decrypt=true")->status, 403);
  EXPECT_EQ(run.Call("PUT", "/v1/keys/doors.scoped", &put)->status, 403);
  EXPECT_EQ(run.Call("POST", "/v1/packs/reload")->status, 403);

  EXPECT_EQ(admin.Call("GET", "/v1/keys/doors.scoped?decrypt=true")->json()["value"], "classified");

  // A key in the query string counts on webhook routes only.
  const std::string key = Key("run");
  EXPECT_EQ(StatusOf(Raw(url, "GET", "/v1/executions?st2-api-key=" + key, Host())), 401);
  EXPECT_EQ(StatusOf(Raw(url, "POST", "/v1/webhooks/deploy?st2-api-key=" + key,
                         Host() + "Content-Type: application/json\r\n", R"({"service": "q"})")),
            202);

  int code = 0;
  const std::string listed = RunGale(node().home(), "apikey list --json", &code);
  ASSERT_EQ(code, 0) << listed;
  std::set<std::string> scopes;
  for (const auto& k : Json::parse(listed)) scopes.insert(k["scope"].get<std::string>());
  EXPECT_EQ(scopes, (std::set<std::string>{"read", "run", "admin"})) << listed;
}

// A key stored before scopes existed counts as `run`.
TEST_F(ApiDoorsTest, AKeyWithoutAScopeCountsAsRun) {
  auto store = node().OpenStore();
  const std::string key = "gale_legacy_key_for_the_doors_test";
  store::KeyValue kv;
  kv.name = "apikey:" + api::Sha256Hex(key);
  kv.scope = store::KeyScope::kGale;
  kv.value = Json{{"id", kv.name.substr(7, 12)}, {"name", "old"}, {"created_at", 1}}.dump();
  ASSERT_TRUE(store->SetKey(kv, store::NowMs()).ok());
  auto old = Api(key);
  Json noop = {{"action", "core.noop"}};
  EXPECT_EQ(old.Call("POST", "/v1/executions", &noop)->status, 201);
  EXPECT_EQ(old.Call("GET", "/v1/keys?decrypt=true")->status, 403);
}

TEST_F(ApiDoorsTest, ListedOriginsGetCorsHeaders) {
  // This node lists no origin; ApiSecurityTest.ListedOriginsAndHostnames covers one that does.
  const std::string preflight =
      Raw(node().api_url(), "OPTIONS", "/v1/executions",
          Host() + "Origin: https://ui.example\r\nAccess-Control-Request-Method: POST\r\n");
  EXPECT_EQ(StatusOf(preflight), 403) << preflight;
}

TEST(ApiSecurityTest, ListedOriginsAndHostnamesAndAnonymousLoopback) {
  TempDir packs;
  WriteApiPacks(packs.path());
  NodeOptions options;
  options.packs_paths = {packs.str()};
  options.api_yaml =
      "anonymous_loopback: true, hostnames: [gale.internal], cors_origins: "
      "[\"https://ui.example\"]";
  auto node = NodeProcess::Start(options);
  ASSERT_FALSE(node->api_url().empty()) << node->Log();
  EXPECT_NE(node->Log().find("api.anonymous_loopback is on"), std::string::npos) << node->Log();
  const std::string url = node->api_url();
  const std::string port = url.substr(url.rfind(':') + 1);
  const std::string host = "Host: " + HostOf(url) + "\r\n";
  // Anonymous works again, as before issue 16.
  EXPECT_EQ(StatusOf(Raw(url, "POST", "/v1/executions", host + "Content-Type: application/json\r\n",
                         kRunNoop)),
            201);
  EXPECT_EQ(StatusOf(Raw(url, "GET", "/v1/executions", "Host: gale.internal:" + port + "\r\n")),
            200);
  EXPECT_EQ(StatusOf(Raw(url, "GET", "/v1/executions", "Host: gale.internal\r\n")), 200)
      << "a reverse proxy on port 80";
  const std::string preflight =
      Raw(url, "OPTIONS", "/v1/executions",
          host + "Origin: https://ui.example\r\nAccess-Control-Request-Method: POST\r\n");
  EXPECT_EQ(StatusOf(preflight), 204) << preflight;
  EXPECT_NE(preflight.find("Access-Control-Allow-Origin: https://ui.example"), std::string::npos)
      << preflight;
  EXPECT_NE(preflight.find("St2-Api-Key"), std::string::npos) << preflight;
  EXPECT_NE(preflight.find("Vary: Origin"), std::string::npos) << preflight;
  const std::string listed =
      Raw(url, "GET", "/v1/executions", host + "Origin: https://ui.example\r\n");
  EXPECT_EQ(StatusOf(listed), 200) << listed;
  EXPECT_NE(listed.find("Access-Control-Allow-Origin: https://ui.example"), std::string::npos);
  EXPECT_EQ(StatusOf(Raw(url, "GET", "/v1/executions", host + "Origin: https://other.example\r\n")),
            403);
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

// The client learns an id to quote; what failed (which may name files or values) stays in the
// log.
TEST(ApiSecurityTest, A500TellsOnlyARequestId) {
  api::ServerOptions options;
  options.listen = "127.0.0.1:0";
  auto server = api::HttpServer::Start(options, [](api::HttpRequest&) -> api::HttpResponse {
    throw std::runtime_error("cannot open /secret/path");
  });
  ASSERT_TRUE(server.ok()) << server.message();
  const std::string response =
      RawExchange("http://" + (*server)->address(),
                  "GET /v1/executions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(StatusOf(response), 500) << response;
  EXPECT_EQ(response.find("secret"), std::string::npos) << response;
  const Json body = Json::parse(response.substr(response.find("\r\n\r\n") + 4), nullptr, false);
  EXPECT_EQ(body.value("error", ""), "internal error") << response;
  EXPECT_EQ(body.value("request_id", "").size(), 36u) << response;
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
  EXPECT_EQ(anonymous.Call("GET", "/metrics")->status, 401) << "metrics need a key off loopback";

  int code = 0;
  const std::string key = RunGale(node->home(), "apikey create --name ci --json", &code);
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

  const std::string listed = RunGale(node->home(), "apikey list", &code);
  EXPECT_EQ(code, 0);
  EXPECT_NE(listed.find(created["id"].get<std::string>()), std::string::npos) << listed;
  RunGale(node->home(), "apikey delete " + created["id"].get<std::string>(), &code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(authorised.Call("GET", "/v1/executions")->status, 401) << "a deleted key still works";
  RunGale(node->home(), "apikey delete " + created["id"].get<std::string>(), &code);
  EXPECT_EQ(code, 1);
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

}  // namespace
}  // namespace gale::testing

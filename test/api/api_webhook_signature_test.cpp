// Signed webhooks (GitHub's X-Hub-Signature-256) against a real node: a core.st2.webhook rule
// that declares secret_file or secret ({{ st2kv.system.NAME }}) takes only requests whose body
// is signed with that secret, API key or not; a correct signature needs no key. Unsigned webhooks
// keep taking API keys; a literal secret in a rule file keeps its pack from loading.
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>

#include "host/common/hex.h"
#include "host/common/hmac.h"

#include "test/support/api_fixture.h"

namespace gale::testing {
namespace {
namespace fs = std::filesystem;

const char* kFileSecret = "file-secret-0f3a";
const char* kKvSecret = "kv-secret-77c1";

struct Answer {
  int status = 0;
  std::string body;
};

std::string Signature(const std::string& secret, const std::string& body) {
  return "sha256=" + HexEncode(HmacSha256(secret, body));
}

void WriteRule(const fs::path& pack, const std::string& name, const std::string& parameters) {
  std::ofstream(pack / "rules" / (name + ".yaml"))
      << "---\nname: " << name << "\npack: " << pack.filename().string()
      << "\ntrigger:\n  type: core.st2.webhook\n  parameters: " << parameters
      << "\naction:\n  ref: core.local\n  parameters:\n"
         "    cmd: \"echo signed {{ trigger.body.marker }}\"\n";
}

void WritePack(const fs::path& dir) {
  fs::create_directories(dir / "rules");
  std::ofstream(dir / "pack.yaml")
      << "---\nref: " << dir.filename().string() << "\nname: " << dir.filename().string()
      << "\ndescription: signed webhooks\nversion: 0.1.0\n"
         "author: tests\n";
}

class SignedWebhookTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    packs_ = std::make_unique<TempDir>();
    const fs::path root = packs_->path();
    WriteApiPacks(root);  // core, and hooks.on_deploy on the unsigned webhook `deploy`
    fs::create_directories(root / "secrets");
    std::ofstream(root / "secrets/github") << kFileSecret << "\n";
    chmod((root / "secrets/github").c_str(), 0600);
    WritePack(root / "signed");
    WriteRule(root / "signed", "on_push",
              "{url: github, secret_file: " + (root / "secrets/github").string() + "}");
    WriteRule(root / "signed", "on_kv", "{url: kvhook, secret: \"{{ st2kv.system.hook_key }}\"}");
    WriteRule(root / "signed", "on_broken",
              "{url: broken, secret_file: " + (root / "secrets/absent").string() + "}");
    WritePack(root / "literal");
    WriteRule(root / "literal", "on_literal", "{url: literal, secret: hunter2-literal}");
    WritePack(root / "relative");
    WriteRule(root / "relative", "on_relative", "{url: relative, secret_file: secrets/github}");
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

  static cli::ApiClient Api() { return cli::ApiClient(ApiFlagsOf(*node_)); }
  static std::string Token() { return "St2-Api-Key: " + node_->api_token() + "\r\n"; }

  // POST `target` with exactly these headers (Host and Content-Type added) and `body`.
  static Answer Post(const std::string& target, const std::string& headers,
                     const std::string& body) {
    const std::string response =
        RawExchange(node_->api_url(),
                    "POST " + target + " HTTP/1.1\r\nHost: " + HostOf(node_->api_url()) +
                        "\r\nContent-Type: application/json\r\n" + headers +
                        "Connection: close\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\n\r\n" + body);
    const size_t end = response.find("\r\n\r\n");
    return {StatusOf(response), end == std::string::npos ? "" : response.substr(end + 4)};
  }
  static std::string Signed(const std::string& secret, const std::string& body) {
    return "X-Hub-Signature-256: " + Signature(secret, body) + "\r\n";
  }

  // Waits for `rule`'s execution whose command carries `marker`; returns its final document.
  static Json ExecutionWith(const std::string& rule, const std::string& marker) {
    auto api = Api();
    Json execution;
    WaitFor(
        [&] {
          auto r = api.Call("GET", "/v1/executions?rule=" + rule + "&limit=50");
          if (!r.ok() || r->status != 200) return false;
          for (const auto& e : r->json()) {
            if (e["parameters"].value("cmd", "").find(marker) != std::string::npos) execution = e;
          }
          return !execution.is_null();
        },
        std::chrono::seconds(30));
    return execution.is_null() ? execution : WaitFinal(api, execution["id"]);
  }

  static std::unique_ptr<TempDir> packs_;
  static std::unique_ptr<NodeProcess> node_;
};

std::unique_ptr<TempDir> SignedWebhookTest::packs_;
std::unique_ptr<NodeProcess> SignedWebhookTest::node_;

TEST_F(SignedWebhookTest, AFileSecretTakesOnlyCorrectlySignedRequestsAndNeedsNoKey) {
  const std::string body = R"({"marker": "push-1"})";
  Answer fired = Post("/v1/webhooks/github", Signed(kFileSecret, body), body);
  ASSERT_EQ(fired.status, 202) << fired.body << node_->Log();
  EXPECT_EQ(fired.body.find(kFileSecret), std::string::npos) << "the instance has the secret";
  const Json instance = Json::parse(fired.body);
  EXPECT_EQ(instance["trigger_parameters"], (Json{{"url", "github"}}));
  EXPECT_EQ(instance["payload"]["body"]["marker"], "push-1");
  Json done = ExecutionWith("signed.on_push", "push-1");
  ASSERT_FALSE(done.is_null()) << "the rule did not run\n" << node_->Log();
  EXPECT_EQ(done["status"], "succeeded") << done.dump();
  EXPECT_EQ(done["result"]["stdout"], "signed push-1\n");

  const std::string forged = R"({"marker": "forged"})";
  Answer wrong = Post("/v1/webhooks/github", Signed("not-the-secret", forged), forged);
  EXPECT_EQ(wrong.status, 401) << wrong.body;
  EXPECT_TRUE(Json::parse(wrong.body, nullptr, false).contains("faultstring")) << wrong.body;
  EXPECT_EQ(Post("/v1/webhooks/github", "", forged).status, 401) << "no signature";
  EXPECT_EQ(Post("/v1/webhooks/github", Token(), forged).status, 401) << "a key, no signature";
  EXPECT_EQ(Post("/v1/webhooks/github?st2-api-key=" + node_->api_token(), "", forged).status, 401)
      << "a key in the query, no signature";
  EXPECT_EQ(Post("/v1/webhooks/github", Token() + Signed("not-the-secret", forged), forged).status,
            401)
      << "a key and a wrong signature";
  // The signature of another body, and malformed ones.
  EXPECT_EQ(Post("/v1/webhooks/github", Signed(kFileSecret, body), forged).status, 401);
  const std::string sha1 = "X-Hub-Signature: sha1=" + HexEncode(HmacSha256(kFileSecret, forged));
  EXPECT_EQ(Post("/v1/webhooks/github", sha1 + "\r\n", forged).status, 401);
  EXPECT_EQ(Post("/v1/webhooks/github", "X-Hub-Signature-256: sha256=zz\r\n", forged).status, 401);
  EXPECT_EQ(Post("/v1/webhooks/github",
                 "X-Hub-Signature-256: " + Signature(kFileSecret, forged).substr(7) +
                     "\r\n",  // no "sha256="
                 forged)
                .status,
            401);
  // Upper-case hex is the same signature.
  std::string upper = Signature(kFileSecret, R"({"marker": "upper"})");
  for (size_t i = 7; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
  EXPECT_EQ(Post("/v1/webhooks/github", "X-Hub-Signature-256: " + upper + "\r\n",
                 R"({"marker": "upper"})")
                .status,
            202);
  // None of the refused requests ran the rule.
  auto listed = Api().Call("GET", "/v1/executions?rule=signed.on_push&limit=50");
  EXPECT_EQ(listed->body.find("forged"), std::string::npos) << listed->body;
  EXPECT_EQ(node_->Log().find(kFileSecret), std::string::npos) << "the log has the secret";
}

TEST_F(SignedWebhookTest, TheSecretFileIsReadPerRequestSoRotationNeedsNoReload) {
  const fs::path file = packs_->path() / "secrets/github";
  const std::string body = R"({"marker": "rotated"})";
  std::ofstream(file, std::ios::trunc) << "rotated-secret\n";
  EXPECT_EQ(Post("/v1/webhooks/github", Signed(kFileSecret, body), body).status, 401);
  EXPECT_EQ(Post("/v1/webhooks/github", Signed("rotated-secret", body), body).status, 202);
  std::ofstream(file, std::ios::trunc) << kFileSecret << "\n";
  EXPECT_EQ(Post("/v1/webhooks/github", Signed(kFileSecret, body), body).status, 202);
}

TEST_F(SignedWebhookTest, AnEncryptedDatastoreSecretIsDecryptedToCheckTheSignature) {
  auto api = Api();
  const std::string body = R"({"marker": "kv-1"})";
  // Not set yet: nothing to check against.
  EXPECT_EQ(Post("/v1/webhooks/kvhook", Signed(kKvSecret, body), body).status, 401);
  Json put = {{"value", kKvSecret}, {"encrypt", true}};
  ASSERT_EQ(api.Call("PUT", "/v1/keys/hook_key", &put)->status, 200);
  EXPECT_EQ(
      api.Call("GET", "/v1/keys/hook_key")->json()["value"].get<std::string>().find(kKvSecret),
      std::string::npos)
      << "stored encrypted";

  Answer fired = Post("/v1/webhooks/kvhook", Signed(kKvSecret, body), body);
  ASSERT_EQ(fired.status, 202) << fired.body << node_->Log();
  EXPECT_EQ(fired.body.find(kKvSecret), std::string::npos);
  Json done = ExecutionWith("signed.on_kv", "kv-1");
  ASSERT_FALSE(done.is_null()) << "the rule did not run\n" << node_->Log();
  EXPECT_EQ(done["status"], "succeeded") << done.dump();

  // The sealed text is not the secret, and the node's key is no signature.
  const std::string sealed = api.Call("GET", "/v1/keys/hook_key")->json()["value"];
  EXPECT_EQ(Post("/v1/webhooks/kvhook", Signed(sealed, body), body).status, 401);
  EXPECT_EQ(Post("/v1/webhooks/kvhook", Token(), body).status, 401);
  EXPECT_EQ(node_->Log().find(kKvSecret), std::string::npos) << "the log has the secret";
}

TEST_F(SignedWebhookTest, AnUnreadableSecretFileRefusesWith401AndSaysWhichRuleAndFile) {
  const std::string body = R"({"marker": "broken"})";
  Answer refused = Post("/v1/webhooks/broken", Token() + Signed("", body), body);
  EXPECT_EQ(refused.status, 401) << refused.body;
  const std::string absent = (packs_->path() / "secrets/absent").string();
  EXPECT_TRUE(WaitFor(
      [&] {
        const std::string log = node_->Log();
        return log.find("signed.on_broken") != std::string::npos &&
               log.find(absent) != std::string::npos;
      },
      std::chrono::seconds(5)))
      << node_->Log();
}

TEST_F(SignedWebhookTest, UnsignedWebhooksStillTakeAnApiKey) {
  const std::string body = R"({"service": "unsigned"})";
  EXPECT_EQ(Post("/v1/webhooks/deploy", Token(), body).status, 202);
  EXPECT_EQ(Post("/v1/webhooks/deploy?st2-api-key=" + node_->api_token(), "", body).status, 202);
  EXPECT_EQ(Post("/v1/webhooks/deploy", "", body).status, 401);
  // A signature is no key where no secret is declared.
  EXPECT_EQ(Post("/v1/webhooks/deploy", Signed(kFileSecret, body), body).status, 401);
}

TEST_F(SignedWebhookTest, ALiteralOrRelativeSecretIsARuleErrorThatKeepsTheRuleOut) {
  // The node did not load those rules (each is refused, its pack loads without it): their
  // webhooks do not exist. --strict (pack authors' CI) fails the pack on them.
  EXPECT_EQ(Post("/v1/webhooks/literal", Token(), "{}").status, 404);
  EXPECT_EQ(Post("/v1/webhooks/relative", Token(), "{}").status, 404);

  int code = 0;
  const std::string literal =
      RunGale("", "pack validate --strict " + (packs_->path() / "literal").string(), &code);
  EXPECT_EQ(code, 1) << literal;
  EXPECT_NE(literal.find("rules/on_literal.yaml"), std::string::npos) << literal;
  EXPECT_NE(literal.find("st2kv.system"), std::string::npos) << literal;
  EXPECT_EQ(literal.find("hunter2-literal"), std::string::npos) << "the error repeats the secret";

  const std::string relative =
      RunGale("", "pack validate --strict " + (packs_->path() / "relative").string(), &code);
  EXPECT_EQ(code, 1) << relative;
  EXPECT_NE(relative.find("rules/on_relative.yaml"), std::string::npos) << relative;
  EXPECT_NE(relative.find("relative"), std::string::npos) << relative;
  EXPECT_NE(relative.find("absolute"), std::string::npos) << relative;

  const std::string valid = RunGale(
      "", "pack validate " + (packs_->path() / "signed").string() + " --packs " + packs_->str(),
      &code);
  EXPECT_EQ(code, 0) << valid;
}

}  // namespace
}  // namespace gale::testing

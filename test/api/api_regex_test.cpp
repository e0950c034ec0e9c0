// Hostile regular expressions from a pack against a real node: a trigger type's payload_schema
// with patterns that take exponential or quadratic time on a backtracking matcher, and a POST
// /v1/webhooks/st2 whose payload is a near-miss string just under the API's 1 MiB body limit.
// Schema patterns run on the linear-time engine, so each request is answered (400 or 202 as the
// pattern decides) within a few seconds and the node keeps serving.
#include <chrono>
#include <fstream>

#include "test/support/api_fixture.h"

namespace gale::testing {
namespace {
namespace fs = std::filesystem;

// Refused payloads: just under the API's body limit, leaving room for the JSON around the string.
constexpr std::size_t kLength = (std::size_t{1} << 20) - 256;
// Accepted payloads go on the bus, whose messages are limited to about 1 MB (librdkafka's
// message.max.bytes): half a MiB, still hours of work for a backtracking matcher.
constexpr std::size_t kAccepted = std::size_t{1} << 19;

// The built examples pack (a pack with sensors needs its library), its rule left out and its
// sensor disabled, declaring one more trigger type: `hostile`, whose payload_schema has patterns
// a backtracking matcher takes exponential (nested) or quadratic (mail) time on.
void WriteHostilePack(const fs::path& root) {
  fs::copy(fs::path(GALE_BINARY_DIR) / "packs/examples", root / "examples",
           fs::copy_options::recursive);
  fs::remove_all(root / "examples/rules");
  std::ofstream(root / "examples/sensors/directory_sensor.yaml")
      << "---\nclass_name: DirectorySensor\nentry_point: libexamples.so\nenabled: false\n"
         "trigger_types:\n"
         "  - name: hostile\n"
         "    payload_schema:\n"
         "      type: object\n"
         "      properties:\n"
         "        nested: {type: string, pattern: '^(a+)+$'}\n"
         "        mail: {type: string, pattern: '[a-z]+@'}\n";
}

struct Timed {
  int status = 0;
  std::string body;
  std::chrono::milliseconds took{0};
};

Timed Post(cli::ApiClient& api, const Json& payload) {
  Json body = {{"trigger", "examples.hostile"}, {"payload", payload}};
  const auto start = std::chrono::steady_clock::now();
  auto reply = api.Call("POST", "/v1/webhooks/st2", &body);
  Timed out;
  out.took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  if (reply.ok()) {
    out.status = reply->status;
    out.body = reply->body.substr(0, 400);
  } else {
    out.body = reply.message();
  }
  return out;
}

TEST(ApiHostileRegex, SchemaPatternsOnOneMebibytePayloadsAnswerPromptly) {
  TempDir packs;
  WriteApiPacks(packs.path());
  WriteHostilePack(packs.path());
  NodeOptions options;
  options.packs_paths = {packs.str()};
  options.api_request_timeout = 10;
  auto node = NodeProcess::Start(options);
  ASSERT_TRUE(node);
  cli::ApiClient api(ApiFlagsOf(*node));
  // The request timeout bounds reading a request; a pattern must not need anything near it.
  const auto kPrompt = std::chrono::milliseconds(8000);

  struct Case {
    const char* name;
    Json payload;
    int status;
  };
  const Case cases[] = {
      {"nested near miss", {{"nested", std::string(kLength - 1, 'a') + "!"}}, 400},
      {"nested match", {{"nested", std::string(kAccepted, 'a')}}, 202},
      {"mail near miss", {{"mail", std::string(kLength, 'x')}}, 400},
      {"mail match", {{"mail", std::string(kAccepted - 1, 'x') + "@"}}, 202},
  };
  for (const Case& c : cases) {
    Timed r = Post(api, c.payload);
    EXPECT_EQ(r.status, c.status) << c.name << ": " << r.body << "\n" << node->Log();
    EXPECT_LT(r.took, kPrompt) << c.name;
    if (c.status == 400) {
      EXPECT_NE(r.body.find("does not match pattern"), std::string::npos) << r.body;
    }
  }
  auto health = api.Call("GET", "/healthz");
  ASSERT_TRUE(health.ok()) << health.message();
  EXPECT_EQ(health->status, 200) << node->Log();
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

}  // namespace
}  // namespace gale::testing

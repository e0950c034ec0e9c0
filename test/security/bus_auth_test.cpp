// The bus lets in only this deployment's messages (issue 16, docs/security.md "Threat model"):
// a client that reaches the brokers but lacks the bus key cannot fire a trigger or make a runner
// run anything, and a secret parameter never travels on a topic. Against a real node, on the
// embedded bus and on the real broker (GALE_KAFKA_BROKERS).
#include <filesystem>
#include <fstream>
#include <regex>

#include "host/bus/messages.h"
#include "host/common/uuid.h"
#include "test/support/api_fixture.h"

namespace gale::testing {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// core.local and the hooks webhook rule, plus `vault.use`, a script with a secret parameter
// that says only how long the secret it got is.
void WriteVaultPacks(const fs::path& root) {
  WriteApiPacks(root);
  fs::create_directories(root / "vault/actions");
  std::ofstream(root / "vault/pack.yaml")
      << "---\nref: vault\nname: vault\ndescription: a secret parameter\nversion: 0.1.0\n"
         "author: tests\n";
  std::ofstream(root / "vault/actions/use.yaml")
      << "---\nname: use\npack: vault\nrunner_type: local-shell-script\nentry_point: use.sh\n"
         "parameters:\n  token: {type: string, secret: true, required: true}\n";
  std::ofstream(root / "vault/actions/use.sh")
      << "#!/bin/sh\necho \"token-length=${#PARAM_TOKEN}\"\n";
  fs::permissions(root / "vault/actions/use.sh",
                  fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
}

// The value of one sample of /metrics, or -1 when it is absent.
double Sample(const std::string& metrics, const std::string& name, const std::string& labels) {
  std::istringstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + "{" + labels + "} ", 0) == 0) {
      return std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return -1;
}

class BusAuthTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kRealKafka && RealBrokers().empty()) {
      GTEST_SKIP() << "SKIPPED: GALE_KAFKA_BROKERS is not set (scripts/services up starts Kafka)";
    }
    WriteVaultPacks(packs_.path());
    NodeOptions options;
    options.backend = GetParam();
    options.packs_paths = {packs_.str()};
    options.signing_key_file = "";  // the shipped default: $GALE_HOME/keys/bus.key
    node_ = NodeProcess::Start(options);
    ASSERT_TRUE(node_ && node_->Alive());
  }

  // A client of the same brokers that has no bus key, as anyone on the network could run.
  bus::BusConfig Outsider() const {
    bus::BusConfig c;
    c.brokers = node_->brokers();
    c.topic_prefix = node_->topic_prefix();
    // The embedded broker answers no group Admin API call (and librdkafka 2.0.2 leaks an object
    // per unanswered DescribeConsumerGroups): DescribeGroup then reads committed offsets only.
    c.embedded = GetParam() == Backend::kEmbedded;
    return c;
  }
  std::string Topic(std::string_view suffix) const { return node_->topic_prefix() + suffix.data(); }
  std::string Metrics() {
    auto reply = cli::ApiClient(ApiFlagsOf(*node_)).Call("GET", "/metrics");
    return reply.ok() ? reply->body : "";
  }
  double Dropped(std::string_view topic, const std::string& reason) {
    return Sample(Metrics(), "gale_bus_messages_dropped_total",
                  "reason=\"" + reason + "\",topic=\"" + Topic(topic) + "\"");
  }

  TempDir packs_;
  std::unique_ptr<NodeProcess> node_;
};

TEST_P(BusAuthTest, ForgedTriggersAndExecutionRequestsAreDroppedCountedAndPassed) {
  // The key was made at first start, private to the node's user.
  const fs::path key = fs::path(node_->home()) / "keys/bus.key";
  ASSERT_TRUE(fs::exists(key)) << node_->Log();
  EXPECT_EQ(fs::status(key).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(Dropped(bus::kTriggers, "unsigned"), 0) << Metrics();

  // A requested execution nobody has asked a runner for: only a request can start it.
  TempDir out;
  ShareWithActions(out.path());
  const fs::path pwned = out.path() / "pwned";
  store::Execution e;
  e.id = UuidV4();
  e.action = "core.local";
  e.parameters = {{"cmd", "touch " + pwned.string()}};
  e.trace_id = e.id;
  e.requested_at = store::NowMs();
  auto store = node_->OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateExecution(e).ok());

  auto plain = bus::Producer::Create(Outsider());
  ASSERT_TRUE(plain.ok()) << plain.message();
  bus::BusConfig wrong_key = Outsider();
  wrong_key.signing_key = std::string(32, 'w');
  auto forger = bus::Producer::Create(wrong_key);
  ASSERT_TRUE(forger.ok()) << forger.message();
  // A webhook trigger the hooks rule would act on, and requests for the execution above.
  auto trigger = bus::TriggerInstanceMessage::New(
      "core.st2.webhook", {{"headers", Json::object()}, {"body", {{"service", "forged"}}}}, "api",
      "intruder");
  trigger.trigger_parameters = {{"url", "deploy"}};
  bus::ExecutionRequestMessage request;
  request.id = e.id;
  request.action = e.action;
  request.trace_id = e.id;
  request.requested_at = e.requested_at;
  ASSERT_TRUE(
      (*plain)->ProduceSync(Topic(bus::kTriggers), trigger.id, bus::Encode(trigger), 30s).ok());
  ASSERT_TRUE((*plain)->ProduceSync(Topic(bus::kExecutions), e.id, bus::Encode(request), 30s).ok());
  ASSERT_TRUE(
      (*forger)->ProduceSync(Topic(bus::kExecutions), e.id, bus::Encode(request), 30s).ok());

  ASSERT_TRUE(WaitFor(
      [&] {
        return Dropped(bus::kTriggers, "unsigned") == 1 &&
               Dropped(bus::kExecutions, "unsigned") == 1 &&
               Dropped(bus::kExecutions, "bad signature") == 1;
      },
      60s))
      << Metrics() << node_->Log();
  EXPECT_NE(node_->Log().find("bus: dropped 1 message(s) on " + Topic(bus::kTriggers)),
            std::string::npos)
      << node_->Log();

  // Nothing happened: no trigger instance, the execution still waits, nothing was touched.
  auto ti = store->GetTriggerInstance(trigger.id);
  ASSERT_TRUE(ti.ok());
  EXPECT_FALSE(ti->has_value()) << "a forged trigger was recorded";
  auto still = store->GetExecution(e.id);
  ASSERT_TRUE(still.ok() && still->has_value());
  EXPECT_EQ((**still).status, store::ExecStatus::kRequested);
  EXPECT_FALSE(fs::exists(pwned));

  // The roles committed past the forgeries and keep working: a real webhook runs its rule.
  auto api = cli::ApiClient(ApiFlagsOf(*node_));
  Json body = {{"service", "real"}};
  auto fired = api.Call("POST", "/v1/webhooks/deploy", &body);
  ASSERT_TRUE(fired.ok() && fired->status == 202) << (fired.ok() ? fired->body : fired.message());
  ASSERT_TRUE(WaitFor(
      [&] {
        auto list = api.Call("GET", "/v1/executions?rule=hooks.on_deploy");
        if (!list.ok()) return false;
        for (const auto& x : list->json()) {
          if (x["status"] == "succeeded") return true;
        }
        return false;
      },
      60s))
      << node_->Log();
  EXPECT_TRUE(WaitFor(
      [&] {
        auto lag = bus::DescribeGroup(Outsider(), node_->topic_prefix() + "rules",
                                      {Topic(bus::kTriggers)}, 10s);
        if (!lag.ok()) return false;
        int64_t total = 0;
        for (const auto& p : lag->partitions) total += p.lag;
        return total == 0;
      },
      30s))
      << "the rules group did not commit past the forged trigger";
  EXPECT_FALSE(fs::exists(pwned));
}

TEST_P(BusAuthTest, ASecretParameterIsOnNoTopicAndReachesTheAction) {
  const std::string secret = "tok-" + UuidV4();
  auto api = cli::ApiClient(ApiFlagsOf(*node_));
  Json run = {{"action", "vault.use"}, {"parameters", {{"token", secret}}}};
  auto created = api.Call("POST", "/v1/executions", &run);
  ASSERT_TRUE(created.ok() && created->status == 201)
      << (created.ok() ? created->body : created.message());
  const std::string id = created->json()["id"];
  Json done = WaitFinal(api, id);
  ASSERT_EQ(done["status"], "succeeded") << done.dump() << node_->Log();
  EXPECT_NE(done["result"]["stdout"].get<std::string>().find("token-length=" +
                                                             std::to_string(secret.size())),
            std::string::npos)
      << done.dump();
  EXPECT_EQ(done["parameters"]["token"], "********");

  // Every message on every topic, read as `gale topics tail` would.
  size_t messages = 0;
  for (std::string_view suffix : {bus::kTriggers, bus::kExecutions, bus::kExecutionEvents}) {
    for (const bus::Message& m :
         ReadTopic(node_->brokers(), Topic(suffix),
                   [](const std::vector<bus::Message>&) { return false; }, 3s, {})) {
      ++messages;
      EXPECT_EQ(m.value.find(secret), std::string::npos) << m.topic << ": " << m.value;
    }
  }
  EXPECT_GE(messages, 3u) << "the request and at least two events";
  // The record keeps it sealed, and the node's log never saw it.
  auto record = node_->OpenStore()->GetExecution(id);
  ASSERT_TRUE(record.ok() && record->has_value());
  EXPECT_EQ((**record).secret_parameters.dump().find(secret), std::string::npos);
  EXPECT_EQ((**record).secret_parameters["token"].get<std::string>().rfind("aes256gcm2:", 0), 0u);
  EXPECT_EQ(node_->Log().find(secret), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Backends, BusAuthTest,
                         ::testing::Values(Backend::kEmbedded, Backend::kRealKafka),
                         [](const auto& info) { return BackendName(info.param); });

}  // namespace
}  // namespace gale::testing

// Policies through a real `gale up`: `gale policy list` (table, --json, --help) and
// GET /v1/policies list the StackStorm-layout test pack's policies of each type; the API wants a
// key like the other catalog routes; a policy on a missing action is listed refused with its
// pack; live reload adds a new policy, and keeps the previous version of one saved broken.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "test/support/api_fixture.h"
#include "test/support/node_harness.h"

namespace gale::testing {
namespace {

namespace fs = std::filesystem;

const std::string kShippedPacks = std::string(GALE_BINARY_DIR) + "/packs";
const fs::path kFixture = fs::path(GALE_SOURCE_DIR) / "test/packs/fixtures/policy_pack";

class PolicyCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::copy(kFixture, Pack(), fs::copy_options::recursive);
    WriteFiles(Pack(), {{"policies/on_ghost.yaml",
                         "---\nname: on_ghost\nresource_ref: limits.ghost\npolicy_type: "
                         "action.concurrency\nparameters:\n  threshold: 1\n"}});
    NodeOptions options;
    options.packs_paths = {kShippedPacks, packs_.str()};
    node_ = NodeProcess::Start(options);
  }
  void TearDown() override {
    if (node_) {
      EXPECT_EQ(node_->Stop(), 0) << node_->Log();
    }
  }

  fs::path Pack() const { return packs_.path() / "limits"; }

  std::string Gale(const std::string& args, int* code) {
    return RunGale(node_->home(), args, code);
  }

  // GET /v1/policies (with the node's token unless `key` says otherwise): status and body.
  std::pair<int, Json> Policies(const std::string& key_header) {
    const auto r = RunCommand("curl -s -o - -w '\\n%{http_code}' " + key_header + " " +
                              node_->api_url() + "/v1/policies");
    const size_t split = r.output.rfind('\n');
    return {std::stoi(r.output.substr(split + 1)),
            Json::parse(r.output.substr(0, split), nullptr, false)};
  }
  std::set<std::string> ListedRefs() {
    int code = -1;
    const Json listed = Json::parse(Gale("policy list --json", &code), nullptr, false);
    std::set<std::string> refs;
    for (const auto& p : listed.is_array() ? listed : Json::array())
      refs.insert(p.value("ref", ""));
    return refs;
  }

  TempDir packs_;
  std::unique_ptr<NodeProcess> node_;
};

TEST_F(PolicyCommandsTest, ListedByTheCliAndTheApi) {
  int code = -1;
  const std::string table = Gale("policy list", &code);
  ASSERT_EQ(code, 0) << table;
  EXPECT_EQ(table.rfind("REF", 0), 0u) << table;
  for (const char* header : {"ENABLED", "TYPE", "RESOURCE", "PARAMETERS"}) {
    EXPECT_NE(table.find(header), std::string::npos) << table;
  }
  EXPECT_NE(table.find("limits.deploy.concurrency  "), std::string::npos) << table;
  EXPECT_NE(table.find("action.concurrency.attr"), std::string::npos) << table;
  EXPECT_NE(table.find("action=cancel, attributes=[\"host\"], threshold=1"), std::string::npos)
      << table;
  EXPECT_NE(table.find("delay=1, max_retry_count=3, retry_on=failure"), std::string::npos) << table;
  EXPECT_EQ(table.find("on_ghost"), std::string::npos) << "a refused policy is not in force";

  const Json listed = Json::parse(Gale("policy list --json", &code), nullptr, false);
  ASSERT_EQ(code, 0);
  ASSERT_TRUE(listed.is_array()) << listed;
  ASSERT_EQ(listed.size(), 3u) << listed.dump(2);
  std::map<std::string, Json> by_ref;
  for (const auto& p : listed) by_ref[p["ref"]] = p;
  const Json& attr = by_ref["limits.deploy.concurrency.host"];
  EXPECT_EQ(attr["pack"], "limits");
  EXPECT_EQ(attr["name"], "deploy.concurrency.host");
  EXPECT_EQ(attr["resource_ref"], "limits.deploy");
  EXPECT_EQ(attr["policy_type"], "action.concurrency.attr");
  EXPECT_EQ(attr["enabled"], true);
  EXPECT_EQ(attr["description"], "One deploy per host at a time; the others are canceled.");
  EXPECT_EQ(attr["parameters"],
            Json({{"action", "cancel"}, {"threshold", 1}, {"attributes", {"host"}}}));
  EXPECT_EQ(by_ref["limits.flaky.retry"]["parameters"],
            Json({{"retry_on", "failure"}, {"max_retry_count", 3}, {"delay", 1}}));
  const std::string origin = by_ref["limits.deploy.concurrency"]["origin"];
  EXPECT_TRUE(origin.ends_with("/policies/deploy_concurrency.yaml:2")) << origin;

  // The same through the API, which wants a key like every catalog route.
  auto [status, body] = Policies("-H 'St2-Api-Key: " + node_->api_token() + "'");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body, listed);
  const Json read_key =
      Json::parse(Gale("apikey create --json --scope read --name policies", &code), nullptr, false);
  ASSERT_EQ(code, 0) << read_key;
  auto [read_status, read_body] = Policies("-H 'St2-Api-Key: " + read_key.value("key", "") + "'");
  EXPECT_EQ(read_status, 200) << "a read-scope key lists them";
  EXPECT_EQ(read_body, listed);
  auto [anonymous, refusal] = Policies("");
  EXPECT_EQ(anonymous, 401) << refusal;
  auto [wrong, refused_key] = Policies("-H 'St2-Api-Key: nope'");
  EXPECT_EQ(wrong, 401) << refused_key;

  // The policy on a missing action is listed refused with its pack, file:line and all.
  const auto packs = RunCommand("curl -sf -H 'St2-Api-Key: " + node_->api_token() + "' " +
                                node_->api_url() + "/v1/packs");
  ASSERT_EQ(packs.exit_code, 0) << packs.output;
  Json limits;
  for (const auto& p : Json::parse(packs.output)) {
    if (p["ref"] == "limits") limits = p;
  }
  EXPECT_EQ(limits["policies"], 3);
  ASSERT_EQ(limits["refused"].size(), 1u) << limits.dump(2);
  EXPECT_EQ(limits["refused"][0]["kind"], "policy");
  EXPECT_EQ(limits["refused"][0]["ref"], "limits.on_ghost");
  const std::string error = limits["refused"][0]["errors"][0];
  EXPECT_NE(
      error.find("policies/on_ghost.yaml:3: policy 'on_ghost': unknown action 'limits.ghost'"),
      std::string::npos)
      << error;
  EXPECT_NE(node_->Log().find("pack limits: policy limits.on_ghost refused (the pack loads without "
                              "it): "),
            std::string::npos)
      << node_->Log();
}

TEST_F(PolicyCommandsTest, HelpSaysWhatItDoes) {
  int code = -1;
  const std::string help = Gale("policy --help", &code);
  EXPECT_EQ(code, 0) << help;
  EXPECT_NE(help.find("list"), std::string::npos) << help;
  const std::string list_help = Gale("policy list --help", &code);
  EXPECT_EQ(code, 0) << list_help;
  EXPECT_NE(list_help.find("--json"), std::string::npos) << list_help;
  const std::string down = RunGale("", "--api http://127.0.0.1:1 policy list", &code);
  EXPECT_EQ(code, 1);
  EXPECT_EQ(down,
            "gale policy list: cannot reach the Gale API at http://127.0.0.1:1: Connection "
            "refused (is 'gale up' running?)\n");
}

TEST_F(PolicyCommandsTest, LiveReloadAddsPoliciesAndKeepsTheOneSavedBroken) {
  // A new policy file: listed once the node reloaded the pack.
  std::ofstream(Pack() / "policies/flaky_concurrency.yaml")
      << "---\nname: flaky.concurrency\nresource_ref: limits.flaky\npolicy_type: "
         "action.concurrency\nparameters:\n  threshold: 1\n";
  ASSERT_TRUE(WaitFor([&] { return ListedRefs().contains("limits.flaky.concurrency"); },
                      std::chrono::seconds(30)))
      << node_->Log();
  EXPECT_EQ(ListedRefs().size(), 4u);

  // A broken save of the retry policy: the previous version stays in force.
  std::ofstream(Pack() / "policies/flaky_retry.yaml", std::ios::trunc)
      << "---\nname: flaky.retry\nresource_ref: limits.flaky\npolicy_type: action.retry\n"
         "parameters:\n  retry_on: sometimes\n";
  ASSERT_TRUE(WaitFor(
      [&] {
        return node_->Log().find(
                   "the previous version of policy limits.flaky.retry keeps "
                   "running") != std::string::npos;
      },
      std::chrono::seconds(30)))
      << node_->Log();
  EXPECT_NE(node_->Log().find("policies/flaky_retry.yaml:6: parameters.retry_on: "),
            std::string::npos)
      << node_->Log();
  int code = -1;
  const Json listed = Json::parse(Gale("policy list --json", &code), nullptr, false);
  bool kept = false;
  for (const auto& p : listed) {
    kept = kept || (p["ref"] == "limits.flaky.retry" && p["parameters"]["retry_on"] == "failure");
  }
  EXPECT_TRUE(kept) << listed.dump(2);

  // Removed: no longer in force.
  fs::remove(Pack() / "policies/flaky_concurrency.yaml");
  EXPECT_TRUE(WaitFor([&] { return !ListedRefs().contains("limits.flaky.concurrency"); },
                      std::chrono::seconds(30)))
      << node_->Log();
}

// `gale pack validate`: the test pack's policies in its --json description; a broken policy
// file leaves the pack valid without it, and --strict (pack authors' CI) refuses the pack.
TEST(PolicyValidateTest, ABrokenPolicyIsRefusedAndStrictRefusesThePack) {
  TempDir dir;
  const fs::path pack = dir.path() / "limits";
  fs::copy(kFixture, pack, fs::copy_options::recursive);
  const std::string gale = std::string(GALE_BINARY_DIR) + "/bin/gale";
  auto r = RunCommand(gale + " pack validate --json " + pack.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  Json out = Json::parse(r.output);
  ASSERT_EQ(out["policies"].size(), 3u) << out.dump(2);
  EXPECT_EQ(out["policies"][0]["ref"], "limits.deploy.concurrency");
  EXPECT_EQ(out["policies"][0]["file"], "policies/deploy_concurrency.yaml");
  EXPECT_TRUE(out["refused"].empty()) << out.dump(2);

  WriteFiles(pack, {{"policies/broken.yaml",
                     "---\nname: broken\nresource_ref: limits.deploy\npolicy_type: "
                     "action.concurrency\nparameters:\n  threshold: 0\n"}});
  r = RunCommand(gale + " pack validate " + pack.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("valid (without 1 refused resource(s))"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("refused: policy limits.broken"), std::string::npos) << r.output;
  r = RunCommand(gale + " pack validate --strict " + pack.string());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(
      r.output.find("error: " + pack.string() + "/policies/broken.yaml:6: parameters.threshold: "),
      std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace gale::testing

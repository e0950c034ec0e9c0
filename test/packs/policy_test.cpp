// Policies (StackStorm's policies/*.yaml): read with their typed parameters and defaults; a
// broken file, a policy on a missing action or on parameters its action lacks is refused on its
// own with file:line (the pack loads without it); the index answers "policies of action X".
#include <gtest/gtest.h>

#include <filesystem>

#include "host/packs/catalog.h"
#include "host/packs/policy_index.h"
#include "test/support/pack_dir.h"

namespace gale::packs {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::WriteFiles;

const fs::path kFixture = fs::path(GALE_SOURCE_DIR) / "test/packs/fixtures/policy_pack";

const PolicyMeta* FindPolicy(const Pack& pack, const std::string& ref) {
  for (const auto& p : pack.policies) {
    if (p.ref == ref) return &p;
  }
  return nullptr;
}

class PackPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override { fs::copy(kFixture, Dir(), fs::copy_options::recursive); }

  fs::path Dir() const { return root_.path() / "limits"; }
  std::string Path(const std::string& rel) const { return (Dir() / rel).string(); }

  // The fixture pack with `files` added (or replaced), loaded with every other pack of root_.
  Catalog Load(const std::map<std::string, std::string>& files = {}) {
    WriteFiles(Dir(), files);
    return Catalog::Load({root_.str()}, {.inspect_libraries = false});
  }

  // The errors of the one refused resource of the pack (which must still load).
  static std::vector<std::string> Refused(const Catalog& catalog, const std::string& file) {
    const Pack* pack = catalog.FindPack("limits");
    EXPECT_NE(pack, nullptr);
    if (pack == nullptr) return {};
    EXPECT_TRUE(pack->ok()) << "a broken policy file refuses that policy, not the pack: "
                            << ::testing::PrintToString(pack->errors);
    EXPECT_EQ(pack->refused.size(), 1u);
    for (const auto& r : pack->refused) {
      if (r.file == file) {
        EXPECT_EQ(r.kind, "policy");
        return r.errors;
      }
    }
    return {"<" + file + " not refused>"};
  }

  TempDir root_;
};

TEST_F(PackPolicyTest, EachTypeIsReadWithItsParameters) {
  Catalog catalog = Load();
  const Pack* pack = catalog.FindPack("limits");
  ASSERT_NE(pack, nullptr);
  ASSERT_TRUE(pack->ok()) << ::testing::PrintToString(pack->errors);
  EXPECT_TRUE(pack->refused.empty()) << pack->refused[0].errors[0];
  ASSERT_EQ(pack->policies.size(), 3u);

  const PolicyMeta* c = FindPolicy(*pack, "limits.deploy.concurrency");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->pack, "limits");
  EXPECT_EQ(c->name, "deploy.concurrency");
  EXPECT_EQ(c->description, "Limits the concurrent executions of deploy.");
  EXPECT_TRUE(c->enabled);
  EXPECT_EQ(c->resource_ref, "limits.deploy");
  EXPECT_EQ(c->policy_type, "action.concurrency");
  EXPECT_EQ(c->type, PolicyType::kConcurrency);
  EXPECT_EQ(c->threshold, 2);
  EXPECT_EQ(c->over_threshold, OverThreshold::kDelay);
  EXPECT_EQ(c->parameters, Json({{"action", "delay"}, {"threshold", 2}}));
  EXPECT_EQ(c->origin.file, Path("policies/deploy_concurrency.yaml"));

  const PolicyMeta* attr = FindPolicy(*pack, "limits.deploy.concurrency.host");
  ASSERT_NE(attr, nullptr);
  EXPECT_EQ(attr->type, PolicyType::kConcurrencyAttr);
  EXPECT_EQ(attr->threshold, 1);
  EXPECT_EQ(attr->over_threshold, OverThreshold::kCancel);
  EXPECT_EQ(attr->attributes, std::vector<std::string>{"host"});

  const PolicyMeta* retry = FindPolicy(*pack, "limits.flaky.retry");
  ASSERT_NE(retry, nullptr);
  EXPECT_EQ(retry->type, PolicyType::kRetry);
  EXPECT_EQ(retry->retry_on, RetryOn::kFailure);
  EXPECT_EQ(retry->max_retry_count, 3);
  EXPECT_EQ(retry->delay_seconds, 1);
}

TEST_F(PackPolicyTest, DefaultsOfThePolicyTypeAreFilledIn) {
  Catalog catalog = Load({{"policies/deploy_concurrency.yaml",
                           "---\nname: c\nresource_ref: limits.deploy\npolicy_type: "
                           "action.concurrency\nparameters:\n  threshold: 5\n"},
                          {"policies/flaky_retry.yaml",
                           "---\nname: r\nresource_ref: limits.flaky\npolicy_type: action.retry\n"
                           "parameters:\n  retry_on: timeout\n"}});
  const Pack* pack = catalog.FindPack("limits");
  ASSERT_NE(pack, nullptr);
  const PolicyMeta* c = FindPolicy(*pack, "limits.c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->over_threshold, OverThreshold::kDelay) << "StackStorm's default action";
  EXPECT_EQ(c->parameters["action"], "delay");
  const PolicyMeta* r = FindPolicy(*pack, "limits.r");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->retry_on, RetryOn::kTimeout);
  EXPECT_EQ(r->max_retry_count, 2) << "StackStorm's default";
  EXPECT_EQ(r->delay_seconds, 0);
  EXPECT_TRUE(r->enabled);
}

TEST_F(PackPolicyTest, MissingThresholdIsRefusedWhereTheParametersAre) {
  Catalog catalog = Load({{"policies/x.yaml",
                           "---\nname: x\nresource_ref: limits.deploy\npolicy_type: "
                           "action.concurrency\nparameters:\n  action: delay\n"}});
  EXPECT_EQ(Refused(catalog, Path("policies/x.yaml")),
            std::vector<std::string>{Path("policies/x.yaml") +
                                     ":5: parameters: missing required property \"threshold\" "
                                     "(policy_type action.concurrency)"});
}

TEST_F(PackPolicyTest, ThresholdMustBeAPositiveInteger) {
  Catalog catalog = Load({{"policies/x.yaml",
                           "---\nname: x\nresource_ref: limits.deploy\npolicy_type: "
                           "action.concurrency\nparameters:\n  threshold: 0\n"},
                          {"policies/y.yaml",
                           "---\nname: y\nresource_ref: limits.deploy\npolicy_type: "
                           "action.concurrency\nparameters:\n  threshold: two\n"}});
  const Pack* pack = catalog.FindPack("limits");
  ASSERT_NE(pack, nullptr);
  ASSERT_EQ(pack->refused.size(), 2u);
  EXPECT_EQ(pack->refused[0].ref, "limits.x");
  ASSERT_EQ(pack->refused[0].errors.size(), 1u);
  EXPECT_EQ(
      pack->refused[0].errors[0].rfind(Path("policies/x.yaml") + ":6: parameters.threshold: ", 0),
      0u)
      << pack->refused[0].errors[0];
  ASSERT_EQ(pack->refused[1].errors.size(), 1u);
  EXPECT_EQ(pack->refused[1].errors[0],
            Path("policies/y.yaml") +
                ":6: parameters.threshold: expected type integer, got string (policy_type "
                "action.concurrency)");
}

TEST_F(PackPolicyTest, ActionMustBeDelayOrCancel) {
  Catalog catalog = Load({{"policies/x.yaml",
                           "---\nname: x\nresource_ref: limits.deploy\npolicy_type: "
                           "action.concurrency\nparameters:\n  threshold: 1\n  action: drop\n"}});
  const auto errors = Refused(catalog, Path("policies/x.yaml"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind(Path("policies/x.yaml") + ":7: parameters.action: ", 0), 0u)
      << errors[0];
}

TEST_F(PackPolicyTest, AnUnknownParameterIsRefused) {
  Catalog catalog = Load({{"policies/x.yaml",
                           "---\nname: x\nresource_ref: limits.flaky\npolicy_type: action.retry\n"
                           "parameters:\n  retry_on: failure\n  max_retries: 3\n"}});
  const auto errors = Refused(catalog, Path("policies/x.yaml"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("max_retries"), std::string::npos) << errors[0];
  EXPECT_EQ(errors[0].rfind(Path("policies/x.yaml") + ":", 0), 0u) << errors[0];
}

TEST_F(PackPolicyTest, AnUnknownPolicyTypeIsRefused) {
  Catalog catalog = Load({{"policies/x.yaml",
                           "---\nname: x\nresource_ref: limits.deploy\n\npolicy_type: "
                           "action.throttle\nparameters:\n  threshold: 1\n"}});
  const auto errors = Refused(catalog, Path("policies/x.yaml"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind(Path("policies/x.yaml") + ":5: policy_type: ", 0), 0u) << errors[0];
}

TEST_F(PackPolicyTest, RetryOnMustBeFailureOrTimeout) {
  Catalog catalog = Load({{"policies/x.yaml",
                           "---\nname: x\nresource_ref: limits.flaky\npolicy_type: action.retry\n"
                           "parameters:\n  retry_on: success\n  delay: -1\n"}});
  const auto errors = Refused(catalog, Path("policies/x.yaml"));
  ASSERT_EQ(errors.size(), 2u) << ::testing::PrintToString(errors);
}

TEST_F(PackPolicyTest, MalformedYamlIsRefusedWithItsLine) {
  Catalog catalog = Load({{"policies/x.yaml", "---\nname: x\npolicy_type: [\n"}});
  const auto errors = Refused(catalog, Path("policies/x.yaml"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0],
            Path("policies/x.yaml") + ":4: malformed YAML: end of sequence flow not found");
}

TEST_F(PackPolicyTest, APolicyOnAMissingActionIsRefusedLikeARule) {
  Catalog catalog = Load({{"policies/x.yaml",
                           "---\nname: x\ndescription: on nothing\nresource_ref: limits.ghost\n"
                           "policy_type: action.concurrency\nparameters:\n  threshold: 1\n"}});
  EXPECT_EQ(Refused(catalog, Path("policies/x.yaml")),
            std::vector<std::string>{Path("policies/x.yaml") +
                                     ":4: policy 'x': unknown action 'limits.ghost'"});
  const Pack* pack = catalog.FindPack("limits");
  EXPECT_EQ(pack->refused[0].ref, "limits.x");
  EXPECT_EQ(pack->policies.size(), 3u) << "the others stay";
}

TEST_F(PackPolicyTest, AttributesMustBeParametersOfTheAction) {
  Catalog catalog = Load({{"policies/x.yaml",
                           "---\nname: x\nresource_ref: limits.deploy\npolicy_type: "
                           "action.concurrency.attr\nparameters:\n  threshold: 1\n  attributes:\n"
                           "    - host\n    - timeout\n    - hots\n"}});
  EXPECT_EQ(Refused(catalog, Path("policies/x.yaml")),
            std::vector<std::string>{Path("policies/x.yaml") +
                                     ":10: policy 'x': attribute 'hots' is not a parameter of "
                                     "action 'limits.deploy' (its parameters: cmd, host)"})
      << "timeout is the runner's parameter: accepted";
}

TEST_F(PackPolicyTest, APolicyIntoABrokenPackIsRefused) {
  WriteFiles(root_.path() / "other", {{"pack.yaml", "---\nname: [\n"}});
  Catalog catalog = Load({{"policies/x.yaml",
                           "---\nname: x\nresource_ref: other.act\npolicy_type: "
                           "action.concurrency\nparameters:\n  threshold: 1\n"}});
  EXPECT_EQ(Refused(catalog, Path("policies/x.yaml")),
            std::vector<std::string>{Path("policies/x.yaml") +
                                     ":3: policy 'x': unknown action 'other.act'"});
}

TEST_F(PackPolicyTest, DuplicateNamesAreRefused) {
  Catalog catalog = Load({{"policies/z.yaml",
                           "---\nname: flaky.retry\nresource_ref: limits.flaky\npolicy_type: "
                           "action.retry\nparameters:\n  retry_on: timeout\n"}});
  EXPECT_EQ(Refused(catalog, Path("policies/z.yaml")),
            std::vector<std::string>{Path("policies/z.yaml") +
                                     ":2: duplicate policy name 'flaky.retry' (also in " +
                                     Path("policies/flaky_retry.yaml") + ")"});
}

// Validated alone (`gale pack validate` without --packs), a policy on another pack's action is
// taken on trust, as a rule's reference is; the node checks it across its packs.
TEST_F(PackPolicyTest, AloneAReferenceIntoAnotherPackIsTakenOnTrust) {
  WriteFiles(Dir(), {{"policies/x.yaml",
                      "---\nname: x\nresource_ref: other.act\npolicy_type: "
                      "action.concurrency\nparameters:\n  threshold: 1\n"}});
  Catalog alone = Catalog::LoadOne(Dir().string(), {}, {.inspect_libraries = false});
  EXPECT_TRUE(alone.packs().front().refused.empty());
  EXPECT_EQ(alone.packs().front().policies.size(), 4u);
  Catalog across = Catalog::Load({root_.str()}, {.inspect_libraries = false});
  EXPECT_EQ(across.FindPack("limits")->refused.size(), 1u);
}

TEST_F(PackPolicyTest, TheIndexAnswersPoliciesOfAnAction) {
  Catalog catalog = Load({{"policies/off.yaml",
                           "---\nname: off\nenabled: false\nresource_ref: limits.flaky\n"
                           "policy_type: action.concurrency\nparameters:\n  threshold: 1\n"}});
  const PolicyIndex index = PolicyIndex::FromCatalog(catalog);
  EXPECT_FALSE(index.empty());
  EXPECT_EQ(index.size(), 3u) << "the disabled one is not in force";
  const auto& deploy = index.For("limits.deploy");
  ASSERT_EQ(deploy.size(), 2u);
  EXPECT_EQ(deploy[0].ref, "limits.deploy.concurrency");
  EXPECT_EQ(deploy[1].ref, "limits.deploy.concurrency.host");
  const auto& flaky = index.For("limits.flaky");
  ASSERT_EQ(flaky.size(), 1u);
  EXPECT_EQ(flaky[0].type, PolicyType::kRetry);
  EXPECT_TRUE(index.For("core.local").empty());
  EXPECT_TRUE(PolicyIndex::FromCatalog(Catalog::Load({}, {})).empty());
}

TEST_F(PackPolicyTest, SlotKeysCountPerAttributeValues) {
  Catalog catalog = Load();
  const PolicyIndex index = PolicyIndex::FromCatalog(catalog);
  const auto& deploy = index.For("limits.deploy");
  ASSERT_EQ(deploy.size(), 2u);
  const Json web1 = {{"host", "web1"}, {"cmd", "a"}};
  EXPECT_EQ(ConcurrencySlotKey(deploy[0], web1), "limits.deploy.concurrency");
  EXPECT_EQ(ConcurrencySlotKey(deploy[1], web1), "limits.deploy.concurrency.host|host=\"web1\"");
  EXPECT_EQ(ConcurrencySlotKey(deploy[1], {{"host", "web1"}, {"cmd", "b"}}),
            ConcurrencySlotKey(deploy[1], web1))
      << "only the attributes count";
  EXPECT_NE(ConcurrencySlotKey(deploy[1], {{"host", "web2"}}), ConcurrencySlotKey(deploy[1], web1));
  EXPECT_EQ(ConcurrencySlotKey(deploy[1], Json::object()),
            "limits.deploy.concurrency.host|host=null");
  const std::string long_key = ConcurrencySlotKey(deploy[1], {{"host", std::string(5000, 'h')}});
  EXPECT_EQ(long_key.rfind("limits.deploy.concurrency.host|sha256:", 0), 0u) << long_key;
  EXPECT_LT(long_key.size(), 200u);
  EXPECT_NE(long_key, ConcurrencySlotKey(deploy[1], {{"host", std::string(5001, 'h')}}));
}

}  // namespace
}  // namespace gale::packs

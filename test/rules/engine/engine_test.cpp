// The rules engine against a bus and a SQLite store: what a user sees in the store (trigger
// instances, executions) and on the executions topic (requests).
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "engine_fixture.h"
#include "flaky_store.h"
#include "host/common/uuid.h"
#include "host/requests/execution_request.h"
#include "host/store/key_cipher.h"
#include "host/store/secret_parameters.h"

namespace gale::rules::engine::test {
namespace {

const std::string kBuildCriteria = "  trigger.body.kind: {type: equals, pattern: build}\n";
const std::string kDeployCriteria = "  trigger.body.kind: {type: equals, pattern: deploy}\n";
const std::string kShellParams =
    "    cmd: \"echo {{ trigger.body.name }}\"\n    count: \"{{ trigger.body.n }}\"\n";

std::string ExecId(const std::string& instance, const std::string& rule) {
  return UuidV5(kGaleNamespace, instance + rule);
}

std::map<std::string, store::Execution> ById(std::vector<store::Execution> all) {
  std::map<std::string, store::Execution> out;
  for (auto& e : all) out.emplace(e.id, std::move(e));
  return out;
}

TEST_P(EngineTest, MatchCreatesOneExecutionAndOneRequestWithRenderedParameters) {
  auto rules = LoadRules({
      {"build.yaml", RuleYaml("on_build", kBuildCriteria, "enginetest.shell", kShellParams)},
      {"deploy.yaml", RuleYaml("on_deploy", kDeployCriteria, "enginetest.shell", kShellParams)},
      {"off.yaml", RuleYaml("disabled_rule", kBuildCriteria, "enginetest.noop", "", false)},
  });
  ASSERT_EQ(rules->size(), 3u);
  auto engine = StartEngine(rules);
  ASSERT_NE(engine, nullptr);
  Send({Trigger("ti-1", {{"kind", "build"}, {"name", "app"}, {"n", 7}})});
  ASSERT_TRUE(WaitProcessed(*engine, 1));

  auto requests = Requests(1);
  auto all = AllExecutions();
  ASSERT_EQ(all.size(), 1u);
  const store::Execution& e = all[0];
  EXPECT_EQ(e.id, ExecId("ti-1", "enginetest.on_build"));
  EXPECT_EQ(e.action, "enginetest.shell");
  EXPECT_EQ(e.rule, "enginetest.on_build");
  EXPECT_EQ(e.trigger_instance, "ti-1");
  EXPECT_EQ(e.trace_id, "trace-ti-1");
  EXPECT_EQ(e.status, store::ExecStatus::kRequested);
  EXPECT_GT(e.requested_at, 0);
  // Rendered (count keeps its integer type) with the action's defaults applied.
  const Json expected_params = {
      {"cmd", "echo app"}, {"count", 7}, {"mode", "fast"}, {"sudo", false}};
  EXPECT_EQ(e.parameters, expected_params);

  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].key, e.id);
  EXPECT_TRUE(bus::ValidateMessage(bus::kExecutionRequestSchema, requests[0].value).ok());
  Json req = Json::parse(requests[0].value);
  EXPECT_EQ(req["id"], e.id);
  EXPECT_EQ(req["action"], "enginetest.shell");
  EXPECT_EQ(req["parameters"], expected_params);
  EXPECT_TRUE(req["parameters"]["count"].is_number_integer());
  EXPECT_EQ(req["rule"], "enginetest.on_build");
  EXPECT_EQ(req["trigger_instance"], "ti-1");
  EXPECT_EQ(req["trace_id"], "trace-ti-1");
  EXPECT_EQ(req["requested_at"], e.requested_at);

  auto ti = store_->GetTriggerInstance("ti-1");
  ASSERT_TRUE(ti.ok() && ti->has_value());
  EXPECT_EQ((*ti)->status, store::TriggerStatus::kProcessed);
  auto stats = engine->stats();
  EXPECT_EQ(stats.triggers_processed, 1u);
  EXPECT_EQ(stats.rules_matched, 1u);
  EXPECT_EQ(stats.executions_created, 1u);
  EXPECT_EQ(stats.requests_produced, 1u);
}

// StackStorm's core.echo `cmd` default renders with the rule's message; a secret parameter is
// masked in the stored execution, sealed beside it for the runner, and never on a topic.
TEST_P(EngineTest, TemplateDefaultsRenderAndSecretsAreMaskedInTheStore) {
  const store::KeyCipher cipher_ = Cipher();
  auto rules = LoadRules({{"echo.yaml", RuleYaml("say", kBuildCriteria, "enginetest.echo",
                                                 "    message: \"{{ trigger.body.name }}\"\n"
                                                 "    password: \"{{ trigger.body.pw }}\"\n")}});
  auto engine = StartEngine(rules);
  ASSERT_NE(engine, nullptr);
  Send({Trigger("ti-s", {{"kind", "build"}, {"name", "app"}, {"pw", "hunter2"}})});
  ASSERT_TRUE(WaitProcessed(*engine, 1));
  auto requests = Requests(1);
  auto all = AllExecutions();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].status, store::ExecStatus::kRequested) << all[0].result.dump();
  EXPECT_EQ(all[0].parameters,
            Json({{"message", "app"}, {"password", "********"}, {"cmd", "echo \"app\""}}));
  EXPECT_EQ(all[0].secret_parameters.dump().find("hunter2"), std::string::npos);
  auto opened = store::OpenSecretParameters(&cipher_, all[0]);
  ASSERT_TRUE(opened.ok()) << opened.message();
  EXPECT_EQ((*opened)["password"], "hunter2");
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].value.find("hunter2"), std::string::npos) << requests[0].value;
  Json req = Json::parse(requests[0].value);
  EXPECT_EQ(req["parameters"]["password"], "********");
  EXPECT_EQ(req["parameters"]["cmd"], "echo \"app\"");
}

TEST_P(EngineTest, NonMatchingCriteriaAndDisabledRulesCreateNothing) {
  auto engine = StartEngine(LoadRules({
      {"deploy.yaml", RuleYaml("on_deploy", kDeployCriteria, "enginetest.shell", kShellParams)},
      {"off.yaml",
       RuleYaml("disabled_rule", kBuildCriteria, "enginetest.shell", kShellParams, false)},
  }));
  ASSERT_NE(engine, nullptr);
  Send({Trigger("ti-1", {{"kind", "build"}, {"name", "app"}, {"n", 1}}),
        Trigger("ti-2", {{"kind", "other"}})});
  ASSERT_TRUE(WaitProcessed(*engine, 2));
  engine->Stop();
  EXPECT_TRUE(AllExecutions().empty());
  EXPECT_TRUE(Requests(0).empty());
  EXPECT_EQ(AllTriggerInstances().size(), 2u);
}

// StackStorm's parameterised triggers: a webhook rule sees only the instances fired for its own
// `url` (the API sets trigger_parameters); an instance without parameters matches none of them.
TEST_P(EngineTest, WebhookRulesSeeOnlyInstancesOfTheirOwnUrl) {
  std::string other = RuleYaml("other_hook", kBuildCriteria, "enginetest.noop", "");
  other.replace(other.find("url: hook"), 9, "url: other");
  auto engine = StartEngine(LoadRules({
      {"build.yaml", RuleYaml("on_build", kBuildCriteria, "enginetest.shell", kShellParams)},
      {"other.yaml", other},
  }));
  ASSERT_NE(engine, nullptr);
  const Json body = {{"kind", "build"}, {"name", "x"}, {"n", 1}};
  Json to_other = Trigger("ti-other", body);
  to_other["trigger_parameters"]["url"] = "other";
  Json bare = Trigger("ti-bare", body);
  bare.erase("trigger_parameters");
  Send({Trigger("ti-hook", body), to_other, bare});
  ASSERT_TRUE(WaitProcessed(*engine, 3));
  auto all = ById(AllExecutions());
  EXPECT_EQ(all.size(), 2u);
  EXPECT_TRUE(all.count(ExecId("ti-hook", "enginetest.on_build")));
  EXPECT_TRUE(all.count(ExecId("ti-other", "enginetest.other_hook")));
}

TEST_P(EngineTest, RulesAreEnabledDisabledAndReloadedAtRunTime) {
  auto engine = StartEngine(LoadRules({
      {"build.yaml", RuleYaml("on_build", kBuildCriteria, "enginetest.shell", kShellParams)},
      {"off.yaml", RuleYaml("disabled_rule", kBuildCriteria, "enginetest.noop", "", false)},
  }));
  ASSERT_NE(engine, nullptr);
  const Json body = {{"kind", "build"}, {"name", "x"}, {"n", 1}};

  ASSERT_TRUE(engine->SetRuleEnabled("enginetest.on_build", false).ok());
  ASSERT_TRUE(engine->SetRuleEnabled("enginetest.disabled_rule", true).ok());
  EXPECT_FALSE(engine->SetRuleEnabled("enginetest.nope", true).ok());
  Send({Trigger("ti-1", body)});
  // An instance counts as processed once recorded, before its executions are: wait for those.
  ASSERT_TRUE(WaitProcessed(*engine, 1));
  ASSERT_TRUE(WaitFor([&] { return !AllExecutions().empty(); }));
  {
    auto all = ById(AllExecutions());
    ASSERT_EQ(all.size(), 1u);
    EXPECT_TRUE(all.count(ExecId("ti-1", "enginetest.disabled_rule")));
  }

  // A reload (new pack contents) keeps the run-time overrides and adds the new rule.
  engine->UpdateRules(LoadRules({
      {"build.yaml", RuleYaml("on_build", kBuildCriteria, "enginetest.shell", kShellParams)},
      {"off.yaml", RuleYaml("disabled_rule", kBuildCriteria, "enginetest.noop", "", false)},
      {"new.yaml", RuleYaml("new_rule", kBuildCriteria, "enginetest.noop", "")},
  }));
  Send({Trigger("ti-2", body)});
  ASSERT_TRUE(WaitProcessed(*engine, 2));
  ASSERT_TRUE(WaitFor([&] { return AllExecutions().size() >= 3; }));
  auto all = ById(AllExecutions());
  EXPECT_EQ(all.size(), 3u);
  EXPECT_TRUE(all.count(ExecId("ti-2", "enginetest.disabled_rule")));
  EXPECT_TRUE(all.count(ExecId("ti-2", "enginetest.new_rule")));
  EXPECT_FALSE(all.count(ExecId("ti-2", "enginetest.on_build")));
  EXPECT_EQ(Requests(3).size(), 3u);
}

TEST_P(EngineTest, SameDedupeKeyWithinTheWindowCollapsesIntoOneInstance) {
  auto engine = StartEngine(LoadRules({
      {"build.yaml", RuleYaml("on_build", kBuildCriteria, "enginetest.shell", kShellParams)},
      {"noop.yaml", RuleYaml("noop", "", "enginetest.noop", "")},
  }));
  ASSERT_NE(engine, nullptr);
  const Json body = {{"kind", "build"}, {"name", "/nfs/a.txt"}, {"n", 1}};
  const int64_t t0 = 1'700'000'000'000;
  // Two nodes see the same file (one minute apart); the key comes back after the window (1 h).
  // The later one is sent once those are in: a key's record is one window, so an event from
  // before an accepted one by more than the window would count as inside it (see store.h).
  Send({Trigger("ti-node1", body, "file:/nfs/a.txt", t0),
        Trigger("ti-node2", body, "file:/nfs/a.txt", t0 + 60'000)});
  ASSERT_TRUE(WaitProcessed(*engine, 2));
  Send({Trigger("ti-later", body, "file:/nfs/a.txt", t0 + 2 * 3600'000)});
  ASSERT_TRUE(WaitProcessed(*engine, 3));
  // A redelivery of the first (same id) is not a duplicate of itself: nothing new either way.
  Send({Trigger("ti-node1", body, "file:/nfs/a.txt", t0)});
  ASSERT_TRUE(WaitProcessed(*engine, 4));
  engine->Stop();

  std::set<std::string> instances;
  for (const auto& t : AllTriggerInstances()) instances.insert(t.id);
  // Messages of one key may land on different partitions and be evaluated in either order.
  EXPECT_EQ(instances.size(), 2u);
  EXPECT_TRUE(instances.count("ti-later"));
  EXPECT_NE(instances.count("ti-node1"), instances.count("ti-node2"));
  auto all = ById(AllExecutions());
  EXPECT_EQ(all.size(), 4u);
  for (const auto& id : instances) {
    EXPECT_TRUE(all.count(ExecId(id, "enginetest.on_build"))) << id;
    EXPECT_TRUE(all.count(ExecId(id, "enginetest.noop"))) << id;
  }
  // ti-node2 is collapsed, or ti-node1 is (and then its redelivery is collapsed again).
  EXPECT_EQ(engine->stats().duplicates, instances.count("ti-node1") ? 1u : 2u);
}

TEST_P(EngineTest, BadTemplatesAndInvalidParametersRecordFailedExecutions) {
  auto engine = StartEngine(LoadRules({
      {"bad_template.yaml", RuleYaml("bad_template", kBuildCriteria, "enginetest.shell",
                                     "    cmd: \"{{ trigger.body.name | nosuchfilter }}\"\n")},
      {"undefined.yaml", RuleYaml("undefined", kBuildCriteria, "enginetest.shell",
                                  "    cmd: \"{{ trigger.body.missing }}\"\n")},
      {"missing.yaml",
       RuleYaml("missing_required", kBuildCriteria, "enginetest.shell", "    count: 1\n")},
      {"immutable.yaml",
       RuleYaml("immutable", kBuildCriteria, "enginetest.shell", "    cmd: ls\n    sudo: true\n")},
      {"enum.yaml",
       RuleYaml("bad_enum", kBuildCriteria, "enginetest.shell", "    cmd: ls\n    mode: medium\n")},
      {"type.yaml", RuleYaml("bad_type", kBuildCriteria, "enginetest.shell",
                             "    cmd: ls\n    count: \"{{ trigger.body.name }}\"\n")},
      {"good.yaml", RuleYaml("good", kBuildCriteria, "enginetest.shell", kShellParams)},
  }));
  ASSERT_NE(engine, nullptr);
  Send({Trigger("ti-1", {{"kind", "build"}, {"name", "app"}, {"n", 2}})});
  ASSERT_TRUE(WaitProcessed(*engine, 1));
  auto requests = Requests(1);
  auto all = ById(AllExecutions());
  ASSERT_EQ(all.size(), 7u);

  const std::map<std::string, std::string> reasons = {
      {"bad_template", "unknown filter 'nosuchfilter'"},
      {"undefined", "'trigger.body.missing' is undefined"},
      {"missing_required", "cmd"},
      {"immutable", "parameter 'sudo' of action 'enginetest.shell' is immutable"},
      {"bad_enum", "/mode"},
      {"bad_type", "/count"},
  };
  for (const auto& [rule, reason] : reasons) {
    auto it = all.find(ExecId("ti-1", std::string("enginetest.") + rule));
    ASSERT_NE(it, all.end()) << rule;
    const store::Execution& e = it->second;
    EXPECT_EQ(e.status, store::ExecStatus::kFailed) << rule;
    ASSERT_TRUE(e.result.is_object() && e.result.contains("error")) << rule << ": " << e.result;
    EXPECT_NE(e.result["error"].get<std::string>().find(reason), std::string::npos)
        << rule << ": " << e.result["error"];
    EXPECT_GT(e.finished_at, 0);
  }
  auto good = all.find(ExecId("ti-1", "enginetest.good"));
  ASSERT_NE(good, all.end());
  EXPECT_EQ(good->second.status, store::ExecStatus::kRequested);
  // Only the good one is requested.
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].key, good->second.id);
  EXPECT_EQ(engine->stats().executions_failed, 6u);
}

// st2kv.system and st2kv.user (the system user's keys) render into parameters; decrypt_kv opens
// a value sealed with the deployment's key for that key, and fails the execution (with why)
// otherwise: a plain value, or a sealed value moved into another key.
TEST_P(EngineTest, DatastoreKeysAndDecryptKvRenderIntoParameters) {
  auto cipher = store::KeyCipher::LoadOrCreate((dir_ / "keys" / "datastore.key").string());
  ASSERT_TRUE(cipher.ok()) << cipher.message();
  const store::TimeMs now = store::NowMs();
  ASSERT_TRUE(
      store_->SetKey({"greeting", "hi", store::KeyScope::kSystem, "", 0, false, 0}, now).ok());
  ASSERT_TRUE(
      store_->SetKey({"target", "prod", store::KeyScope::kUser, "stanley", 0, false, 0}, now).ok());
  ASSERT_TRUE(
      store_->SetKey({"target", "dev", store::KeyScope::kUser, "alice", 0, false, 0}, now).ok());
  auto token = cipher->Encrypt({"token", store::KeyScope::kSystem, ""}, "s3cret");
  ASSERT_TRUE(token.ok()) << token.message();
  ASSERT_TRUE(
      store_->SetKey({"token", *token, store::KeyScope::kSystem, "", 0, true, 0}, now).ok());
  ASSERT_TRUE(
      store_->SetKey({"swapped", *token, store::KeyScope::kSystem, "", 0, true, 0}, now).ok());
  auto rules = LoadRules({
      {"kv.yaml", RuleYaml("kv", kBuildCriteria, "enginetest.shell",
                           "    cmd: \"echo {{ st2kv.system.greeting }} {{ st2kv.user.target }} "
                           "{{ st2kv.system.token | decrypt_kv }}\"\n")},
      {"plain.yaml", RuleYaml("plain", kBuildCriteria, "enginetest.shell",
                              "    cmd: \"{{ st2kv.system.greeting | decrypt_kv }}\"\n")},
      {"swapped.yaml", RuleYaml("swapped", kBuildCriteria, "enginetest.shell",
                                "    cmd: \"{{ st2kv.system.swapped | decrypt_kv }}\"\n")},
  });
  RulesEngineOptions options = EngineOptions();
  options.decrypt = requests::DatastoreDecrypt(*cipher, options.system_user);
  auto engine = RulesEngine::Create(options, rules);
  ASSERT_TRUE(engine.ok()) << engine.message();
  ASSERT_TRUE((*engine)->Start().ok());
  Send({Trigger("ti-1", {{"kind", "build"}, {"name", "app"}, {"n", 1}})});
  ASSERT_TRUE(WaitProcessed(**engine, 1));
  (*engine)->Stop();
  auto all = ById(AllExecutions());
  ASSERT_EQ(all.size(), 3u);
  const store::Execution& kv = all.at(ExecId("ti-1", "enginetest.kv"));
  EXPECT_EQ(kv.status, store::ExecStatus::kRequested) << kv.result;
  EXPECT_EQ(kv.parameters.value("cmd", ""), "echo hi prod s3cret");
  const store::Execution& plain = all.at(ExecId("ti-1", "enginetest.plain"));
  EXPECT_EQ(plain.status, store::ExecStatus::kFailed);
  EXPECT_NE(plain.result.dump().find("system:greeting is not an encrypted value"),
            std::string::npos)
      << plain.result;
  const store::Execution& swapped = all.at(ExecId("ti-1", "enginetest.swapped"));
  EXPECT_EQ(swapped.status, store::ExecStatus::kFailed);
  EXPECT_NE(
      swapped.result.dump().find("system:swapped does not open: it was sealed for another key"),
      std::string::npos)
      << swapped.result;
  EXPECT_EQ(swapped.result.dump().find("s3cret"), std::string::npos);
}

TEST_P(EngineTest, MalformedMessagesAreSkippedAndTheEngineGoesOn) {
  auto engine = StartEngine(LoadRules({
      {"build.yaml", RuleYaml("on_build", kBuildCriteria, "enginetest.shell", kShellParams)},
  }));
  ASSERT_NE(engine, nullptr);
  SendRaw("junk", "not json at all");
  SendRaw("no-fields", R"({"id": "x"})");
  Send({Trigger("ti-ok", {{"kind", "build"}, {"name", "ok"}, {"n", 1}})});
  ASSERT_TRUE(WaitProcessed(*engine, 3));
  engine->Stop();
  EXPECT_EQ(engine->stats().malformed, 2u);
  auto all = AllExecutions();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id, ExecId("ti-ok", "enginetest.on_build"));
}

// The engine "crashed" after creating the executions and before its offsets were committed:
// the group's offsets are rewound (what an uncommitted batch looks like to the next member) and
// a fresh engine gets everything again. It creates nothing, and produces the requests again
// for executions still `requested` (the previous run may have died before its flush).
TEST_P(EngineTest, RedeliveryCreatesNoDuplicates) {
  auto rules = LoadRules({
      {"build.yaml", RuleYaml("on_build", kBuildCriteria, "enginetest.shell", kShellParams)},
      {"noop.yaml", RuleYaml("noop", "", "enginetest.noop", "")},
  });
  std::vector<Json> triggers;
  for (int i = 0; i < 50; ++i) {
    triggers.push_back(
        Trigger("ti-" + std::to_string(i), {{"kind", "build"}, {"name", "a"}, {"n", i}}));
  }
  Send(triggers);
  {
    auto first = StartEngine(rules);
    ASSERT_NE(first, nullptr);
    ASSERT_TRUE(WaitProcessed(*first, 50));
    first->Stop();
    EXPECT_EQ(first->stats().executions_created, 100u);
  }
  ASSERT_EQ(AllExecutions().size(), 100u);

  // Rewind the group to the start of every partition.
  {
    bus::Consumer::Options o;
    o.group_id = bus::Group(config_, bus::kRulesGroup);
    o.topics = {bus::Topic(config_, bus::kTriggers)};
    auto c = bus::Consumer::Create(config_, o);
    ASSERT_TRUE(c.ok()) << c.message();
    ASSERT_TRUE(WaitFor([&] {
      (void)(*c)->Poll(std::chrono::milliseconds(50));
      return (*c)->Assignment().size() == 3;
    }));
    std::vector<bus::TopicPartition> zero;
    for (int p = 0; p < 3; ++p) zero.push_back({bus::Topic(config_, bus::kTriggers), p, 0});
    Status s = (*c)->CommitOffsets(zero);
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_TRUE((*c)->Close().ok());
  }

  auto second = StartEngine(rules);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(WaitProcessed(*second, 50));
  second->Stop();
  auto stats = second->stats();
  EXPECT_EQ(stats.executions_created, 0u);
  EXPECT_EQ(stats.requests_produced, 100u);
  auto all = ById(AllExecutions());
  EXPECT_EQ(all.size(), 100u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_TRUE(all.count(ExecId("ti-" + std::to_string(i), "enginetest.on_build")));
    EXPECT_TRUE(all.count(ExecId("ti-" + std::to_string(i), "enginetest.noop")));
  }
  EXPECT_EQ(AllTriggerInstances().size(), 50u);
  // Every request twice (same id, same parameters): runners claim each execution once.
  auto requests = Requests(200);
  std::map<std::string, int> per_id;
  for (const auto& m : requests) per_id[m.key]++;
  EXPECT_EQ(per_id.size(), 100u);
  for (const auto& [id, n] : per_id) EXPECT_EQ(n, 2) << id;
}

// A retryable store error stops the batch: nothing is committed, the batch is retried with
// backoff, and a member that takes over after a stop gets the messages again.
TEST_P(EngineTest, RetryableStoreErrorsRetryTheBatchAndCommitNothing) {
  auto rules = LoadRules({
      {"build.yaml", RuleYaml("on_build", kBuildCriteria, "enginetest.shell", kShellParams)},
  });
  FlakyStore flaky(store_.get());
  flaky.fail_creates = true;
  const RulesEngineOptions options = RetryingOptions(&flaky);
  {
    auto engine = RulesEngine::Create(options, rules);
    ASSERT_TRUE(engine.ok()) << engine.message();
    ASSERT_TRUE((*engine)->Start().ok());
    Send({Trigger("ti-1", {{"kind", "build"}, {"name", "a"}, {"n", 1}})});
    ASSERT_TRUE(WaitFor([&] { return (*engine)->stats().batch_retries >= 3; }));
    (*engine)->Stop();  // gives up with the batch uncommitted
    EXPECT_EQ((*engine)->stats().batches_committed, 0u);
    EXPECT_EQ((*engine)->stats().requests_produced, 0u);
  }
  EXPECT_TRUE(AllExecutions().empty());

  // The same store recovers under a new engine: the message comes again (it was not committed).
  flaky.fail_creates = false;
  auto engine = RulesEngine::Create(options, rules);
  ASSERT_TRUE(engine.ok()) << engine.message();
  ASSERT_TRUE((*engine)->Start().ok());
  ASSERT_TRUE(WaitProcessed(**engine, 1));
  auto requests = Requests(1);
  ASSERT_EQ(AllExecutions().size(), 1u);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].key, ExecId("ti-1", "enginetest.on_build"));

  // And within one engine: the store fails for a while, then the retried batch goes through.
  flaky.fail_creates = true;
  Send({Trigger("ti-2", {{"kind", "build"}, {"name", "b"}, {"n", 2}})});
  const int before = flaky.failed_creates;
  ASSERT_TRUE(WaitFor([&] { return flaky.failed_creates >= before + 2; }));
  flaky.fail_creates = false;
  ASSERT_TRUE(WaitFor([&] { return AllExecutions().size() == 2; }));
  EXPECT_GE((*engine)->stats().batch_retries, 2u);
  EXPECT_EQ(Requests(2).size(), 2u);
}

// The store fails between the dedupe key and the instance's record (as a crash there would):
// the retried instance owns the key it opened, so it is evaluated, not taken for a duplicate.
TEST_P(EngineTest, AnInstanceRetriedAfterItsDedupeKeyIsNotItsOwnDuplicate) {
  auto rules = LoadRules({
      {"build.yaml", RuleYaml("on_build", kBuildCriteria, "enginetest.shell", kShellParams)},
  });
  FlakyStore flaky(store_.get());
  flaky.fail_trigger_inserts = 2;
  const RulesEngineOptions options = RetryingOptions(&flaky);
  auto engine = RulesEngine::Create(options, rules);
  ASSERT_TRUE(engine.ok()) << engine.message();
  ASSERT_TRUE((*engine)->Start().ok());
  const Json body = {{"kind", "build"}, {"name", "/nfs/b.txt"}, {"n", 1}};
  Send({Trigger("ti-1", body, "file:/nfs/b.txt", 1'700'000'000'000)});
  ASSERT_TRUE(WaitProcessed(**engine, 1));
  (*engine)->Stop();
  EXPECT_EQ(flaky.fail_trigger_inserts, 0);
  EXPECT_GE((*engine)->stats().batch_retries, 2u);
  EXPECT_EQ((*engine)->stats().duplicates, 0u);
  ASSERT_EQ(AllTriggerInstances().size(), 1u);
  auto all = ById(AllExecutions());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_TRUE(all.count(ExecId("ti-1", "enginetest.on_build")));
  EXPECT_EQ(Requests(1).size(), 1u);
}

// A recorded instance delivered again after a later instance of its key opened a new window
// is a redelivery, not a duplicate: nothing is collapsed and nothing new is created.
TEST_P(EngineTest, ARedeliveryAfterTheWindowMovedOnIsNotADuplicate) {
  auto engine = StartEngine(LoadRules({
      {"build.yaml", RuleYaml("on_build", kBuildCriteria, "enginetest.shell", kShellParams)},
  }));
  ASSERT_NE(engine, nullptr);
  const Json body = {{"kind", "build"}, {"name", "/nfs/c.txt"}, {"n", 1}};
  const int64_t t0 = 1'700'000'000'000;
  Send({Trigger("ti-first", body, "file:/nfs/c.txt", t0)});
  ASSERT_TRUE(WaitProcessed(*engine, 1));
  Send({Trigger("ti-second", body, "file:/nfs/c.txt", t0 + 2 * 3600'000)});
  ASSERT_TRUE(WaitProcessed(*engine, 2));
  Send({Trigger("ti-first", body, "file:/nfs/c.txt", t0)});
  ASSERT_TRUE(WaitProcessed(*engine, 3));
  engine->Stop();
  EXPECT_EQ(engine->stats().duplicates, 0u);
  EXPECT_EQ(AllTriggerInstances().size(), 2u);
  EXPECT_EQ(AllExecutions().size(), 2u);
}

TEST_P(EngineTest, TwoEnginesInOneGroupSplitTheTriggers) {
  auto rules = LoadRules({
      {"build.yaml", RuleYaml("on_build", kBuildCriteria, "enginetest.shell", kShellParams)},
  });
  auto a = StartEngine(rules);
  auto b = StartEngine(rules);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const Json body = {{"kind", "build"}, {"name", "a"}, {"n", 1}};
  // Probe until both members hold partitions, then send the rest.
  int sent = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        std::vector<Json> wave;
        for (int i = 0; i < 10; ++i) wave.push_back(Trigger("ti-" + std::to_string(sent++), body));
        Send(wave);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        return a->stats().triggers_processed > 0 && b->stats().triggers_processed > 0;
      },
      std::chrono::seconds(90)));
  std::vector<Json> rest;
  while (sent < 2000) rest.push_back(Trigger("ti-" + std::to_string(sent++), body));
  Send(rest);
  ASSERT_TRUE(WaitFor([&] { return AllExecutions().size() >= static_cast<size_t>(sent); }));
  a->Stop();
  b->Stop();
  auto all = ById(AllExecutions());
  EXPECT_EQ(all.size(), static_cast<size_t>(sent));
  for (int i = 0; i < sent; ++i) {
    ASSERT_TRUE(all.count(ExecId("ti-" + std::to_string(i), "enginetest.on_build"))) << i;
  }
  auto sa = a->stats();
  auto sb = b->stats();
  EXPECT_GT(sa.executions_created, 0u);
  EXPECT_GT(sb.executions_created, 0u);
  EXPECT_EQ(sa.executions_created + sb.executions_created, static_cast<uint64_t>(sent));
  std::set<std::string> requested;
  for (const auto& m : Requests(sent)) requested.insert(m.key);
  EXPECT_EQ(requested.size(), static_cast<size_t>(sent));
  std::cout << "[ info ] engine a created " << sa.executions_created << ", engine b "
            << sb.executions_created << " of " << sent << "\n";
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Embedded, EngineTest, ::testing::Values(Target::kEmbedded), TargetName);
INSTANTIATE_TEST_SUITE_P(Kafka, EngineTest, ::testing::Values(Target::kKafka), TargetName);

}  // namespace gale::rules::engine::test

// Shared fixture of the rules engine tests: a bus (the embedded broker, or the real Kafka broker
// named by GALE_KAFKA_BROKERS), a temporary SQLite store and a temporary packs directory holding
// pack `enginetest` (YAML only: local-shell-cmd and noop actions, rules on core.st2.webhook).
// Every test uses its own topic prefix, so runs never see each other's messages.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "host/bus/bus.h"
#include "host/common/json.h"
#include "host/rules/engine/rule_set.h"
#include "host/rules/engine/rules_engine.h"
#include "host/store/store.h"
#include "test/support/bus_store_test.h"

namespace gale::rules::engine::test {

using Target = gale::testing::BusTarget;
inline constexpr auto TargetName = gale::testing::BusTargetName;

inline constexpr const char* kPack = "enginetest";
inline constexpr const char* kWebhook = "core.st2.webhook";

// A rule file of pack enginetest on core.st2.webhook. `criteria` and `parameters` are YAML
// mappings indented by 2 (criteria) and 4 (parameters) spaces, e.g.
// "  trigger.body.kind: {type: equals, pattern: build}\n".
std::string RuleYaml(const std::string& name, const std::string& criteria,
                     const std::string& action, const std::string& parameters, bool enabled = true);

class EngineTest : public gale::testing::BusStoreTest {
 protected:
  EngineTest() : BusStoreTest("gale-engine-test") {}

  // Writes pack enginetest with its actions and `rules` (file name -> YAML) and returns the
  // rule set built from the catalog (fails the test if the pack has errors).
  std::shared_ptr<const RuleSet> LoadRules(const std::map<std::string, std::string>& rules);
  std::string PacksDir() const { return (dir_ / "packs").string(); }

  RulesEngineOptions EngineOptions();
  // EngineOptions() on another store (a FlakyStore), retrying a failed batch within 20-100 ms.
  RulesEngineOptions RetryingOptions(store::Store* store);
  std::unique_ptr<RulesEngine> StartEngine(std::shared_ptr<const RuleSet> rules);

  // A trigger instance message value.
  static Json Trigger(const std::string& id, const Json& body, const std::string& dedupe_key = "",
                      int64_t occurred_at = 1'700'000'000'000);
  // Produces trigger instance messages (keyed by id) and flushes.
  void Send(const std::vector<Json>& triggers);
  void SendRaw(const std::string& key, const std::string& value);

  // Every execution in the store (paged).
  std::vector<store::Execution> AllExecutions();
  std::vector<store::TriggerInstance> AllTriggerInstances();
  // Reads the executions topic from the beginning for `duration` after the last message seen
  // or until `expect` messages arrived and then `settle` more passed.
  std::vector<bus::Message> Requests(
      size_t expect, std::chrono::milliseconds settle = std::chrono::milliseconds(1500),
      std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Polls `done` every 20 ms until it is true or `timeout` passes; returns its last value.
  static bool WaitFor(const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Waits until the engine has recorded (or skipped) `n` trigger messages: their executions
  // may still be being written.
  static bool WaitProcessed(const RulesEngine& engine, uint64_t n,
                            std::chrono::milliseconds timeout = std::chrono::seconds(60));
};

}  // namespace gale::rules::engine::test

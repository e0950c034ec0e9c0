// Shared fixture of the runner tests: a bus (the embedded broker, or the real Kafka broker named
// by GALE_KAFKA_BROKERS), a temporary SQLite store, and the actions of the fixture pack
// `runnertest` (build/test-packs/runner) and the shipped `core` pack. Each test uses its own
// topic prefix. Executions are requested the way the rules engine does it: created `requested`
// in the store, then produced to <prefix>executions.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "host/bus/bus.h"
#include "host/common/json.h"
#include "host/runner/action_index.h"
#include "host/runner/runner_service.h"
#include "host/store/store.h"
#include "test/support/bus_store_test.h"
#include "test/support/node_harness.h"

namespace gale::runner::test {

using Target = gale::testing::BusTarget;
inline constexpr auto TargetName = gale::testing::BusTargetName;

// The gale binary (for `gale exec`), the fixture packs and the misbehaving test program.
std::string GaleBinary();
std::string PythonShim();    // build/share/gale/python, for python-script
std::string FixturePacks();  // holds runnertest
std::string ShippedPacks();  // holds core
std::string HostilePath();

class RunnerTest : public gale::testing::BusStoreTest {
 protected:
  RunnerTest() : BusStoreTest("gale-runner-test") {}

  const std::filesystem::path& dir() const { return dir_; }

  // Options for a runner on this fixture's bus and store: node "node-a", lease 3 s, the built
  // Python shim.
  RunnerOptions Options(const std::string& node = "node-a");
  std::shared_ptr<const ActionIndex> Actions();
  std::unique_ptr<RunnerService> StartRunner(RunnerOptions options);
  std::unique_ptr<RunnerService> StartRunner() { return StartRunner(Options()); }

  // Creates a requested execution and produces its request; returns its id.
  std::string Request(const std::string& action, const Json& parameters);
  // Several at once (one flush).
  std::vector<std::string> RequestMany(const std::string& action,
                                       const std::vector<Json>& parameters);
  void ProduceRaw(const std::string& key, const std::string& value);

  store::Execution Get(const std::string& id);
  // Waits until the execution has a final status (fails the test after `timeout`).
  store::Execution WaitFinal(const std::string& id,
                             std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Waits until the execution has `status`.
  bool WaitStatus(const std::string& id, store::ExecStatus status,
                  std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Every stored output chunk of one stream, concatenated.
  std::string Output(const std::string& id, const std::string& stream);
  // Messages on <prefix>execution-events with key `id`, read until `done` or `timeout`.
  std::vector<Json> Events(const std::string& id, size_t expect,
                           std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Whether a live process has `needle` in its command line (executions run in PID namespaces
  // of their own, so a pid an action reports is not a pid of this namespace).
  static bool AnyProcessWith(const std::string& needle) {
    return gale::testing::AnyProcessWith(needle);
  }
  static bool WaitFor(const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::seconds(60));

  // Where Actions() reads packs from.
  std::vector<std::string> packs_paths_ = {FixturePacks(), ShippedPacks()};
  // The user Actions()'s executions drop to (a root node's gale-action); empty: none.
  std::string action_user_;
};

}  // namespace gale::runner::test

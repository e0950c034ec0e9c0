// Issue #19's last two gaps, against a real `gale up`:
//  - a sensor host's config is the one the node resolved (packs.configs_path/<pack>.yaml over
//    the pack's config.yaml, with config.schema.yaml's defaults), for Python and .so sensors,
//    and it reaches the host on its control channel, never in argv or the environment;
//  - Python sensors' add_trigger/update_trigger/remove_trigger follow rule changes (a rule file
//    added, changed or deleted, a rule disabled or enabled through the API) without their
//    process being restarted, and a hook that raises is logged and changes nothing else.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "test/support/node_harness.h"

namespace gale::testing {
namespace {

namespace fs = std::filesystem;

std::string CfgPackYaml(const std::string& ref) {
  return "---\nref: " + ref + "\nname: " + ref +
         "\ndescription: Gale tests\nversion: 0.1.0\nauthor: Gale tests\n";
}

// Dispatches its config once: which file it came from, a schema default, and whether a secret
// value reached it.
constexpr const char* kConfiguredYaml = R"(---
class_name: Configured
entry_point: configured.py
poll_interval: 0.2
trigger_types:
  - name: configured
    payload_schema:
      type: object
)";

constexpr const char* kConfiguredPy = R"(from st2reactor.sensor.base import PollingSensor


class Configured(PollingSensor):
    def setup(self):
        self._sent = False

    def poll(self):
        if self._sent:
            return
        self._sent = True
        self.sensor_service.dispatch("pycfg.configured", {
            "source": self.config.get("source"),
            "greeting": self.config.get("greeting"),
            "token_seen": self.config.get("token") == "tok-8e1f3c",
        })

    def cleanup(self):
        pass

    def add_trigger(self, trigger):
        pass

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        pass
)";

constexpr const char* kConfigSchema = R"(---
source:
  type: string
  required: true
greeting:
  type: string
  default: hello from the schema
token:
  type: string
  secret: true
)";

// The triggers of `type` on the node's bus, once there are at least `at_least` of them.
std::vector<Json> TriggersOfType(const NodeProcess& node, const std::string& type,
                                 size_t at_least) {
  std::vector<Json> found;
  ReadTopic(
      node.brokers(), node.topic_prefix() + "triggers",
      [&](const auto& ms) {
        found.clear();
        for (const auto& m : ms) {
          Json j = Json::parse(m.value, nullptr, false);
          if (j.is_object() && j["trigger"] == type) found.push_back(j);
        }
        return found.size() >= at_least;
      },
      std::chrono::seconds(30));
  return found;
}

// Every process whose command line mentions `needle`, with its command line and environment.
std::vector<std::string> CommandLinesAndEnvironments(const std::string& needle) {
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator("/proc")) {
    if (atoi(e.path().filename().c_str()) <= 0) continue;
    std::ifstream cmdline(e.path() / "cmdline"), environ(e.path() / "environ");
    std::string args((std::istreambuf_iterator<char>(cmdline)), {});
    if (args.find(needle) == std::string::npos) continue;
    found.push_back(args + "\n" + std::string((std::istreambuf_iterator<char>(environ)), {}));
  }
  return found;
}

TEST(SensorConfigTest, ConfigsDirConfigReachesPythonAndLibrarySensors) {
  TempDir packs, configs, watch, ignored;
  ShareWithActions(watch.path());
  ShareWithActions(ignored.path());
  // pycfg: its own config.yaml says "pack"; the configs dir's pycfg.yaml wins.
  WriteFiles(packs.path() / "pycfg", {{"pack.yaml", CfgPackYaml("pycfg")},
                                      {"config.schema.yaml", kConfigSchema},
                                      {"config.yaml", "---\nsource: pack\ntoken: wrong\n"},
                                      {"sensors/configured.yaml", kConfiguredYaml},
                                      {"sensors/configured.py", kConfiguredPy}});
  WriteFiles(configs.path(), {{"pycfg.yaml", "---\nsource: configs-dir\ntoken: tok-8e1f3c\n"}});
  // The .so sensor of the examples pack watches the directories its config names: the pack's
  // own config.yaml names one, the configs dir another.
  CopyExamplesPack(packs.path() / "examples");
  std::ofstream(packs.path() / "examples/config.yaml")
      << "directories: [" << ignored.str() << "]\n";
  std::ofstream(configs.path() / "examples.yaml") << "directories: [" << watch.str() << "]\n";
  NodeOptions options;
  options.packs_paths = {packs.str()};
  options.extra_yaml = "  configs_path: " + configs.str() + "\n";
  auto node = NodeProcess::Start(options);

  auto configured = TriggersOfType(*node, "pycfg.configured", 1);
  ASSERT_EQ(configured.size(), 1u) << node->Log();
  const Json& payload = configured[0]["payload"];
  EXPECT_EQ(payload["source"], "configs-dir") << payload.dump();
  EXPECT_EQ(payload["greeting"], "hello from the schema") << payload.dump();
  EXPECT_EQ(payload["token_seen"], true) << payload.dump();
  // Not in any sensor process's argv or environment (hosts and their Python children).
  const auto processes = CommandLinesAndEnvironments(node->topic_prefix());
  EXPECT_FALSE(processes.empty());
  for (const auto& p : processes) {
    EXPECT_EQ(p.find("tok-8e1f3c"), std::string::npos) << p;
  }
  for (const auto& p : CommandLinesAndEnvironments("/pycfg@")) {
    EXPECT_EQ(p.find("tok-8e1f3c"), std::string::npos) << p;
  }

  // The .so sensor watches the configs dir's directory, not the pack's.
  ASSERT_TRUE(WaitFor([&] { return Count(node->Log(), "running 1 sensor(s)") >= 2; },
                      std::chrono::seconds(30)))
      << node->Log();
  const std::string seen = (watch.path() / "seen.txt").string();
  const std::string unseen = (ignored.path() / "unseen.txt").string();
  std::ofstream(unseen) << "x";
  std::ofstream(seen) << "x";
  bool fired = false, fired_unseen = false;
  ReadTopic(
      node->brokers(), node->topic_prefix() + "triggers",
      [&](const auto& ms) {
        for (const auto& m : ms) {
          Json j = Json::parse(m.value, nullptr, false);
          if (!j.is_object()) continue;
          fired = fired || j["payload"]["path"] == seen;
          fired_unseen = fired_unseen || j["payload"]["path"] == unseen;
        }
        return fired;
      },
      std::chrono::seconds(30));
  EXPECT_TRUE(fired) << node->Log();
  EXPECT_FALSE(fired_unseen) << "the .so sensor read the pack's own config.yaml";
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

// A Sensor that reports each hook call as a pyhook.hooked trigger: the hook, the rule, the
// parameters and its pid. A trigger whose parameters say explode makes the hook raise after it
// reported.
constexpr const char* kRecorderYaml = R"(---
class_name: Recorder
entry_point: recorder.py
trigger_types:
  - name: watched
  - name: hooked
    payload_schema:
      type: object
)";

constexpr const char* kRecorderPy = R"(import os
import time

from st2reactor.sensor.base import Sensor


class Recorder(Sensor):
    def setup(self):
        self._stop = False

    def run(self):
        while not self._stop:
            time.sleep(0.1)

    def cleanup(self):
        self._stop = True

    def _report(self, hook, trigger):
        self.sensor_service.dispatch("pyhook.hooked", {
            "hook": hook, "rule": trigger["id"], "type": trigger["type"],
            "parameters": trigger["parameters"], "pid": os.getpid()})
        if trigger["parameters"].get("explode"):
            raise RuntimeError("hook bug in %s" % hook)

    def add_trigger(self, trigger):
        self._report("add", trigger)

    def update_trigger(self, trigger):
        self._report("update", trigger)

    def remove_trigger(self, trigger):
        self._report("remove", trigger)
)";

std::string HookRule(const std::string& name, const std::string& parameters,
                     const std::string& pack = "hookrules") {
  return "---\nname: " + name + "\npack: " + pack +
         "\nenabled: true\ntrigger:\n  type: pyhook.watched\n  parameters: " + parameters +
         "\naction:\n  ref: core.noop\n";
}

// Replaces a file the way an editor saves it, so the watcher never reads half of it.
void SaveFile(const fs::path& path, const std::string& text) {
  std::ofstream(path.string() + ".new") << text;
  fs::rename(path.string() + ".new", path);
}

TEST(SensorHooksTest, TriggerHooksFollowRuleChangesWithoutARestart) {
  TempDir packs;
  fs::copy(fs::path(GALE_BINARY_DIR) / "packs/core", packs.path() / "core",
           fs::copy_options::recursive);
  WriteFiles(packs.path() / "pyhook", {{"pack.yaml", CfgPackYaml("pyhook")},
                                       {"sensors/recorder.yaml", kRecorderYaml},
                                       {"sensors/recorder.py", kRecorderPy}});
  const fs::path rules = packs.path() / "hookrules" / "rules";
  WriteFiles(packs.path() / "hookrules", {{"pack.yaml", CfgPackYaml("hookrules")},
                                          {"rules/first.yaml", HookRule("first", "{n: 1}")}});
  NodeOptions options;
  options.packs_paths = {packs.str()};
  auto node = NodeProcess::Start(options);

  // The hook calls so far, as "hook rule parameters" (in no order: the triggers topic has
  // several partitions); their pids into `pids`.
  std::set<int64_t> pids;
  auto calls = [&](size_t at_least) {
    std::multiset<std::string> out;
    for (const auto& t : TriggersOfType(*node, "pyhook.hooked", at_least)) {
      const Json& p = t["payload"];
      out.insert(p.value("hook", "") + " " + p.value("rule", "") + " " + p["parameters"].dump());
      pids.insert(p.value("pid", int64_t{0}));
    }
    return out;
  };
  // Each step adds the one call it expects to those before.
  std::multiset<std::string> expected;
  auto expect_call = [&](const std::string& call) {
    expected.insert(call);
    EXPECT_EQ(calls(expected.size()), expected) << node->Log();
  };

  // At start: the rule there is.
  expect_call("add hookrules.first {\"n\":1}");
  // A rule created: add_trigger.
  SaveFile(rules / "second.yaml", HookRule("second", "{n: 2}"));
  expect_call("add hookrules.second {\"n\":2}");
  // Its trigger parameters changed: update_trigger.
  SaveFile(rules / "first.yaml", HookRule("first", "{n: 10}"));
  expect_call("update hookrules.first {\"n\":10}");
  // Deleted: remove_trigger, with the trigger it had.
  fs::remove(rules / "second.yaml");
  expect_call("remove hookrules.second {\"n\":2}");
  // Disabled and enabled again through the API: remove_trigger, add_trigger.
  const std::string gale =
      "env -u GALE_MONGODB_URL MONGOC_DISABLE_SHM=1 GALE_HOME=" + node->home() + " " +
      std::string(GALE_BINARY_DIR) + "/bin/gale ";
  auto disabled = RunCommand(gale + "rule disable hookrules.first 2>&1");
  ASSERT_EQ(disabled.exit_code, 0) << disabled.output;
  expect_call("remove hookrules.first {\"n\":10}");
  auto enabled = RunCommand(gale + "rule enable hookrules.first 2>&1");
  ASSERT_EQ(enabled.exit_code, 0) << enabled.output;
  expect_call("add hookrules.first {\"n\":10}");
  // A hook that raises: logged with its traceback; the next change is still called.
  SaveFile(rules / "first.yaml", HookRule("first", "{n: 11, explode: true}"));
  expect_call("update hookrules.first {\"explode\":true,\"n\":11}");
  ASSERT_TRUE(WaitFor(
      [&] {
        return node->Log().find(
                   "pyhook.Recorder: update_trigger(hookrules.first) raised; the "
                   "sensor keeps running") != std::string::npos;
      },
      std::chrono::seconds(30)))
      << node->Log();
  EXPECT_NE(node->Log().find("RuntimeError: hook bug in update"), std::string::npos);
  SaveFile(rules / "third.yaml", HookRule("third", "{n: 3}"));
  expect_call("add hookrules.third {\"n\":3}");
  // A rule of the sensor's own pack, added and then changed: the pack reloads twice, its
  // sensor is not restarted, and the copy it runs from stays on disk while it runs.
  const fs::path own = packs.path() / "pyhook" / "rules" / "own.yaml";
  fs::create_directories(own.parent_path());
  SaveFile(own, HookRule("own", "{n: 4}", "pyhook"));
  expect_call("add pyhook.own {\"n\":4}");
  SaveFile(own, HookRule("own", "{n: 5}", "pyhook"));
  expect_call("update pyhook.own {\"n\":5}");
  const std::string log = node->Log();
  const std::string started = "sensor host pyhook: started pid ";
  const auto at = log.find(started);
  ASSERT_NE(at, std::string::npos) << log;
  const auto open = log.find('(', at), close = log.find(')', at);
  ASSERT_TRUE(open != std::string::npos && close != std::string::npos) << log;
  const std::string running_dir = log.substr(open + 1, close - open - 1);
  EXPECT_TRUE(fs::exists(fs::path(running_dir) / "sensors" / "recorder.py")) << running_dir;

  // One sensor process throughout: the host was never restarted.
  EXPECT_EQ(pids.size(), 1u) << node->Log();
  EXPECT_EQ(Count(node->Log(), "sensor host pyhook: started pid"), 1u) << node->Log();
  EXPECT_EQ(Count(node->Log(), "ending the sensor process"), 0u) << node->Log();
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

}  // namespace
}  // namespace gale::testing

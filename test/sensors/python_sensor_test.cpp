// Python sensors (issue #19, item 3) against a real `gale up`: packs written in StackStorm's
// layout (sensors/<name>.yaml with `entry_point: <name>.py`, classes from st2reactor.sensor.base)
// run in one Python child of their pack's sensor host. Their dispatches fire rules, their
// datastore calls reach the store, bad payloads and unknown triggers are refused and counted, a
// crashing Python sensor crash-loops to `failed` beside a healthy .so sensor, and no Python
// process outlives its node.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <set>
#include <sstream>

#include "host/common/sanitizers.h"
#include "test/support/node_harness.h"

namespace gale::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPysensPackYaml = R"(---
ref: pysens
name: pysens
description: Python sensors for Gale's tests
version: 0.1.0
author: Gale tests
)";

// A PollingSensor: dispatches pysens.tick on each of its first three polls, once a payload that
// violates the schema and once an unknown trigger, and writes to the datastore in setup().
constexpr const char* kTickerYaml = R"(---
class_name: Ticker
entry_point: ticker.py
description: Ticks on each poll.
poll_interval: 0.2
trigger_types:
  - name: tick
    description: One poll.
    payload_schema:
      type: object
      properties:
        count:
          type: integer
      required: [count]
)";

constexpr const char* kTickerPy = R"(import json

from st2reactor.sensor.base import PollingSensor


class Ticker(PollingSensor):
    def setup(self):
        self._log = self.sensor_service.get_logger(__name__)
        self._count = 0
        self.sensor_service.set_value("seen", "yes")
        seen = self.sensor_service.get_value("seen")
        self.sensor_service.set_value("pysens.echo", "got:%s" % seen, local=False)
        svc = self.sensor_service
        svc.set_value("gone", "soon")
        svc.set_value("sealed", "s3cret", encrypt=True)
        report = {"listed": sorted(kv.name for kv in svc.list_values()),
                  "deleted": svc.delete_value("gone"),
                  "after_delete": svc.get_value("gone"),
                  "sealed": svc.get_value("sealed", decrypt=True),
                  "sealed_raw_differs": svc.get_value("sealed") != "s3cret"}
        try:
            svc.set_value("mine", "x", scope="user")
            report["user_scope"] = "written"
        except Exception as e:  # sensors have no user: the node refuses the user scope
            report["user_scope"] = str(e)
        svc.set_value("pysens.report", json.dumps(report), local=False)
        self._log.info("setup done; poll interval %s", self.get_poll_interval())

    def poll(self):
        self._count += 1
        if self._count <= 3:
            self.sensor_service.dispatch(trigger="pysens.tick", payload={"count": self._count})
        elif self._count == 4:
            self.sensor_service.dispatch(trigger="pysens.tick", payload={"count": "four"})
        elif self._count == 5:
            self.sensor_service.dispatch(trigger="pysens.nope", payload={})

    def cleanup(self):
        pass

    def add_trigger(self, trigger):
        pass

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        pass
)";

// A Sensor whose run() dispatches: twice, with what happened when it tried to start a program
// (the host's filter denies exec) and its confinement as /proc/self/status says it, then waits
// to be stopped. Its add_trigger() records the rule
// triggers it was given.
constexpr const char* kPusherYaml = R"(---
class_name: Pusher
entry_point: pusher.py
description: Pushes from run().
trigger_types:
  - name: pushed
    payload_schema:
      type: object
      properties:
        n: {type: integer}
        exec: {type: string}
        triggers: {type: array}
        status: {type: object}
      required: [n]
)";

constexpr const char* kPusherPy = R"(import subprocess
import time

from st2reactor.sensor.base import Sensor


class Pusher(Sensor):
    def __init__(self, sensor_service, config=None):
        super(Pusher, self).__init__(sensor_service=sensor_service, config=config)
        self._triggers = []
        self._stop = False

    def setup(self):
        pass

    def run(self):
        try:
            subprocess.run(["/bin/true"], check=True)
            outcome = "ran"
        except Exception as e:
            outcome = type(e).__name__
        status = {}
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("Uid", "NoNewPrivs", "Seccomp"):
                    status[key] = value.split()[0]
        with open("/proc/self/limits") as f:
            for line in f:
                if line.startswith("Max data size"):
                    status["MaxData"] = line.split()[3]
        for n in (1, 2):
            self.sensor_service.dispatch("pysens.pushed", {"n": n, "exec": outcome,
                                         "triggers": self._triggers, "status": status})
        while not self._stop:
            time.sleep(0.1)

    def cleanup(self):
        self._stop = True

    def add_trigger(self, trigger):
        self._triggers.append("%s on %s" % (trigger["id"], trigger["type"]))

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        pass
)";

std::string PyRule(const std::string& name, const std::string& trigger, const std::string& action,
                   const std::string& parameters) {
  return "---\nname: " + name + "\npack: pysens\nenabled: true\ntrigger:\n  type: " + trigger +
         "\naction:\n  ref: " + action + "\n  parameters:\n" + parameters;
}

// The pysens pack, whose rules run core.local (local-shell-cmd), beside the shipped core pack.
std::string PysensPacks(const TempDir& dir) {
  fs::copy(fs::path(GALE_BINARY_DIR) / "packs/core", dir.path() / "core",
           fs::copy_options::recursive);
  WriteFiles(dir.path() / "pysens",
             {{"pack.yaml", kPysensPackYaml},
              {"sensors/ticker.yaml", kTickerYaml},
              {"sensors/ticker.py", kTickerPy},
              {"sensors/pusher.yaml", kPusherYaml},
              {"sensors/pusher.py", kPusherPy},
              {"rules/on_tick.yaml", PyRule("on_tick", "pysens.tick", "core.local",
                                            "    cmd: echo tick {{ trigger.count }}\n")},
              {"rules/on_push.yaml", PyRule("on_push", "pysens.pushed", "core.local",
                                            "    cmd: echo pushed {{ trigger.n }}\n")}});
  // A rule of another pack on a pysens trigger: the sensor's add_trigger() gets it too.
  WriteFiles(dir.path() / "other",
             {{"pack.yaml",
               "---\nref: other\nname: other\ndescription: rules\nversion: 0.1.0\n"
               "author: Gale tests\n"},
              {"rules/also.yaml",
               "---\nname: also\npack: other\nenabled: true\ntrigger:\n"
               "  type: pysens.pushed\n  parameters: {channel: x}\n"
               "action:\n  ref: core.noop\n"}});
  return dir.str();
}

std::vector<store::Execution> PyExecutionsOf(store::Store& store, const std::string& rule) {
  store::ExecutionQuery q;
  q.rule = rule;
  q.statuses = {store::ExecStatus::kSucceeded};
  auto page = store.ListExecutions(q);
  return page.ok() ? page->items : std::vector<store::Execution>{};
}

std::vector<Json> PyTriggersOf(const NodeProcess& node, const std::string& type, size_t at_least) {
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

std::optional<std::string> PyKeyValueOf(store::Store& store, const std::string& name) {
  store::KeyRef ref;
  ref.name = name;
  auto got = store.GetKey(ref, store::NowMs());
  if (!got.ok() || !got->has_value()) return std::nullopt;
  return (*got)->value;
}

// The first live Python sensor process and its parent (the sensor host), as this namespace
// numbers them; {0, 0} when there is none.
std::string CmdlineOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The Python sensor child of a sensor host of the node with `topic_prefix` (tests running side
// by side have children of their own), and that host.
std::pair<pid_t, pid_t> PythonChildAndParent(const std::string& topic_prefix) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    const pid_t pid = static_cast<pid_t>(atoi(e.path().filename().c_str()));
    if (pid <= 0) continue;
    std::ifstream cmdline(e.path() / "cmdline");
    std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    if (args.find("gale_shim/sensor_wrapper.py") == std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const auto paren = line.rfind(')');
    if (paren == std::string::npos || paren + 4 >= line.size() || line[paren + 2] == 'Z') continue;
    const auto parent = static_cast<pid_t>(atoi(line.c_str() + paren + 4));
    if (CmdlineOf(parent).find(topic_prefix) == std::string::npos) continue;
    return {pid, parent};
  }
  return {0, 0};
}

// The real uid of `pid`, as /proc/<pid>/status gives it.
std::string UidOf(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("Uid:", 0) == 0) {
      std::istringstream fields(line.substr(4));
      std::string uid;
      fields >> uid;
      return uid;
    }
  }
  return "";
}

// The soft RLIMIT_DATA of `pid` as /proc/<pid>/limits shows it ("unlimited" or bytes).
std::string MaxDataOf(pid_t pid) {
  std::ifstream limits("/proc/" + std::to_string(pid) + "/limits");
  for (std::string line; std::getline(limits, line);) {
    if (line.rfind("Max data size", 0) == 0) {
      std::istringstream fields(line.substr(13));
      std::string soft;
      fields >> soft;
      return soft;
    }
  }
  return "";
}

// Whether `pid` is a live process (a zombie counts as gone).
bool Alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] != 'Z';
}

// On the embedded bus, and on the real Kafka when GALE_KAFKA_BROKERS is set.
class PythonSensorNodeTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kRealKafka && RealBrokers().empty()) {
      GTEST_SKIP() << "SKIPPED: GALE_KAFKA_BROKERS is not set (run scripts/services up)";
    }
  }
};

TEST_P(PythonSensorNodeTest, DispatchesFireRulesAndReachTheDatastore) {
  TempDir packs;
  NodeOptions options;
  options.backend = GetParam();
  options.packs_paths = {PysensPacks(packs)};
  auto node = NodeProcess::Start(options);
  auto store = node->OpenStore();
  ASSERT_NE(store, nullptr);

  // sensor -> rule -> local-shell-cmd action, from the PollingSensor and from the Sensor.
  ASSERT_TRUE(WaitFor([&] { return PyExecutionsOf(*store, "pysens.on_tick").size() >= 3; },
                      std::chrono::seconds(60)))
      << node->Log();
  ASSERT_TRUE(WaitFor([&] { return PyExecutionsOf(*store, "pysens.on_push").size() >= 2; },
                      std::chrono::seconds(30)))
      << node->Log();
  std::set<std::string> outputs;
  for (const auto& e : PyExecutionsOf(*store, "pysens.on_tick")) {
    outputs.insert(e.result.value("stdout", ""));
  }
  EXPECT_EQ(outputs, (std::set<std::string>{"tick 1\n", "tick 2\n", "tick 3\n"}));

  // The Sensor's payload: its attempt to start a program was refused by the host's filter, and
  // add_trigger() got the trigger of the rule using its type.
  auto pushed = PyTriggersOf(*node, "pysens.pushed", 2);
  ASSERT_EQ(pushed.size(), 2u) << node->Log();
  EXPECT_EQ(pushed[0]["payload"]["exec"], "PermissionError") << pushed[0].dump();
  std::set<std::string> triggers;
  for (const auto& t : pushed[0]["payload"]["triggers"]) triggers.insert(t.get<std::string>());
  EXPECT_EQ(triggers, (std::set<std::string>{"pysens.on_push on pysens.pushed",
                                             "other.also on pysens.pushed"}))
      << pushed[0].dump();
  EXPECT_EQ(pushed[0]["sensor"], "pysens.Pusher");
  // The host's confinement: its user, no_new_privs, a seccomp filter (mode 2).
  const Json& status = pushed[0]["payload"]["status"];
  EXPECT_EQ(status.value("NoNewPrivs", ""), "1") << status.dump();
  EXPECT_EQ(status.value("Seccomp", ""), "2") << status.dump();
  // Not a structured binding: clang 14 cannot capture one in the lambdas below.
  const std::pair<pid_t, pid_t> found = PythonChildAndParent(node->topic_prefix());
  const pid_t child = found.first;
  const pid_t host = found.second;
  ASSERT_GT(host, 0);
  EXPECT_EQ(status.value("Uid", ""), UidOf(host)) << "the Python child runs as another user";
  EXPECT_EQ(status.value("MaxData", ""), MaxDataOf(host)) << status.dump();
#if !defined(GALE_SHADOW_MEMORY_BUILD)
  // Under ASan the host sets no data limit (shadow memory counts as data), so neither has one.
  EXPECT_NE(status.value("MaxData", ""), "unlimited") << status.dump();
#endif

  // sensor_service.set_value/get_value, local (scoped to the class) and not local.
  EXPECT_EQ(PyKeyValueOf(*store, "pysens.Ticker:seen"), "yes");
  EXPECT_EQ(PyKeyValueOf(*store, "pysens.echo"), "got:yes");
  // delete_value, list_values, encrypt and decrypt, through the host's relay.
  const Json report =
      Json::parse(PyKeyValueOf(*store, "pysens.report").value_or(""), nullptr, false);
  EXPECT_EQ(report["listed"],
            (Json{"pysens.Ticker:gone", "pysens.Ticker:sealed", "pysens.Ticker:seen"}))
      << report.dump(2);
  EXPECT_EQ(report["deleted"], true) << report.dump(2);
  EXPECT_TRUE(report["after_delete"].is_null()) << report.dump(2);
  EXPECT_EQ(report["sealed"], "s3cret") << report.dump(2);
  EXPECT_EQ(report["sealed_raw_differs"], true) << report.dump(2);
  EXPECT_NE(report.value("user_scope", "").find("not open to sensors"), std::string::npos)
      << report.dump(2);
  auto cli = RunCommand("env -u GALE_MONGODB_URL MONGOC_DISABLE_SHM=1 GALE_HOME=" + node->home() +
                        " " + std::string(GALE_BINARY_DIR) + "/bin/gale key get pysens.echo 2>&1");
  EXPECT_NE(cli.output.find("got:yes"), std::string::npos) << cli.output;

  // The schema violation and the unknown trigger: refused, counted, never on the bus.
  ASSERT_TRUE(WaitFor([&] { return node->Log().find("2 rejected so far") != std::string::npos; },
                      std::chrono::seconds(30)))
      << node->Log();
  const std::string log = node->Log();
  EXPECT_NE(log.find("pysens.Ticker: rejected a pysens.tick trigger: payload violates its "
                     "payload_schema"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("pysens.Ticker: rejected a pysens.nope trigger: unknown trigger type"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("Failed to dispatch trigger \"pysens.nope\""), std::string::npos) << log;
  for (const auto& t : PyTriggersOf(*node, "pysens.tick", 3)) {
    EXPECT_TRUE(t["payload"]["count"].is_number_integer()) << t.dump();
  }

  // The child dies with its host: SIGKILL the host (no chance to stop it), the child goes too.
  ASSERT_GT(child, 0) << "no Python sensor process";
  ASSERT_EQ(kill(host, SIGKILL), 0);
  EXPECT_TRUE(WaitFor([&] { return !Alive(child); }, std::chrono::seconds(10)))
      << "the Python child outlived its killed host";
  // The supervisor restarts the host, with a new child.
  pid_t restarted = 0;
  EXPECT_TRUE(
      WaitFor([&] { return (restarted = PythonChildAndParent(node->topic_prefix()).first) > 0; },
              std::chrono::seconds(30)))
      << node->Log();

  // SIGTERM: the sensors' cleanup() runs and no Python process is left.
  ASSERT_GT(restarted, 0);
  EXPECT_EQ(node->Stop(), 0) << node->Log();
  EXPECT_TRUE(WaitFor([&] { return !Alive(restarted); }, std::chrono::seconds(10)))
      << "a Python sensor process outlived its node";
  EXPECT_NE(node->Log().find("[python-sensors pysens] sensor-wrapper: stopped"), std::string::npos)
      << node->Log();
}

INSTANTIATE_TEST_SUITE_P(Backends, PythonSensorNodeTest,
                         ::testing::Values(Backend::kEmbedded, Backend::kRealKafka),
                         [](const auto& info) { return BackendName(info.param); });

// The whole StackStorm flow in Python: sensor -> rule -> python-script action, on the embedded
// bus and on the real Kafka (when GALE_KAFKA_BROKERS is set).
class PythonSensorFlowTest : public ::testing::TestWithParam<Backend> {};

TEST_P(PythonSensorFlowTest, PythonSensorFiresAPythonAction) {
  if (GetParam() == Backend::kRealKafka && RealBrokers().empty()) {
    GTEST_SKIP() << "SKIPPED: GALE_KAFKA_BROKERS is not set (run scripts/services up)";
  }
  TempDir packs;
  PysensPacks(packs);
  WriteFiles(packs.path() / "pysens",
             {{"actions/greet.yaml",
               "---\nname: greet\npack: pysens\nrunner_type: python-script\n"
               "entry_point: greet.py\nenabled: true\nparameters:\n  count:\n"
               "    type: integer\n    required: true\n"},
              {"actions/greet.py",
               "from st2common.runners.base_action import Action\n\n\n"
               "class Greet(Action):\n    def run(self, count):\n"
               "        return {\"greeted\": count * 10}\n"},
              {"rules/on_tick_py.yaml", PyRule("on_tick_py", "pysens.tick", "pysens.greet",
                                               "    count: \"{{ trigger.count }}\"\n")}});
  NodeOptions options;
  options.backend = GetParam();
  options.packs_paths = {packs.str()};
  auto node = NodeProcess::Start(options);
  auto store = node->OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(WaitFor([&] { return PyExecutionsOf(*store, "pysens.on_tick_py").size() >= 3; },
                      std::chrono::seconds(60)))
      << node->Log();
  std::set<int64_t> greeted;
  for (const auto& e : PyExecutionsOf(*store, "pysens.on_tick_py")) {
    greeted.insert(e.result["result"].value("greeted", int64_t{0}));
  }
  EXPECT_EQ(greeted, (std::set<int64_t>{10, 20, 30}));
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

INSTANTIATE_TEST_SUITE_P(Backends, PythonSensorFlowTest,
                         ::testing::Values(Backend::kEmbedded, Backend::kRealKafka),
                         [](const auto& info) { return BackendName(info.param); });

// Metadata: a Python entry_point must be a file under sensors/; the error names file and line.
// Each such sensor is refused alone; --strict (pack authors' CI) refuses the pack.
TEST(PythonSensorTest, AMissingOrEscapingPythonEntryPointRefusesTheSensor) {
  TempDir packs;
  WriteFiles(packs.path() / "pv",
             {{"pack.yaml", "---\nref: pv\nname: pv\ndescription: x\nversion: 0.1.0\nauthor: t\n"},
              {"sensors/gone.yaml", "---\nclass_name: Gone\nentry_point: gone.py\n"},
              {"sensors/escape.yaml", "---\nclass_name: Escape\nentry_point: ../../x.py\n"}});
  const std::string dir = (packs.path() / "pv").string();
  auto validated = RunCommand("MONGOC_DISABLE_SHM=1 " + std::string(GALE_BINARY_DIR) +
                              "/bin/gale pack validate --strict " + dir + " 2>&1");
  EXPECT_NE(validated.exit_code, 0) << validated.output;
  EXPECT_NE(validated.output.find(dir + "/sensors/gone.yaml:3: entry_point 'gone.py' not found"),
            std::string::npos)
      << validated.output;
  EXPECT_NE(validated.output.find(dir + "/sensors/escape.yaml:3: entry_point '../../x.py': must be "
                                        "a file under the pack's sensors/ folder"),
            std::string::npos)
      << validated.output;
}

constexpr const char* kPythonFastRestarts = R"(sensors:
  restart_backoff_initial: 0.2
  restart_backoff_max: 1
  failure_threshold: 3
  failure_window: 120
  stable_after: 60
)";

// A pack whose one Python sensor ends its process: `how` is the body of a poll().
void WriteCrashingPack(const fs::path& dir, const std::string& name, const std::string& how) {
  WriteFiles(dir / name,
             {{"pack.yaml", "---\nref: " + name + "\nname: " + name +
                                "\ndescription: crashes\nversion: 0.1.0\nauthor: Gale tests\n"},
              {"sensors/crasher.yaml",
               "---\nclass_name: Crasher\nentry_point: crasher.py\npoll_interval: 0.1\n"
               "trigger_types:\n  - name: never\n"},
              {"sensors/crasher.py",
               "import os\nfrom st2reactor.sensor.base import PollingSensor\n\n\n"
               "class Crasher(PollingSensor):\n"
               "    def setup(self):\n        pass\n\n"
               "    def poll(self):\n        " +
                   how +
                   "\n\n"
                   "    def cleanup(self):\n        pass\n\n"
                   "    def add_trigger(self, trigger):\n        pass\n\n"
                   "    def update_trigger(self, trigger):\n        pass\n\n"
                   "    def remove_trigger(self, trigger):\n        pass\n"}});
}

TEST(PythonSensorTest, CrashingPythonSensorsCrashLoopBesideAHealthyLibrarySensor) {
  TempDir packs, watch;
  ShareWithActions(watch.path());  // the sensor hosts run as the action user
  CopyExamplesPack(packs.path() / "examples");
  std::ofstream(packs.path() / "examples/config.yaml") << "directories: [" << watch.str() << "]\n";
  WriteCrashingPack(packs.path(), "pyraise", "raise RuntimeError('sensor bug')");
  WriteCrashingPack(packs.path(), "pyexit", "os._exit(7)");
  NodeOptions options;
  options.packs_paths = {packs.str()};
  options.extra_yaml = kPythonFastRestarts;
  auto node = NodeProcess::Start(options);
  auto store = node->OpenStore();
  ASSERT_NE(store, nullptr);

  auto status = [&](const std::string& ref) {
    auto s = store->GetSensorStatus(ref);
    return s.ok() && s->has_value() ? **s : store::SensorStatus{};
  };
  for (const std::string ref : {"pyraise.Crasher", "pyexit.Crasher"}) {
    ASSERT_TRUE(WaitFor([&] { return status(ref).state == "failed"; }, std::chrono::seconds(90)))
        << ref << "\n"
        << node->Log();
    EXPECT_GE(status(ref).restarts, 3);
    EXPECT_EQ(status(ref).last_error, "exited with code 4");
  }
  const std::string log = node->Log();
  EXPECT_NE(log.find("pyraise.Crasher: poll() raised; ending the sensor process"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("RuntimeError: sensor bug"), std::string::npos) << log;
  EXPECT_NE(log.find("Python sensors: the child exited with code 7"), std::string::npos) << log;

  // The .so sensor of the same node kept its one host and still fires.
  const std::string path = (watch.path() / "after-the-crashes.txt").string();
  std::ofstream(path) << "x";
  bool fired = false;
  ReadTopic(
      node->brokers(), node->topic_prefix() + "triggers",
      [&](const auto& ms) {
        for (const auto& m : ms) {
          Json j = Json::parse(m.value, nullptr, false);
          fired = fired || (j.is_object() && j["payload"]["path"] == path);
        }
        return fired;
      },
      std::chrono::seconds(30));
  EXPECT_TRUE(fired) << node->Log();
  EXPECT_EQ(status("examples.DirectorySensor").state, "running");
  EXPECT_EQ(status("examples.DirectorySensor").restarts, 0);
  EXPECT_EQ(node->Stop(), 0) << node->Log();
  // This test's packs by name: Python sensors of tests running alongside may still be up.
  EXPECT_TRUE(WaitFor([] { return !AnyProcessWith("/pyraise@") && !AnyProcessWith("/pyexit@"); },
                      std::chrono::seconds(10)));
}

}  // namespace
}  // namespace gale::testing

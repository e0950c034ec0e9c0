// Live reload: a rebuilt .so dropped into the packs dir takes over within seconds; a broken
// drop is refused and the running version keeps dispatching; a removed pack stops.
#include <gtest/gtest.h>

#include <fstream>

#include "test/support/node_harness.h"

namespace gale::testing {
namespace {

namespace fs = std::filesystem;

TEST(ReloadTest, NewLibraryTakesOverAndABrokenDropIsRefused) {
  TempDir packs, watch;
  ShareWithActions(watch.path());  // the sensor host runs as the action user
  const fs::path pack = packs.path() / "examples";
  CopyExamplesPack(pack);
  std::ofstream(pack / "config.yaml") << "directories: [" << watch.str() << "]\n";
  NodeOptions options;
  options.packs_paths = {packs.str()};
  auto node = NodeProcess::Start(options);
  const std::string topic = node->topic_prefix() + "triggers";
  auto hosts_ready = [&](size_t n) {
    return WaitFor([&] { return Count(node->Log(), "running 1 sensor(s)") >= n; },
                   std::chrono::seconds(30));
  };
  // The payload of the trigger about `name`, once it is on the bus.
  auto payload_of = [&](const std::string& name) {
    const std::string path = (watch.path() / name).string();
    std::ofstream(path) << name;
    Json found;
    ReadTopic(
        node->brokers(), topic,
        [&](const auto& ms) {
          for (const auto& m : ms) {
            Json j = Json::parse(m.value);
            if (j["payload"]["path"] == path) found = j["payload"];
          }
          return !found.is_null();
        },
        std::chrono::seconds(30));
    return found;
  };

  ASSERT_TRUE(hosts_ready(1)) << node->Log();
  Json first = payload_of("a.txt");
  ASSERT_FALSE(first.is_null()) << node->Log();
  EXPECT_FALSE(first.contains("build"));

  // Drop the rebuilt library the safe way: write beside, rename over.
  const fs::path v2 = fs::path(GALE_TEST_PACKS) / "examples-v2/examples/libexamples.so";
  fs::copy_file(v2, pack / "libexamples.so.new");
  fs::rename(pack / "libexamples.so.new", pack / "libexamples.so");
  ASSERT_TRUE(hosts_ready(2)) << node->Log();
  Json second = payload_of("b.txt");
  ASSERT_FALSE(second.is_null()) << node->Log();
  EXPECT_EQ(second["build"], "v2");

  // A garbage library written in place: refused, and v2 keeps running from its private copy.
  std::ofstream(pack / "libexamples.so", std::ios::trunc) << std::string(4096, 'x');
  ASSERT_TRUE(WaitFor([&] { return node->Log().find("refused") != std::string::npos; },
                      std::chrono::seconds(30)))
      << node->Log();
  EXPECT_NE(node->Log().find("libexamples.so: cannot load pack library: not an ELF shared object "
                             "(invalid ELF header); the running version (if any) keeps running"),
            std::string::npos)
      << node->Log();
  Json third = payload_of("c.txt");
  ASSERT_FALSE(third.is_null()) << node->Log();
  EXPECT_EQ(third["build"], "v2");
  EXPECT_EQ(Count(node->Log(), "running 1 sensor(s)"), 2u) << "a refused drop restarted the host";

  // Removing the pack stops its sensors.
  fs::remove_all(pack);
  EXPECT_TRUE(
      WaitFor([&] { return node->Log().find("pack removed, stopping") != std::string::npos; },
              std::chrono::seconds(30)))
      << node->Log();
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

}  // namespace
}  // namespace gale::testing

namespace gale::testing {
namespace {

// The whole path in one node: a trigger from the examples sensor becomes an execution of the
// example rule's native action, which the runner runs in a sandboxed `gale exec` child (it
// appends to the log file of the pack config), and of core.echo, which prints the rule's
// rendered `message`. Editing the rule file (disabling it) reloads the rules with the pack.
TEST(ReloadTest, TriggersBecomeExecutionsThatRunAndRulesReloadWithTheirPack) {
  TempDir packs, watch, out;
  ShareWithActions(watch.path());  // the sensor host reads it, the action writes its log here
  ShareWithActions(out.path());
  const fs::path pack = packs.path() / "examples";
  CopyExamplesPack(pack);
  fs::copy(fs::path(GALE_BINARY_DIR) / "packs/core", packs.path() / "core",
           fs::copy_options::recursive);
  const fs::path log = out.path() / "context.log";
  std::ofstream(pack / "config.yaml")
      << "directories: [" << watch.str() << "]\nlog: " << log.string() << "\n";
  std::ofstream(pack / "rules/echo_changed_file.yaml")
      << "---\nname: echo_changed_file\ntrigger: {type: examples.changed_file}\n"
         "action:\n  ref: core.echo\n  parameters: {message: \"{{ trigger.path }}\"}\n";
  NodeOptions options;
  options.packs_paths = {packs.str()};
  auto node = NodeProcess::Start(options);
  auto store = node->OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(WaitFor([&] { return Count(node->Log(), "running 1 sensor(s)") >= 1; },
                      std::chrono::seconds(30)));

  // Executions of the example action for the trigger instance about `path`.
  auto executions_for = [&](const std::string& path,
                            const std::string& action = "examples.output_context") {
    std::vector<store::Execution> found;
    store::ExecutionQuery q;
    q.action = action;
    auto page = store->ListExecutions(q);
    if (!page.ok()) return found;
    for (auto& e : page->items) {
      auto ti = store->GetTriggerInstance(e.trigger_instance);
      if (ti.ok() && ti->has_value() && (*ti)->payload["path"] == path) found.push_back(e);
    }
    return found;
  };
  const std::string first = (watch.path() / "first.txt").string();
  std::ofstream(first) << "1";
  ASSERT_TRUE(WaitFor([&] { return !executions_for(first).empty(); }, std::chrono::seconds(30)))
      << node->Log();
  auto execs = executions_for(first);
  ASSERT_EQ(execs.size(), 1u);
  EXPECT_EQ(execs[0].rule, "examples.log_changed_file");
  const std::string context = execs[0].parameters["context"];
  EXPECT_EQ(context.rfind("created " + first + " at ", 0), 0u) << context;
  // The node's runner ran it: succeeded, and the line is in the file.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto e = executions_for(first);
        return !e.empty() && store::IsFinal(e[0].status);
      },
      std::chrono::seconds(30)));
  execs = executions_for(first);
  EXPECT_EQ(execs[0].status, store::ExecStatus::kSucceeded) << execs[0].result.dump();
  EXPECT_EQ(execs[0].node, "test-node");
  std::string logged;
  std::getline(std::ifstream(log), logged);
  EXPECT_EQ(logged, context);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto e = executions_for(first, "core.echo");
        return !e.empty() && store::IsFinal(e[0].status);
      },
      std::chrono::seconds(30)));
  auto echo = executions_for(first, "core.echo");
  EXPECT_EQ(echo[0].status, store::ExecStatus::kSucceeded) << echo[0].result.dump();
  EXPECT_EQ(echo[0].parameters["message"], first);
  EXPECT_EQ(echo[0].parameters["cmd"], "printf '%s\\n' \"$PARAM_MESSAGE\"");
  EXPECT_EQ(echo[0].result["stdout"], first + "\n");
  auto requests = ReadTopic(
      node->brokers(), node->topic_prefix() + "executions",
      [&](const auto& ms) {
        return std::any_of(ms.begin(), ms.end(),
                           [&](const auto& m) { return m.key == execs[0].id; });
      },
      std::chrono::seconds(30));
  EXPECT_EQ(std::count_if(requests.begin(), requests.end(),
                          [&](const auto& m) { return m.key == execs[0].id; }),
            1);

  // Disable the rule in the pack's own file: the pack reloads and the rule stops matching.
  {
    std::ifstream in(pack / "rules/log_changed_file.yaml");
    std::string text((std::istreambuf_iterator<char>(in)), {});
    text.replace(text.find("enabled: true"), 13, "enabled: false");
    std::ofstream(pack / "rules/log_changed_file.yaml.new") << text;
    fs::rename(pack / "rules/log_changed_file.yaml.new", pack / "rules/log_changed_file.yaml");
  }
  // A change of rules alone does not restart the pack's sensor host; the API's rule list shows
  // the reload is through (the catalog is updated after the rules engine's rules).
  ASSERT_TRUE(WaitFor(
      [&] {
        auto listed = RunCommand(
            "env -u GALE_MONGODB_URL MONGOC_DISABLE_SHM=1 GALE_HOME=" + node->home() + " " +
            std::string(GALE_BINARY_DIR) + "/bin/gale rule list --json 2>/dev/null");
        const Json rules = Json::parse(listed.output, nullptr, false);
        if (!rules.is_array()) return false;
        for (const auto& r : rules) {
          if (r.value("ref", "") == "examples.log_changed_file") return !r.value("enabled", true);
        }
        return false;
      },
      std::chrono::seconds(30)))
      << node->Log();
  EXPECT_EQ(Count(node->Log(), "running 1 sensor(s)"), 1u)
      << "a change of rules restarted the host\n"
      << node->Log();
  const std::string second = (watch.path() / "second.txt").string();
  std::ofstream(second) << "2";
  // Wait until the engine has processed the instance, then check it made nothing.
  ASSERT_TRUE(WaitFor(
      [&] {
        store::TriggerInstanceQuery q;
        q.trigger = "examples.changed_file";
        auto page = store->ListTriggerInstances(q);
        if (!page.ok()) return false;
        for (const auto& ti : page->items) {
          if (ti.payload["path"] == second && ti.status == store::TriggerStatus::kProcessed) {
            return true;
          }
        }
        return false;
      },
      std::chrono::seconds(30)))
      << node->Log();
  EXPECT_TRUE(executions_for(second).empty());
  EXPECT_EQ(executions_for(second, "core.echo").size(), 1u);  // the other rule still matches
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

}  // namespace
}  // namespace gale::testing

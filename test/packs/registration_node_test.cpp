// Registration through a real `gale up`: a dotted action name runs from a rule and from
// `gale run`; a pack with a broken action file runs its good action and lists the broken one;
// live reload keeps the previous version of an action whose new file is broken; a node with 50
// packs, some broken, starts (the time is printed; no timing assert).
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <set>

#include "test/support/node_harness.h"

namespace gale::testing {
namespace {

namespace fs = std::filesystem;

const std::string kGale = std::string(GALE_BINARY_DIR) + "/bin/gale";
const std::string kShippedPacks = std::string(GALE_BINARY_DIR) + "/packs";

// A rule firing `action` every second.
std::string EverySecond(const std::string& name, const std::string& action) {
  return "---\nname: " + name +
         "\ntrigger:\n  type: core.st2.IntervalTimer\n  parameters: {unit: seconds, delta: 1}\n"
         "action:\n  ref: " +
         action + "\n";
}

// A local-shell-cmd action whose default command prints `text`.
std::string EchoAction(const std::string& name, const std::string& text) {
  return "---\nname: " + name +
         "\nrunner_type: local-shell-cmd\ndescription: null\nparameters:\n  cmd:\n"
         "    type: string\n    default: \"echo " +
         text + "\"\n";
}

// Finished executions of `action`, newest first.
std::vector<store::Execution> Finished(const NodeProcess& node, const std::string& action) {
  std::vector<store::Execution> out;
  auto store = node.OpenStore();
  if (!store) return out;
  store::ExecutionQuery q;
  q.action = action;
  q.statuses = {store::ExecStatus::kSucceeded, store::ExecStatus::kFailed};
  q.limit = 200;
  auto page = store->ListExecutions(q);
  if (!page.ok()) return out;
  out = page->items;
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.requested_at > b.requested_at; });
  return out;
}

std::string Stdout(const store::Execution& e) {
  return e.result.is_object() ? e.result.value("stdout", "") : "";
}

TEST(RegistrationNodeTest, ADottedActionNameRunsFromARuleAndFromGaleRun) {
  TempDir packs;
  WriteFiles(packs.path() / "chat",
             {{"pack.yaml", "---\nname: chat\nversion: 1.0.0\ndescription: ~\n"},
              {"actions/post_message.yaml", EchoAction("chat.postMessage", "posted")},
              {"rules/every_second.yaml", EverySecond("every_second", "chat.chat.postMessage")}});
  NodeOptions options;
  options.packs_paths = {kShippedPacks, packs.str()};
  auto node = NodeProcess::Start(options);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto done = Finished(*node, "chat.chat.postMessage");
        return !done.empty() && done.front().status == store::ExecStatus::kSucceeded;
      },
      std::chrono::seconds(30)))
      << node->Log();
  auto done = Finished(*node, "chat.chat.postMessage");
  EXPECT_EQ(done.front().rule, "chat.every_second");
  EXPECT_EQ(Stdout(done.front()), "posted\n");

  auto run = RunCommand("GALE_HOME=" + node->home() + " " + kGale +
                        " run chat.chat.postMessage cmd='echo by-hand' --json");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("by-hand"), std::string::npos) << run.output;
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

// The config an action sees: <packs.configs_path>/<ref>.yaml over the pack's config.yaml, with
// config.schema.yaml's defaults filled in (config_context in the action's default).
TEST(RegistrationNodeTest, TheConfigsDirConfigWinsAndSchemaDefaultsAreFilled) {
  TempDir packs, configs;
  WriteFiles(packs.path() / "cfg",
             {{"pack.yaml", "---\nname: cfg\nversion: 1.0.0\n"},
              {"config.schema.yaml",
               "---\ngreeting: {type: string, required: true}\n"
               "region: {type: string, default: eu-west-1}\n"},
              {"config.yaml", "---\ngreeting: from-pack\n"},
              {"actions/show.yaml",
               "---\nname: show\nrunner_type: local-shell-cmd\nparameters:\n  cmd:\n"
               "    type: string\n    default: \"echo {{ config_context.greeting }} "
               "{{ config_context.region }}\"\n"}});
  WriteFiles(configs.path(), {{"cfg.yaml", "---\ngreeting: from-configs-dir\n"}});
  NodeOptions options;
  options.packs_paths = {kShippedPacks, packs.str()};
  // Appended right after packs.paths' items: a further key of the packs: mapping.
  options.extra_yaml = "  configs_path: " + configs.str() + "\n";
  auto node = NodeProcess::Start(options);
  auto run = RunCommand("GALE_HOME=" + node->home() + " " + kGale + " run cfg.show --json");
  ASSERT_EQ(run.exit_code, 0) << run.output << node->Log();
  EXPECT_NE(run.output.find("from-configs-dir eu-west-1"), std::string::npos) << run.output;
  EXPECT_NE(
      node->Log().find("cfg/config.yaml: not read: " + configs.str() + "/cfg.yaml is the config"),
      std::string::npos)
      << node->Log();
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

TEST(RegistrationNodeTest, APackWithABrokenActionFileRunsTheRestAndListsTheBroken) {
  TempDir packs;
  const fs::path part = packs.path() / "part";
  WriteFiles(part, {{"pack.yaml", "---\nname: part\nversion: 1.0.0\n"},
                    {"actions/good.yaml", EchoAction("good", "good")},
                    {"actions/broken.yaml", "---\nname: broken\nrunner_type: [\n"},
                    {"rules/tick.yaml", EverySecond("tick", "part.good")},
                    {"rules/to_missing.yaml", EverySecond("to_missing", "part.broken")},
                    {"rules/to_other_pack.yaml", EverySecond("to_other_pack", "ghost.act")}});
  NodeOptions options;
  options.packs_paths = {kShippedPacks, packs.str()};
  auto node = NodeProcess::Start(options);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto done = Finished(*node, "part.good");
        return !done.empty() && done.front().status == store::ExecStatus::kSucceeded;
      },
      std::chrono::seconds(30)))
      << node->Log();
  EXPECT_EQ(Stdout(Finished(*node, "part.good").front()), "good\n");
  const std::string log = node->Log();
  EXPECT_NE(log.find("pack part: action " + part.string() +
                     "/actions/broken.yaml refused (the pack loads without it): " + part.string() +
                     "/actions/broken.yaml:4: malformed YAML"),
            std::string::npos)
      << log;
  // The rule naming the refused action is refused by the validation (its own pack), the one
  // naming another pack's missing action by the node (across its packs).
  EXPECT_NE(log.find("pack part: rule part.to_missing refused (the pack loads without it): " +
                     part.string() +
                     "/rules/to_missing.yaml:2: rule 'to_missing': unknown "
                     "action 'part.broken'"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("rule part.to_other_pack refused (the pack loads without it): "),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("unknown action 'ghost.act'"), std::string::npos) << log;
  EXPECT_TRUE(Finished(*node, "part.broken").empty());
  // The API lists them with the pack.
  auto api = RunCommand("curl -sf -H 'St2-Api-Key: " + node->api_token() + "' " + node->api_url() +
                        "/v1/packs");
  ASSERT_EQ(api.exit_code, 0) << api.output;
  Json refused;
  for (const auto& p : Json::parse(api.output)) {
    if (p["ref"] == "part") refused = p["refused"];
  }
  ASSERT_EQ(refused.size(), 3u) << api.output;
  std::set<std::string> kinds;
  for (const auto& r : refused)
    kinds.insert(r["kind"].get<std::string>() + " " + r["ref"].get<std::string>());
  EXPECT_EQ(kinds,
            (std::set<std::string>{"action ", "rule part.to_missing", "rule part.to_other_pack"}));
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

TEST(RegistrationNodeTest, LiveReloadKeepsThePreviousVersionOfABrokenAction) {
  TempDir packs;
  const fs::path live = packs.path() / "live";
  WriteFiles(live, {{"pack.yaml", "---\nname: live\nversion: 1.0.0\n"},
                    {"actions/hello.yaml", EchoAction("hello", "v1")},
                    {"actions/other.yaml", EchoAction("other", "other-v1")},
                    {"rules/tick.yaml", EverySecond("tick", "live.hello")}});
  NodeOptions options;
  options.packs_paths = {kShippedPacks, packs.str()};
  auto node = NodeProcess::Start(options);
  auto newest = [&] {
    auto done = Finished(*node, "live.hello");
    return done.empty() ? std::string() : Stdout(done.front());
  };
  ASSERT_TRUE(WaitFor([&] { return newest() == "v1\n"; }, std::chrono::seconds(30))) << node->Log();

  // A broken save of hello.yaml (and a change elsewhere in the pack, which reloads it).
  std::ofstream(live / "actions/hello.yaml", std::ios::trunc)
      << "---\nname: hello\nrunner_type: [\n";
  std::ofstream(live / "actions/other.yaml", std::ios::trunc) << EchoAction("other", "other-v2");
  ASSERT_TRUE(WaitFor(
      [&] {
        return node->Log().find("the previous version of action live.hello keeps running") !=
               std::string::npos;
      },
      std::chrono::seconds(30)))
      << node->Log();
  EXPECT_NE(node->Log().find("pack live: " + live.string() + "/actions/hello.yaml is refused (" +
                             live.string() + "/actions/hello.yaml:4: malformed YAML"),
            std::string::npos)
      << node->Log();
  // Executions requested after the reload still run the previous hello.
  const auto reloaded_at = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count() +
                           1500;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto done = Finished(*node, "live.hello");
        return !done.empty() && done.front().requested_at > reloaded_at;
      },
      std::chrono::seconds(30)))
      << node->Log();
  auto after = Finished(*node, "live.hello").front();
  EXPECT_EQ(after.status, store::ExecStatus::kSucceeded) << after.result.dump();
  EXPECT_EQ(Stdout(after), "v1\n");
  // The rest of the new version is live.
  auto run = RunCommand("GALE_HOME=" + node->home() + " " + kGale + " run live.other --json");
  EXPECT_NE(run.output.find("other-v2"), std::string::npos) << run.output;

  // Fixed: the new version takes over.
  std::ofstream(live / "actions/hello.yaml", std::ios::trunc) << EchoAction("hello", "v2");
  EXPECT_TRUE(WaitFor([&] { return newest() == "v2\n"; }, std::chrono::seconds(30))) << node->Log();
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

// 50 packs, every 5th with a broken action file, every 10th with an unreadable pack.yaml: the
// node starts with the 45 readable ones (a broken action file costs that action only).
TEST(RegistrationNodeTest, FiftyPacksSomeBrokenStart) {
  TempDir packs;
  for (int i = 1; i <= 50; ++i) {
    const std::string name = "p" + std::to_string(i);
    std::map<std::string, std::string> files = {
        {"pack.yaml", "---\nname: " + name + "\nversion: 1.0.0\n"},
        {"actions/hello.yaml", EchoAction("hello", name)},
        {"rules/on_hook.yaml",
         "---\nname: on_hook\ntrigger: {type: core.st2.webhook, "
         "parameters: {url: " +
             name + "}}\naction: {ref: p" + std::to_string(i % 50 + 1) + ".hello}\n"}};
    if (i % 5 == 0) files["actions/broken.yaml"] = "---\nname: broken\nrunner_type: [\n";
    if (i % 10 == 0) files["pack.yaml"] = "---\nname: [\n";
    WriteFiles(packs.path() / name, files);
  }
  fs::copy(kShippedPacks + "/core", packs.path() / "core", fs::copy_options::recursive);
  NodeOptions options;
  options.packs_paths = {packs.str()};
  const auto t0 = std::chrono::steady_clock::now();
  auto node = NodeProcess::Start(options);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "start-up with 50 packs (5 unreadable, 5 with a broken action) + core: API ready in "
            << seconds << " s\n";
  const std::string log = node->Log();
  EXPECT_NE(log.find(", 46 pack(s) active"), std::string::npos) << log;
  EXPECT_EQ(Count(log, "refused (the pack loads without it)"), 5u + 5u) << log;  // 5 actions,
  // and the 5 rules naming an action of an unreadable pack (p9 -> p10, ...)
  EXPECT_EQ(Count(log, "pack.yaml:3: malformed YAML"), 5u) << log;
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

}  // namespace
}  // namespace gale::testing

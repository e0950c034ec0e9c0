#include "engine_fixture.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include "host/packs/catalog.h"

namespace gale::rules::engine::test {

namespace fs = std::filesystem;

namespace {

void WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// cmd is required; count has a default and a type; mode is an enum; sudo is immutable.
constexpr const char* kShellAction = R"(---
name: shell
runner_type: local-shell-cmd
parameters:
  cmd:
    type: string
    required: true
  count:
    type: integer
    default: 3
  mode:
    type: string
    enum: [fast, slow]
    default: fast
  sudo:
    type: boolean
    default: false
    immutable: true
)";

// StackStorm's core.echo shape: a template default over another parameter, and a secret.
constexpr const char* kEchoAction = R"(---
name: echo
runner_type: local-shell-cmd
parameters:
  message:
    type: string
    required: true
  password:
    type: string
    secret: true
  cmd:
    type: string
    immutable: true
    default: 'echo "{{ message }}"'
)";

constexpr const char* kNoopAction = "---\nname: noop\nrunner_type: noop\n";

}  // namespace

std::string RuleYaml(const std::string& name, const std::string& criteria,
                     const std::string& action, const std::string& parameters, bool enabled) {
  std::string y = "---\nname: " + name + "\nenabled: " + (enabled ? "true" : "false") +
                  "\ntrigger:\n  type: core.st2.webhook\n  parameters:\n    url: hook\n";
  if (!criteria.empty()) y += "criteria:\n" + criteria;
  y += "action:\n  ref: " + action + "\n";
  if (!parameters.empty()) y += "  parameters:\n" + parameters;
  return y;
}

std::shared_ptr<const RuleSet> EngineTest::LoadRules(
    const std::map<std::string, std::string>& rules) {
  fs::path pack = dir_ / "packs" / kPack;
  fs::remove_all(pack / "rules");
  WriteFile(pack / "pack.yaml", "---\nref: enginetest\nname: enginetest\nversion: 0.1.0\n");
  WriteFile(pack / "actions" / "shell.yaml", kShellAction);
  WriteFile(pack / "actions" / "noop.yaml", kNoopAction);
  WriteFile(pack / "actions" / "echo.yaml", kEchoAction);
  for (const auto& [file, text] : rules) WriteFile(pack / "rules" / file, text);
  packs::Catalog catalog = packs::Catalog::Load({PacksDir()});
  const packs::Pack* p = catalog.FindPack(kPack);
  EXPECT_NE(p, nullptr);
  if (p != nullptr) {
    EXPECT_TRUE(p->ok()) << ::testing::PrintToString(p->errors);
  }
  return RuleSet::FromCatalog(catalog);
}

RulesEngineOptions EngineTest::EngineOptions() {
  RulesEngineOptions o;
  o.bus = config_;
  o.store = store_.get();
  o.node_name = "test-node";
  o.batch_size = 200;
  o.cipher = Cipher();
  return o;
}

RulesEngineOptions EngineTest::RetryingOptions(store::Store* store) {
  RulesEngineOptions o = EngineOptions();
  o.store = store;
  o.retry_min = std::chrono::milliseconds(20);
  o.retry_max = std::chrono::milliseconds(100);
  return o;
}

std::unique_ptr<RulesEngine> EngineTest::StartEngine(std::shared_ptr<const RuleSet> rules) {
  auto engine = RulesEngine::Create(EngineOptions(), std::move(rules));
  EXPECT_TRUE(engine.ok()) << engine.message();
  if (!engine.ok()) return nullptr;
  Status started = (*engine)->Start();
  EXPECT_TRUE(started.ok()) << started.message();
  return std::move(engine).value();
}

Json EngineTest::Trigger(const std::string& id, const Json& body, const std::string& dedupe_key,
                         int64_t occurred_at) {
  Json t = {{"id", id},
            {"trigger", kWebhook},
            {"payload", {{"body", body}}},
            {"occurred_at", occurred_at},
            {"sensor", "api"},
            {"node", "test-node"},
            {"trace_id", "trace-" + id},
            {"trigger_parameters", {{"url", "hook"}}}};
  if (!dedupe_key.empty()) t["dedupe_key"] = dedupe_key;
  return t;
}

void EngineTest::Send(const std::vector<Json>& triggers) {
  const std::string topic = bus::Topic(config_, bus::kTriggers);
  for (const auto& t : triggers) {
    Status s = producer_->Produce(topic, t["id"].get<std::string>(), t.dump());
    ASSERT_TRUE(s.ok()) << s.message();
  }
  Status flushed = producer_->Flush(std::chrono::seconds(60));
  ASSERT_TRUE(flushed.ok()) << flushed.message();
}

void EngineTest::SendRaw(const std::string& key, const std::string& value) {
  auto m = producer_->ProduceSync(bus::Topic(config_, bus::kTriggers), key, value,
                                  std::chrono::seconds(30));
  ASSERT_TRUE(m.ok()) << m.message();
}

std::vector<store::Execution> EngineTest::AllExecutions() {
  std::vector<store::Execution> out;
  store::ExecutionQuery q;
  q.limit = store::kMaxPageSize;
  for (;;) {
    auto page = store_->ListExecutions(q);
    EXPECT_TRUE(page.ok()) << page.message();
    if (!page.ok()) break;
    for (auto& e : page->items) out.push_back(std::move(e));
    if (page->next_cursor.empty()) break;
    q.cursor = page->next_cursor;
  }
  return out;
}

std::vector<store::TriggerInstance> EngineTest::AllTriggerInstances() {
  std::vector<store::TriggerInstance> out;
  store::TriggerInstanceQuery q;
  q.limit = store::kMaxPageSize;
  for (;;) {
    auto page = store_->ListTriggerInstances(q);
    EXPECT_TRUE(page.ok()) << page.message();
    if (!page.ok()) break;
    for (auto& t : page->items) out.push_back(std::move(t));
    if (page->next_cursor.empty()) break;
    q.cursor = page->next_cursor;
  }
  return out;
}

std::vector<bus::Message> EngineTest::Requests(size_t expect, std::chrono::milliseconds settle,
                                               std::chrono::milliseconds timeout) {
  std::vector<bus::Message> out;
  auto tailer = bus::Tailer::Create(config_, bus::Topic(config_, bus::kExecutions), true);
  EXPECT_TRUE(tailer.ok()) << tailer.message();
  if (!tailer.ok()) return out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::optional<std::chrono::steady_clock::time_point> settle_until;
  if (expect == 0) settle_until = std::chrono::steady_clock::now() + settle;
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (settle_until && now >= *settle_until) break;
    if (now >= deadline) break;
    auto m = (*tailer)->Next(std::chrono::milliseconds(100));
    EXPECT_TRUE(m.ok()) << m.message();
    if (!m.ok()) break;
    if (m->has_value()) {
      out.push_back(std::move(**m));
      if (!settle_until && out.size() >= expect) {
        settle_until = std::chrono::steady_clock::now() + settle;
      }
    }
  }
  return out;
}

bool EngineTest::WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

bool EngineTest::WaitProcessed(const RulesEngine& engine, uint64_t n,
                               std::chrono::milliseconds timeout) {
  return WaitFor(
      [&] {
        auto s = engine.stats();
        return s.triggers_processed + s.duplicates + s.malformed >= n;
      },
      timeout);
}

}  // namespace gale::rules::engine::test

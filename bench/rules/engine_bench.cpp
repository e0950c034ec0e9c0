// The rules engine as a pipeline stage: trigger instances already on the bus -> dedupe, record,
// match, render, execution record, execution request produced and flushed, offsets committed.
// One rule matches every instance (core.st2.webhook -> a noop action), so each trigger costs
// one trigger instance record, one execution record and one request. Printed beside the
// floor measured in the same run: the same messages only consumed from the same bus (no store).
//
//   gale_rules_engine_bench [--triggers N] [--sync full|normal] [--store URL] [--brokers HOST:PORT]
//   (defaults: 20000, full (a node's default), a temporary SQLite file, the embedded bus)
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "bench/machine.h"
#include "host/bus/bus.h"
#include "host/common/uuid.h"
#include "host/packs/catalog.h"
#include "host/rules/engine/rule_set.h"
#include "host/rules/engine/rules_engine.h"
#include "host/store/open.h"

namespace {

using namespace gale;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

void Fail(const std::string& what) {
  std::fprintf(stderr, "gale_rules_engine_bench: %s\n", what.c_str());
  std::exit(1);
}

std::string Arg(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == name) return argv[i + 1];
  }
  return fallback;
}

void WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Consumes `n` messages of `topic` as a fresh group member would; returns the seconds taken
// from the first message to the last.
double ConsumeOnly(const bus::BusConfig& config, const std::string& topic, int n) {
  bus::Consumer::Options o;
  o.group_id = config.topic_prefix + "floor-" + UuidV4();
  o.topics = {topic};
  o.from_beginning = true;
  auto consumer = bus::Consumer::Create(config, o);
  if (!consumer.ok()) Fail(consumer.message());
  std::optional<Clock::time_point> first;
  int seen = 0;
  const auto deadline = Clock::now() + std::chrono::minutes(5);
  while (seen < n && Clock::now() < deadline) {
    auto m = (*consumer)->Poll(std::chrono::milliseconds(100));
    if (!m.ok() || !m->has_value()) continue;
    if (!first) first = Clock::now();
    ++seen;
  }
  if (seen < n) Fail("floor: only " + std::to_string(seen) + " messages consumed");
  return Seconds(Clock::now() - *first);
}

}  // namespace

int main(int argc, char** argv) {
  const int triggers = std::stoi(Arg(argc, argv, "--triggers", "20000"));
  const bool sync_full = Arg(argc, argv, "--sync", "full") == "full";
  std::string store_url = Arg(argc, argv, "--store", "");
  const std::string brokers = Arg(argc, argv, "--brokers", "");
  spdlog::set_level(spdlog::level::warn);
  std::printf("machine: %s\n", bench::Machine().c_str());

  const fs::path dir = fs::temp_directory_path() / ("gale-engine-bench-" + UuidV4());
  fs::create_directories(dir);
  const fs::path pack = dir / "packs" / "enginebench";
  WriteFile(pack / "pack.yaml", "---\nref: enginebench\nname: enginebench\nversion: 0.1.0\n");
  WriteFile(pack / "actions" / "noop.yaml", "---\nname: noop\nrunner_type: noop\n");
  WriteFile(pack / "rules" / "all.yaml",
            "---\nname: all\ntrigger:\n  type: core.st2.webhook\n  parameters:\n    url: hook\n"
            "criteria:\n  trigger.body.kind: {type: equals, pattern: build}\n"
            "action:\n  ref: enginebench.noop\n");
  auto rules =
      rules::engine::RuleSet::FromCatalog(packs::Catalog::Load({(dir / "packs").string()}));

  std::unique_ptr<bus::EmbeddedBroker> broker;
  bus::BusConfig config;
  if (brokers.empty()) {
    auto started = bus::EmbeddedBroker::Start();
    if (!started.ok()) Fail(started.message());
    broker = std::move(started).value();
    config.brokers = broker->bootstrap();
    config.embedded = true;
  } else {
    config.brokers = brokers;
  }
  config.topic_prefix = "bench" + UuidV4().substr(0, 8) + ".";
  config.partitions = 6;
  if (Status s = bus::EnsureTopics(config, broker.get(), 1); !s.ok()) Fail(s.message());

  if (store_url.empty()) store_url = "sqlite://" + (dir / "gale.db").string();
  store::StoreOptions sopts;
  sopts.sqlite_sync_full = sync_full;
  auto st = store::OpenStore(store_url, sopts);
  if (!st.ok()) Fail(st.message());
  std::printf(
      "bus: %s, store: %s%s\n", config.embedded ? "embedded" : config.brokers.c_str(),
      (*st)->backend() == "sqlite" ? "sqlite" : store::RedactUrl(store_url).c_str(),
      (*st)->backend() == "sqlite" ? (sync_full ? " (synchronous=FULL)" : " (NORMAL)") : "");

  // Every trigger is on the bus before the engine starts: the engine's rate, not the producer's.
  auto producer = bus::Producer::Create(config);
  if (!producer.ok()) Fail(producer.message());
  const std::string topic = bus::Topic(config, bus::kTriggers);
  const std::string run = UuidV4().substr(0, 8);
  for (int i = 0; i < triggers; ++i) {
    const std::string id = "ti-" + run + "-" + std::to_string(i);
    Json t = {{"id", id},
              {"trigger", "core.st2.webhook"},
              {"payload", {{"body", {{"kind", "build"}, {"n", i}}}}},
              {"occurred_at", store::NowMs()},
              {"sensor", "bench"},
              {"node", "bench"},
              {"trace_id", id},
              {"trigger_parameters", {{"url", "hook"}}}};
    if (!(*producer)->Produce(topic, id, t.dump()).ok()) Fail("produce");
  }
  if (!(*producer)->Flush(std::chrono::seconds(60)).ok()) Fail("flush");
  const double floor_s = ConsumeOnly(config, topic, triggers);

  rules::engine::RulesEngineOptions options;
  options.bus = config;
  options.store = st->get();
  options.node_name = "bench";
  auto engine = rules::engine::RulesEngine::Create(options, rules);
  if (!engine.ok()) Fail(engine.message());
  const auto start = Clock::now();
  if (Status s = (*engine)->Start(); !s.ok()) Fail(s.message());
  std::optional<Clock::time_point> first;
  for (;;) {
    auto s = (*engine)->stats();
    if (!first && s.requests_produced > 0) first = Clock::now();
    if (s.requests_produced >= static_cast<uint64_t>(triggers)) break;
    if (Clock::now() - start > std::chrono::minutes(10)) Fail("the engine did not finish");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const double engine_s = Seconds(Clock::now() - *first);
  (*engine)->Stop();
  auto s = (*engine)->stats();

  std::printf("\n%d trigger instances, 1 matching rule each, batch_size %zu\n", triggers,
              options.batch_size);
  std::printf("%-44s %12s %10s\n", "stage", "per second", "us each");
  std::printf("%-44s %12.0f %10.1f\n", "consume only (floor, same bus)", triggers / floor_s,
              1e6 * floor_s / triggers);
  std::printf("%-44s %12.0f %10.1f\n", "rules engine (record, match, request, commit)",
              triggers / engine_s, 1e6 * engine_s / triggers);
  std::printf("(executions created %llu, batches committed %llu, retries %llu)\n",
              static_cast<unsigned long long>(s.executions_created),
              static_cast<unsigned long long>(s.batches_committed),
              static_cast<unsigned long long>(s.batch_retries));
  st->reset();
  fs::remove_all(dir);
  return 0;
}

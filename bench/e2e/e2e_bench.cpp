// Gale end to end, against the physical limits measured in the same run:
//   latency     sensor dispatch -> action process started, at fixed offered rates, next to the
//               raw produce -> consume round trip on the same kind of broker (the floor);
//   throughput  core.local executions of `true` per second on one node, flooded, next to bare
//               fork+exec of /bin/true at the runner's concurrency;
//   scale       the same flood with 1, 2 and 3 nodes sharing the bus and the store;
//   memory      an idle node with the example packs, one sensor host, the runner at 60 running
//               executions.
// Each section prints a Markdown table headed by the machine and the bus used. Real `gale up`
// processes, a SQLite store (the subject is the pipeline, not the database), the embedded bus or
// the brokers given with --brokers.
//
//   gale_e2e_bench [--brokers HOST:PORT] [--seconds 30] [--rates 100,1000] [--flood 3000]
//                  [--sections latency,throughput,scale,memory]
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/e2e/bench_node.h"
#include "bench/machine.h"
#include "bench/timing.h"
#include "host/bus/bus.h"
#include "host/common/json.h"
#include "host/common/uuid.h"
#include "host/store/open.h"
#include "host/store/store.h"

extern char** environ;

namespace gale::bench {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

struct Options {
  std::string brokers;  // "" = the embedded bus
  int seconds = 30;
  int flood = 3000;
  std::vector<int> rates = {100, 1000};
  std::vector<std::string> sections = {"latency", "throughput", "scale", "memory"};
  std::string gale = std::string(GALE_BINARY_DIR) + "/bin/gale";
  std::string core_packs = std::string(GALE_BINARY_DIR) + "/packs";
  std::string bench_pack = GALE_BENCH_PACK_DIR;
};

[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "gale_e2e_bench: %s\n", message.c_str());
  std::exit(1);
}

std::string BusName(const Options& o) {
  return o.brokers.empty() ? "embedded bus (librdkafka mock cluster inside the node)"
                           : "Kafka at " + o.brokers;
}

void Header(const Options& o, const std::string& title) {
  std::printf("\n### %s\n\nmachine: %s; bus: %s; store: SQLite\n\n", title.c_str(),
              Machine().c_str(), BusName(o).c_str());
}

// ---- a deployment: nodes sharing a bus and a store, running one measured rule --------------

struct Deployment {
  std::string dir;
  std::vector<std::unique_ptr<BenchNode>> nodes;
  store::StorePtr store;

  ~Deployment() {
    nodes.clear();
    store.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

// Waits until the Pacer's probes have run on every node's runner (so every consumer group has
// its members), lets the probes' backlog drain, then tells the Pacer to start.
void Go(Deployment& d) {
  const auto deadline = std::chrono::steady_clock::now() + seconds(120);
  while (true) {
    store::ExecutionQuery q;
    q.rule = "bench.probe";
    q.statuses = {store::ExecStatus::kSucceeded};
    q.limit = 1000;
    auto page = d.store->ListExecutions(q);
    std::set<std::string> ran;
    if (page.ok()) {
      for (const auto& x : page->items) ran.insert(x.node);
    }
    if (ran.size() >= d.nodes.size()) break;
    if (std::chrono::steady_clock::now() > deadline) {
      Fail("the pipeline did not warm up in 120 s (probes ran on " + std::to_string(ran.size()) +
           " of " + std::to_string(d.nodes.size()) + " nodes); node log:\n" + d.nodes[0]->Log());
    }
    std::this_thread::sleep_for(milliseconds(200));
  }
  std::this_thread::sleep_for(seconds(2));
  store::KeyValue go;
  go.name = "bench.Pacer:go";
  go.value = "1";
  if (Status s = d.store->SetKey(go, store::NowMs()); !s.ok()) Fail(s.message());
}

// `config`: the bench pack's config (the Pacer's count and rate). `rule_action`: the
// measured rule's action block. Node 1 runs every role (and holds the embedded bus); the others
// run rules and runner.
std::unique_ptr<Deployment> Deploy(const Options& o, int nodes, const Json& config,
                                   const std::string& rule_action,
                                   const std::string& extra_yaml = "") {
  auto d = std::make_unique<Deployment>();
  auto dir = MakeTempDir();
  if (!dir.ok()) Fail(dir.message());
  d->dir = *dir;
  const fs::path pack = fs::path(d->dir) / "packs" / "bench";
  fs::create_directories(pack.parent_path());
  fs::copy(o.bench_pack, pack, fs::copy_options::recursive);
  std::ofstream(pack / "config.yaml") << config.dump() << "\n";  // JSON is YAML
  fs::create_directories(pack / "rules");
  std::ofstream(pack / "rules" / "measured.yaml")
      << "---\nname: measured\ntrigger:\n  type: bench.tick\naction:\n"
      << rule_action;
  std::ofstream(pack / "rules" / "probe.yaml")
      << "---\nname: probe\ntrigger:\n  type: bench.probe\naction:\n  ref: core.noop\n";

  NodeSpec spec;
  spec.gale_binary = o.gale;
  spec.packs_paths = {o.core_packs, (fs::path(d->dir) / "packs").string()};
  spec.brokers = o.brokers;
  spec.topic_prefix = "gale-bench-" + UuidV4().substr(0, 8) + ".";
  spec.store_url = "sqlite://" + d->dir + "/gale.db";
  spec.bus_key_file = d->dir + "/bus.key";  // node 1 creates it, the others read it
  spec.extra_yaml = extra_yaml;
  for (int i = 1; i <= nodes; ++i) {
    spec.name = "bench-" + std::to_string(i);
    if (i > 1) {
      spec.roles = "[rules, runner]";
      spec.brokers = d->nodes[0]->brokers();
    }
    auto node = BenchNode::Start(spec);
    if (!node.ok()) Fail(node.message());
    d->nodes.push_back(std::move(node).value());
  }
  auto store = store::OpenStore(spec.store_url);
  if (!store.ok()) Fail(store.message());
  d->store = std::move(store).value();
  Go(*d);
  return d;
}

store::ExecutionQuery Finished() {
  store::ExecutionQuery q;
  q.rule = "bench.measured";
  q.statuses = {store::ExecStatus::kSucceeded, store::ExecStatus::kFailed,
                store::ExecStatus::kTimeout, store::ExecStatus::kAbandoned,
                store::ExecStatus::kCanceled};
  return q;
}

// Waits until `expected` executions of the measured rule are final; fails after 60 s without
// progress.
void WaitFinished(Deployment& d, int64_t expected) {
  int64_t last = -1;
  auto last_change = std::chrono::steady_clock::now();
  while (true) {
    auto n = d.store->CountExecutions(Finished());
    if (n.ok() && *n >= expected) return;
    if (n.ok() && *n != last) {
      last = *n;
      last_change = std::chrono::steady_clock::now();
    }
    if (std::chrono::steady_clock::now() - last_change > seconds(60)) {
      Fail("only " + std::to_string(last) + " of " + std::to_string(expected) +
           " executions finished; node log:\n" + d.nodes[0]->Log());
    }
    std::this_thread::sleep_for(milliseconds(500));
  }
}

std::vector<store::Execution> AllExecutions(Deployment& d) {
  std::vector<store::Execution> all;
  store::ExecutionQuery q = Finished();
  q.limit = 1000;
  while (true) {
    auto page = d.store->ListExecutions(q);
    if (!page.ok()) Fail(page.message());
    for (auto& x : page->items) all.push_back(std::move(x));
    if (page->next_cursor.empty()) break;
    q.cursor = page->next_cursor;
  }
  return all;
}

struct Stats {
  size_t n = 0;
  double p50 = 0, p99 = 0, max = 0;
};

Stats Summarize(const std::vector<double>& v) {
  Stats s;
  s.n = v.size();
  if (v.empty()) return s;
  s.p50 = Percentile(v, 0.5);
  s.p99 = Percentile(v, 0.99);
  s.max = *std::max_element(v.begin(), v.end());
  return s;
}

// ---- the floor: raw produce -> consume round trip ------------------------------------------

// One producer (linger.ms=0) and one consumer in this process, `rate` messages per second for
// `secs` seconds, each carrying its send time: the broker's own round trip, nothing of Gale's.
// On the embedded bus the broker is a mock cluster started here (the same code the node runs).
Stats RoundTrip(const Options& o, int rate, int secs) {
  std::unique_ptr<bus::EmbeddedBroker> embedded;
  bus::BusConfig config;
  config.topic_prefix = "gale-bench-floor-" + UuidV4().substr(0, 8) + ".";
  config.properties["producer.linger.ms"] = "0";
  std::string topic;
  if (o.brokers.empty()) {
    auto b = bus::EmbeddedBroker::Start();
    if (!b.ok()) Fail(b.message());
    embedded = std::move(b).value();
    config.brokers = embedded->bootstrap();
    config.embedded = true;
    topic = config.topic_prefix + "floor";
    if (Status s = embedded->CreateTopic(topic, 1); !s.ok()) Fail(s.message());
  } else {
    config.brokers = o.brokers;
    config.partitions = 1;
    if (Status s = bus::EnsureTopics(config, nullptr, 1); !s.ok()) Fail(s.message());
    topic = bus::Topic(config, bus::kTriggers);
  }
  auto producer = bus::Producer::Create(config);
  if (!producer.ok()) Fail(producer.message());
  bus::Consumer::Options co;
  co.group_id = config.topic_prefix + "floor";
  co.topics = {topic};
  auto consumer = bus::Consumer::Create(config, co);
  if (!consumer.ok()) Fail(consumer.message());

  // Warm up until a message makes the whole trip (the group has joined and fetches).
  bool warm = false;
  for (int i = 0; i < 300 && !warm; ++i) {
    (void)(*producer)->Produce(topic, "", "warm");
    auto m = (*consumer)->Poll(milliseconds(100));
    warm = m.ok() && m->has_value();
  }
  if (!warm) Fail("round trip: no message came back from " + config.brokers);
  while (true) {  // drain the other warm-up messages
    auto m = (*consumer)->Poll(milliseconds(300));
    if (!m.ok() || !m->has_value()) break;
  }

  const int64_t total = static_cast<int64_t>(rate) * secs;
  std::vector<double> ms;
  ms.reserve(total);
  std::thread reader([&] {
    const auto give_up = std::chrono::steady_clock::now() + seconds(secs + 30);
    while (static_cast<int64_t>(ms.size()) < total && std::chrono::steady_clock::now() < give_up) {
      auto m = (*consumer)->Poll(milliseconds(100));
      if (!m.ok() || !m->has_value() || (*m)->value == "warm") continue;
      const auto sent =
          std::chrono::steady_clock::time_point(std::chrono::nanoseconds(std::stoll((*m)->value)));
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent)
              .count());
    }
  });
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < total; ++i) {
    std::this_thread::sleep_until(start + std::chrono::nanoseconds(i * 1000000000LL / rate));
    const auto now = std::chrono::steady_clock::now().time_since_epoch();
    (void)(*producer)->Produce(
        topic, "",
        std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()));
  }
  reader.join();
  return Summarize(ms);
}

std::string Fixed(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// ---- sections --------------------------------------------------------------------------------

void Latency(const Options& o) {
  Header(o, "End-to-end latency: sensor dispatch -> action process started");
  std::printf(
      "Open loop: the Pacer sensor sends each trigger at its scheduled time; the bench.stamp "
      "action (a compiled program) prints the clock first thing. %d s per rate, every trigger "
      "counted; measuring starts once probes have run through the whole pipeline (start-up is "
      "not measured). Floor: one producer (linger.ms=0) -> one consumer, same "
      "rate, %d s.\n\n",
      o.seconds, std::min(o.seconds, 10));
  std::printf(
      "| offered rate | executions | Gale p50 ms | p99 ms | max ms | floor p50 ms | floor p99 ms "
      "| Gale p50 / floor p50 |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::vector<std::string> breakdown;
  for (int rate : o.rates) {
    const int64_t count = static_cast<int64_t>(rate) * o.seconds;
    std::vector<double> ms, to_requested, to_claimed, to_process;
    size_t failed = 0;
    // GALE_BENCH_DUMP=DIR: every execution's times (CSV) for a closer look.
    const char* dump_dir = std::getenv("GALE_BENCH_DUMP");
    std::ofstream dump;
    if (dump_dir != nullptr) {
      dump.open(fs::path(dump_dir) / ("latency-" + std::to_string(rate) + ".csv"));
      dump << "sent_ns,requested_ms,claimed_ms,process_ns\n";
    }
    {
      auto d =
          Deploy(o, 1, {{"count", count}, {"rate", rate}},
                 "  ref: bench.stamp\n  parameters:\n    sent_ns: \"{{ trigger.sent_ns }}\"\n");
      WaitFinished(*d, count);
      for (const auto& x : AllExecutions(*d)) {
        if (x.status != store::ExecStatus::kSucceeded || !x.result.is_object() ||
            !x.result.contains("stdout") || !x.parameters.contains("sent_ns")) {
          ++failed;
          continue;
        }
        const long long started = std::stoll(x.result["stdout"].get<std::string>());
        const long long sent = std::stoll(x.parameters["sent_ns"].get<std::string>());
        ms.push_back(static_cast<double>(started - sent) / 1e6);
        if (dump.is_open()) {
          dump << sent << "," << x.requested_at << "," << x.started_at << "," << started << "\n";
        }
        // Where the time goes: the execution's record (ms) splits the path in three.
        to_requested.push_back(static_cast<double>(x.requested_at) - sent / 1e6);
        to_claimed.push_back(static_cast<double>(x.started_at - x.requested_at));
        to_process.push_back(started / 1e6 - static_cast<double>(x.started_at));
      }
    }
    const Stats gale = Summarize(ms);
    const Stats floor = RoundTrip(o, rate, std::min(o.seconds, 10));
    std::printf("| %d/s | %zu%s | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f |\n", rate, gale.n,
                failed ? (" (+" + std::to_string(failed) + " not succeeded)").c_str() : "",
                gale.p50, gale.p99, gale.max, floor.p50, floor.p99,
                floor.p50 > 0 ? gale.p50 / floor.p50 : 0.0);
    if (ms.empty()) Fail("no execution at " + std::to_string(rate) + "/s succeeded");
    breakdown.push_back(std::to_string(rate) + "/s: " + Fixed(Percentile(to_requested, 0.5)) +
                        " / " + Fixed(Percentile(to_claimed, 0.5)) + " / " +
                        Fixed(Percentile(to_process, 0.5)) + " ms");
    std::fflush(stdout);
  }
  std::printf(
      "\nWhere the time goes, p50 of each part (ms resolution): dispatch -> execution requested "
      "(sensor host, bus, rules engine) / requested -> claimed and running (bus, runner) / "
      "running -> action's first instruction (sandbox spawn):\n");
  for (const auto& line : breakdown) std::printf("- %s\n", line.c_str());
}

// Executions per second of a flood of `count` core.local `true` on `nodes` nodes: the Pacer
// sends every trigger at once; the rate is taken over the middle 80% of finish times (start-up
// and the tail excluded). Also returns how many did not succeed.
std::pair<double, size_t> Flood(const Options& o, int nodes, int count) {
  auto d = Deploy(o, nodes, {{"count", count}, {"rate", 0}},
                  "  ref: core.local\n  parameters:\n    cmd: \"true\"\n");
  WaitFinished(*d, count);
  std::vector<int64_t> finished;
  size_t failed = 0;
  for (const auto& x : AllExecutions(*d)) {
    finished.push_back(x.finished_at);
    if (x.status != store::ExecStatus::kSucceeded) ++failed;
  }
  std::sort(finished.begin(), finished.end());
  const size_t lo = finished.size() / 10, hi = finished.size() * 9 / 10;
  const double span_s = static_cast<double>(finished[hi] - finished[lo]) / 1000.0;
  return {span_s > 0 ? static_cast<double>(hi - lo) / span_s : 0.0, failed};
}

// Bare process creation of `argv` (+ waitpid) by `threads` threads, `count` in all: processes per
// second. posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK), no page tables copied) is the floor;
// fork+execve is what the issue names, and costs more the bigger and busier the forking process.
double SpawnRate(const std::vector<const char*>& argv, int threads, int count, bool use_fork) {
  std::atomic<int> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      char* const* args = const_cast<char* const*>(argv.data());
      while (next.fetch_add(1) < count) {
        pid_t pid = -1;
        if (use_fork) {
          pid = fork();
          if (pid == 0) {
            execv(argv[0], args);
            _exit(127);
          }
        } else if (posix_spawn(&pid, argv[0], nullptr, nullptr, args, environ) != 0) {
          continue;
        }
        waitpid(pid, nullptr, 0);
      }
    });
  }
  for (auto& t : pool) t.join();
  return count / std::chrono::duration<double>(Clock::now() - start).count();
}

void Throughput(const Options& o) {
  Header(o, "Throughput: core.local `true` on one node");
  std::printf(
      "%d triggers sent at once; rule -> core.local cmd `true` (`/bin/sh -c true` in the sandbox, "
      "default seccomp profile); the rate over the middle 80%% of finish times. Floor: bare "
      "process creation + waitpid by 60 threads (the runner's max_concurrency), same count, "
      "measured by this benchmark's own process.\n\n",
      o.flood);
  // The floors first, while this process is small and idle.
  const double spawn_true = SpawnRate({"/bin/true", nullptr}, 60, o.flood, false);
  const double fork_true = SpawnRate({"/bin/true", nullptr}, 60, o.flood, true);
  const double spawn_sh = SpawnRate({"/bin/sh", "-c", "true", nullptr}, 60, o.flood, false);
  const auto [gale, failed] = Flood(o, 1, o.flood);
  std::printf("| measure | executions/s | Gale / this |\n|---|---:|---:|\n");
  std::printf("| Gale, core.local `true`%s | %.0f | |\n",
              failed ? (" (" + std::to_string(failed) + " not succeeded)").c_str() : "", gale);
  std::printf("| floor: posix_spawn `/bin/true`, 60 threads | %.0f | %.2f |\n", spawn_true,
              gale / spawn_true);
  std::printf("| fork+exec `/bin/true`, 60 threads | %.0f | %.2f |\n", fork_true, gale / fork_true);
  std::printf(
      "| posix_spawn `/bin/sh -c true` (what core.local runs), 60 threads | %.0f | %.2f |\n",
      spawn_sh, gale / spawn_sh);
  std::fflush(stdout);
}

void Scale(const Options& o) {
  Header(o, "Scale: the same flood on 1, 2 and 3 nodes");
  std::printf(
      "All nodes on this one machine share its cores, the bus and one SQLite file: more nodes "
      "here show the coordination overhead, not a speed-up. Node 1 runs the sensor; every node "
      "runs rules and runner.\n\n| nodes | executions/s | vs 1 node |\n|---:|---:|---:|\n");
  double one = 0;
  for (int n = 1; n <= 3; ++n) {
    const auto [rate, failed] = Flood(o, n, o.flood);
    if (n == 1) one = rate;
    std::printf("| %d | %.0f%s | %.2f |\n", n, rate,
                failed ? (" (" + std::to_string(failed) + " not succeeded)").c_str() : "",
                one > 0 ? rate / one : 0.0);
    std::fflush(stdout);
  }
}

struct TreeMemory {
  Memory node;
  Memory sensor_hosts, supervisors, actions;
  int n_sensor_hosts = 0, n_supervisors = 0, n_actions = 0;
};

// The node, and its descendants by kind: sensor hosts (`gale sensor-host`), the runner's sandbox
// supervisors (`gale-keeper`) and everything else (the actions).
TreeMemory MeasureTree(pid_t node) {
  TreeMemory t;
  t.node = MemoryOf(node);
  for (pid_t p : Descendants(node)) {
    const auto words = CommandLine(p);
    if (words.empty()) continue;
    const Memory m = MemoryOf(p);
    const auto program = fs::path(words[0]).filename();
    Memory* into = &t.actions;
    int* count = &t.n_actions;
    if (program == "gale" && words.size() > 1 && words[1] == "sensor-host") {
      into = &t.sensor_hosts;
      count = &t.n_sensor_hosts;
    } else if (program == "gale-keeper") {
      into = &t.supervisors;
      count = &t.n_supervisors;
    }
    into->rss_kib += m.rss_kib;
    into->pss_kib += m.pss_kib;
    ++*count;
  }
  return t;
}

double MiB(long kib) {
  return static_cast<double>(kib) / 1024.0;
}

void MemoryRow(const char* what, int n, const Memory& m) {
  std::printf("| %s | %d | %.1f | %.1f |\n", what, n, MiB(m.rss_kib), MiB(m.pss_kib));
}

void MemorySection(const Options& o) {
  Header(o, "Memory");
  std::printf(
      "RSS counts shared pages (libraries, program images) in every "
      "process; PSS divides them among the processes sharing them, so PSS sums.\n\n"
      "| process | count | RSS MiB | PSS MiB |\n|---|---:|---:|---:|\n");
  {
    // An idle node: every role, the shipped packs (core and examples), 10 s after start.
    NodeSpec spec;
    spec.gale_binary = o.gale;
    spec.packs_paths = {o.core_packs};
    spec.brokers = o.brokers;
    spec.topic_prefix = "gale-bench-" + UuidV4().substr(0, 8) + ".";
    auto dir = MakeTempDir();
    if (!dir.ok()) Fail(dir.message());
    const std::string store_dir = *dir;
    spec.store_url = "sqlite://" + store_dir + "/gale.db";
    auto node = BenchNode::Start(spec);
    if (!node.ok()) Fail(node.message());
    std::this_thread::sleep_for(seconds(10));
    const TreeMemory t = MeasureTree((*node)->pid());
    MemoryRow("idle node (`gale up`, every role, example packs)", 1, t.node);
    MemoryRow("its sensor hosts (one per pack with sensors)", t.n_sensor_hosts, t.sensor_hosts);
    node->reset();
    std::error_code ec;
    fs::remove_all(store_dir, ec);
  }
  {
    // The runner with 60 executions running (core.local `sleep 20`, 60 slots).
    auto d = Deploy(o, 1, {{"count", 60}, {"rate", 0}},
                    "  ref: core.local\n  parameters:\n    cmd: \"sleep 20\"\n");
    store::ExecutionQuery running;
    running.rule = "bench.measured";
    running.statuses = {store::ExecStatus::kRunning};
    const auto deadline = std::chrono::steady_clock::now() + seconds(60);
    while (true) {
      auto n = d->store->CountExecutions(running);
      if (n.ok() && *n >= 60) break;
      if (std::chrono::steady_clock::now() > deadline) Fail("60 executions never ran at once");
      std::this_thread::sleep_for(milliseconds(200));
    }
    std::this_thread::sleep_for(seconds(2));
    const TreeMemory t = MeasureTree(d->nodes[0]->pid());
    MemoryRow("node with 60 running executions (every role)", 1, t.node);
    MemoryRow("its sandbox supervisors (one per execution)", t.n_supervisors, t.supervisors);
    MemoryRow("the actions themselves (`sh -c 'sleep 20'` and its `sleep`)", t.n_actions,
              t.actions);
    Memory runner = t.node;
    runner.pss_kib += t.supervisors.pss_kib;
    std::printf("| runner total: node + supervisors, PSS | | | %.1f |\n", MiB(runner.pss_kib));
    WaitFinished(*d, 60);
  }
  std::fflush(stdout);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Fail(a + " needs a value (see --help)");
      return argv[++i];
    };
    if (a == "--brokers") {
      o.brokers = next();
    } else if (a == "--seconds") {
      o.seconds = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--flood") {
      o.flood = std::max(100, std::atoi(next().c_str()));
    } else if (a == "--rates") {
      o.rates.clear();
      std::stringstream ss(next());
      for (std::string r; std::getline(ss, r, ',');) {
        const int v = std::atoi(r.c_str());
        if (v <= 0) Fail("--rates: '" + r + "' is not a positive rate");
        o.rates.push_back(v);
      }
    } else if (a == "--sections") {
      o.sections.clear();
      std::stringstream ss(next());
      for (std::string s; std::getline(ss, s, ',');) o.sections.push_back(s);
    } else if (a == "-h" || a == "--help") {
      std::printf(
          "gale_e2e_bench [--brokers HOST:PORT] [--seconds 30] [--rates 100,1000] [--flood 3000]\n"
          "               [--sections latency,throughput,scale,memory]\n"
          "Runs real `gale up` nodes and prints Markdown tables (see docs/BENCHMARKS.md).\n"
          "Without --brokers the nodes use the embedded bus.\n");
      std::exit(0);
    } else {
      Fail("unknown argument '" + a + "' (see --help)");
    }
  }
  for (const auto& s : o.sections) {
    if (s != "latency" && s != "throughput" && s != "scale" && s != "memory") {
      Fail("unknown section '" + s + "' (latency, throughput, scale, memory)");
    }
  }
  return o;
}

}  // namespace
}  // namespace gale::bench

int main(int argc, char** argv) {
  using namespace gale::bench;
  spdlog::set_level(spdlog::level::warn);
  const Options o = Parse(argc, argv);
  auto has = [&](const char* s) {
    return std::find(o.sections.begin(), o.sections.end(), s) != o.sections.end();
  };
  if (has("latency")) Latency(o);
  if (has("throughput")) Throughput(o);
  if (has("scale")) Scale(o);
  if (has("memory")) MemorySection(o);
  return 0;
}

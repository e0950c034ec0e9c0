// Memory: an idle node (target 5) and the runner with 60 running executions.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "bench/e2e/sections.h"
#include "bench/e2e/targets.h"
#include "host/common/uuid.h"

namespace gale::bench {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr double kIdleLimitMiB = 30e6 / (1024.0 * 1024.0);  // 30 MB

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

void MemoryRow(const char* what, int n, const Memory& m) {
  std::printf("| %s | %d | %.1f | %.1f |\n", what, n, MiB(m.rss_kib), MiB(m.pss_kib));
}

}  // namespace

void MemorySection(const Options& o) {
  Header(o, "Memory");
  std::printf(
      "RSS counts shared pages (libraries, program images) in every "
      "process; PSS divides them among the processes sharing them, so PSS sums.\n\n"
      "| process | count | RSS MiB | PSS MiB |\n|---|---:|---:|---:|\n");
  Memory idle;
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
    idle = t.node;
    MemoryRow("idle node (`gale up`, every role, example packs)", 1, t.node);
    MemoryRow("its sensor hosts (one per pack with sensors)", t.n_sensor_hosts, t.sensor_hosts);
    node->reset();
    std::error_code ec;
    fs::remove_all(store_dir, ec);
  }
  {
    // The runner with 60 executions running (core.local `sleep 20`, 60 slots).
    DeploySpec spec;
    spec.config = {{"count", 60}, {"rate", 0}};
    spec.rule_action = "  ref: core.local\n  parameters:\n    cmd: \"sleep 20\"\n";
    auto d = Deployment::Start(o, spec);
    d->Go();
    WaitExecutions(*d, 60, {store::ExecStatus::kRunning});
    std::this_thread::sleep_for(seconds(2));
    const TreeMemory t = MeasureTree(d->node(0).pid());
    MemoryRow("node with 60 running executions (every role)", 1, t.node);
    MemoryRow("its sandbox supervisors (one per execution)", t.n_supervisors, t.supervisors);
    MemoryRow("the actions themselves (`sh -c 'sleep 20'` and its `sleep`)", t.n_actions,
              t.actions);
    Memory runner = t.node;
    runner.pss_kib += t.supervisors.pss_kib;
    std::printf("| runner total: node + supervisors, PSS | | | %.1f |\n", MiB(runner.pss_kib));
    WaitExecutions(*d, 60);
  }
  const double ratio = MiB(idle.rss_kib) / kIdleLimitMiB;
  // The idle node's store is always a SQLite file (an idle node's memory is the subject).
  PrintTarget("5", "idle node RSS", o.brokers.empty() ? "embedded bus, SQLite" : "Kafka, SQLite",
              ratio < 1,
              Format("%.1f MiB = %.2fx the limit of 30 MB (%.1f MiB); needs < 1x",
                     MiB(idle.rss_kib), ratio, kIdleLimitMiB));
}

}  // namespace gale::bench

// Throughput of one node (target 1) and of 1, 2 and 3 nodes sharing one bus and store.
#include <cstdio>
#include <string>

#include "bench/e2e/floors.h"
#include "bench/e2e/sections.h"
#include "bench/e2e/targets.h"
#include "host/config/config.h"

namespace gale::bench {

double MiB(long kib) {
  return static_cast<double>(kib) / 1024.0;
}

FloodResult Flood(const Options& o, int nodes, int count) {
  DeploySpec spec;
  spec.config = {{"count", count}, {"rate", 0}};
  spec.rule_action = CoreLocalTrue();
  spec.nodes = nodes;
  auto d = Deployment::Start(o, spec);
  d->Go();
  WaitExecutions(*d, count);
  FloodResult r;
  r.peak_kib = PeakRssKib(d->node(0).pid());
  r.record = ReadRun(*d, count);
  r.rate = MiddleRate(r.record.finished_ms);
  return r;
}

void Throughput(const Options& o, Carry& carry) {
  // The runner's default concurrency (60, StackStorm's action pool size); should it become
  // "automatic" (<= 0), 60 stays the comparison.
  const int threads = config::Config{}.max_concurrency > 0 ? config::Config{}.max_concurrency : 60;
  Header(o, "Throughput: core.local `true` on one node");
  std::printf(
      "%d triggers sent at once; rule -> core.local cmd `true` (`/bin/sh -c true` in the sandbox, "
      "default seccomp profile); the rate over the middle 80%% of finish times; the store checked "
      "for one succeeded execution per trigger. Floor: bare process creation + waitpid by %d "
      "threads (the runner's max_concurrency), same count, measured by this benchmark's own "
      "process.\n\n",
      o.flood, threads);
  // The floors first, while this process is small and idle.
  const double spawn_true = SpawnRate({"/bin/true", nullptr}, threads, o.flood, false);
  const double fork_true = SpawnRate({"/bin/true", nullptr}, threads, o.flood, true);
  const double spawn_sh = SpawnRate({"/bin/sh", "-c", "true", nullptr}, threads, o.flood, false);
  const FloodResult gale = Flood(o, 1, o.flood);
  carry.capacity = gale.rate;
  carry.capacity_peak_kib = gale.peak_kib;
  std::printf("| measure | executions/s | Gale / this |\n|---|---:|---:|\n");
  std::printf("| Gale, core.local `true`%s | %.0f | |\n", Faults(gale.record).c_str(), gale.rate);
  std::printf("| posix_spawn `/bin/true`, %d threads | %.0f | %.2f |\n", threads, spawn_true,
              gale.rate / spawn_true);
  std::printf("| fork+exec `/bin/true`, %d threads | %.0f | %.2f |\n", threads, fork_true,
              gale.rate / fork_true);
  std::printf(
      "| floor: posix_spawn `/bin/sh -c true` (what core.local runs), %d threads | %.0f | %.2f "
      "|\n",
      threads, spawn_sh, gale.rate / spawn_sh);
  std::printf("\nNode peak RSS during the flood: %.1f MiB.\n", MiB(gale.peak_kib));
  const double ratio = gale.rate / spawn_sh;
  PrintTarget("1", "throughput", Setup(o), ratio >= 0.4 && gale.record.ExactlyOnce(),
              Format("%.0f/s = %.2fx bare posix_spawn of `/bin/sh -c true` at %d threads "
                     "(%.0f/s); needs >= 0.40x (1000/s %s)%s",
                     gale.rate, ratio, threads, spawn_sh,
                     gale.rate >= 1000 ? "reached" : "not reached", Faults(gale.record).c_str()));
}

void Scale(const Options& o) {
  Header(o, "Scale: the same flood on 1, 2 and 3 nodes");
  std::printf(
      "All nodes on this one machine share its cores, the bus and one store: more nodes "
      "here show the coordination overhead, not a speed-up. Node 1 runs the sensor; every node "
      "runs rules and runner.\n\n| nodes | executions/s | vs 1 node |\n|---:|---:|---:|\n");
  double one = 0;
  for (int n = 1; n <= 3; ++n) {
    const FloodResult r = Flood(o, n, o.flood);
    if (n == 1) one = r.rate;
    std::printf("| %d | %.0f%s | %.2f |\n", n, r.rate, Faults(r.record).c_str(),
                one > 0 ? r.rate / one : 0.0);
    std::fflush(stdout);
  }
}

}  // namespace gale::bench

// No collapse (target 3): twice the measured capacity offered, and a large backlog of requested
// executions drained against a small one (StackStorm #6026), with every trigger checked to run
// once and the nodes' peak RSS.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "bench/e2e/sections.h"
#include "bench/e2e/targets.h"

namespace gale::bench {
namespace {

// A 100x larger backlog (or a 30 s overload) may not double a node's peak RSS: memory that
// grows with the backlog is what "bounded" rules out; some growth (caches, the bus client's
// buffers) is not.
constexpr double kMemoryBound = 2.0;

struct Drain {
  int count = 0;
  double build_rate = 0;  // requested executions/s while the runner was away
  double drain_rate = 0;  // executions/s over the middle 80% of finish times
  double drain_s = 0;     // runner node started -> last execution finished
  RunRecord record;
  long runner_peak_kib = 0, first_peak_kib = 0;
};

// `count` triggers become requested executions with no runner anywhere (node 1 runs sensors,
// rules and API), then a runner node starts and drains them.
Drain BacklogDrain(const Options& o, int count) {
  DeploySpec spec;
  spec.config = {{"count", count}, {"rate", 0}};
  spec.rule_action = CoreLocalTrue();
  spec.first_roles = "[sensors, rules, api]";
  auto d = Deployment::Start(o, spec);
  Drain r;
  r.count = count;
  const auto t0 = std::chrono::steady_clock::now();
  d->Go();
  WaitExecutions(*d, count, {store::ExecStatus::kRequested});
  const auto t1 = std::chrono::steady_clock::now();
  r.build_rate = count / std::chrono::duration<double>(t1 - t0).count();
  const int64_t runner_start_ms = store::NowMs();
  BenchNode& runner = d->AddNode("[runner]");
  WaitExecutions(*d, count);
  r.runner_peak_kib = PeakRssKib(runner.pid());
  r.first_peak_kib = PeakRssKib(d->node(0).pid());
  r.record = ReadRun(*d, count);
  r.drain_rate = MiddleRate(r.record.finished_ms);
  if (!r.record.finished_ms.empty()) {
    r.drain_s = static_cast<double>(r.record.finished_ms.back() - runner_start_ms) / 1000.0;
  }
  return r;
}

void Overload(const Options& o, Carry& carry) {
  if (carry.capacity <= 0) {
    const FloodResult capacity = Flood(o, 1, o.flood);
    carry.capacity = capacity.rate;
    carry.capacity_peak_kib = capacity.peak_kib;
    std::printf(
        "Capacity (not measured by a throughput section in this run): a flood of %d "
        "core.local `true`, %.0f/s, node peak RSS %.1f MiB.\n\n",
        o.flood, carry.capacity, MiB(carry.capacity_peak_kib));
  }
  const int offered = std::max(1, static_cast<int>(std::lround(2 * carry.capacity)));
  const int count = offered * o.overload_seconds;
  DeploySpec spec;
  spec.config = {{"count", count}, {"rate", offered}};
  spec.rule_action = CoreLocalTrue();
  auto d = Deployment::Start(o, spec);
  d->Go();
  WaitExecutions(*d, count);
  const long peak = PeakRssKib(d->node(0).pid());
  const RunRecord rec = ReadRun(*d, count);
  // The overload lasts from the first trigger sent to the last; its first tenth (the pipeline
  // filling) is left out of the rate.
  const double window_ms = static_cast<double>(rec.last_sent_ms - rec.first_sent_ms);
  const double from = rec.first_sent_ms + 0.1 * window_ms;
  size_t done = 0;
  for (int64_t f : rec.finished_ms) done += (f >= from && f <= rec.last_sent_ms) ? 1 : 0;
  const double during = window_ms > 0 ? done / (0.9 * window_ms / 1000.0) : 0;
  const double achieved = window_ms > 0 ? count / (window_ms / 1000.0) : 0;
  const double all_done_s =
      rec.finished_ms.empty()
          ? 0
          : static_cast<double>(rec.finished_ms.back() - rec.first_sent_ms) / 1000.0;
  // Also the rate over the middle 80% of finish times, as capacity is measured: the pipeline is
  // saturated from shortly after the first trigger until the backlog has drained.
  const double saturated = MiddleRate(rec.finished_ms);
  std::printf(
      "| offered | sent at | triggers -> executions | each exactly once | executions/s during "
      "the overload | / capacity | middle 80%% rate | all done after | node peak RSS |\n"
      "|---:|---:|---:|---|---:|---:|---:|---:|---:|\n"
      "| %d/s for %d s (2x %.0f/s) | %.0f/s | %d -> %zu | %s | %.0f | %.2f | %.0f | %.1f s | "
      "%.1f MiB |\n",
      offered, o.overload_seconds, carry.capacity, achieved, count, rec.finished_ms.size(),
      rec.ExactlyOnce() ? "yes" : ("no" + Faults(rec)).c_str(), during, during / carry.capacity,
      saturated, all_done_s, MiB(peak));
  const double ratio = during / carry.capacity;
  const std::string short_offer =
      achieved < 1.5 * carry.capacity
          ? Format(" (the sensor sent only %.2fx capacity)", achieved / carry.capacity)
          : std::string();
  PrintTarget("3", Format("overload at 2x capacity for %d s", o.overload_seconds), Setup(o),
              ratio >= 0.9 && rec.ExactlyOnce(),
              Format("%.0f/s during the overload = %.2fx capacity %.0f/s; needs >= 0.90x; "
                     "every trigger ran exactly once: %s%s; node peak RSS %.1f MiB",
                     during, ratio, carry.capacity, rec.ExactlyOnce() ? "yes" : "no",
                     (Faults(rec) + short_offer).c_str(), MiB(peak)));
  if (carry.capacity_peak_kib > 0) {
    const double m = static_cast<double>(peak) / carry.capacity_peak_kib;
    PrintTarget("3", "memory bounded under overload", Setup(o), m <= kMemoryBound,
                Format("node peak RSS %.1f MiB = %.2fx its %.1f MiB in the capacity flood; "
                       "needs <= %.1fx",
                       MiB(peak), m, MiB(carry.capacity_peak_kib), kMemoryBound));
  }
}

void Backlog(const Options& o) {
  std::printf(
      "\nBacklog (StackStorm #6026): node 1 runs sensors, rules and API but no runner; the "
      "Pacer floods N triggers and the rules engine requests N executions; once all N are "
      "`requested` in the store, a node with the runner role alone starts and drains them. Drain "
      "rate over the middle 80%% of finish times.\n\n"
      "| backlog | requested at | drain executions/s | runner start -> last done | each exactly "
      "once | runner node peak RSS | node 1 peak RSS |\n|---:|---:|---:|---:|---|---:|---:|\n");
  Drain runs[2];
  const int counts[2] = {o.backlog_small, o.backlog};
  for (int i = 0; i < 2; ++i) {
    runs[i] = BacklogDrain(o, counts[i]);
    const Drain& r = runs[i];
    std::printf("| %d | %.0f/s | %.0f | %.1f s | %s | %.1f MiB | %.1f MiB |\n", r.count,
                r.build_rate, r.drain_rate, r.drain_s,
                r.record.ExactlyOnce() ? "yes" : ("no" + Faults(r.record)).c_str(),
                MiB(r.runner_peak_kib), MiB(r.first_peak_kib));
    std::fflush(stdout);
  }
  const Drain& small = runs[0];
  const Drain& big = runs[1];
  const double ratio = small.drain_rate > 0 ? big.drain_rate / small.drain_rate : 0;
  const bool once = small.record.ExactlyOnce() && big.record.ExactlyOnce();
  PrintTarget("3", Format("backlog of %d drains", big.count), Setup(o), ratio >= 0.9 && once,
              Format("%.0f/s = %.2fx the %.0f/s of a %d backlog; needs >= 0.90x; every "
                     "trigger ran exactly once: %s; runner node peak RSS %.1f MiB (%.1f MiB with "
                     "%d), node 1 %.1f MiB (%.1f MiB)",
                     big.drain_rate, ratio, small.drain_rate, small.count, once ? "yes" : "no",
                     MiB(big.runner_peak_kib), MiB(small.runner_peak_kib), small.count,
                     MiB(big.first_peak_kib), MiB(small.first_peak_kib)));
  const double m = small.runner_peak_kib > 0
                       ? static_cast<double>(big.runner_peak_kib) / small.runner_peak_kib
                       : 0;
  PrintTarget(
      "3", Format("memory bounded with a backlog of %d", big.count), Setup(o),
      m > 0 && m <= kMemoryBound,
      Format("runner node peak RSS %.1f MiB = %.2fx its %.1f MiB with a backlog of %d; "
             "needs <= %.1fx",
             MiB(big.runner_peak_kib), m, MiB(small.runner_peak_kib), small.count, kMemoryBound));
}

}  // namespace

void Collapse(const Options& o, Carry& carry) {
  Header(o, "No collapse: overload and backlog");
  std::printf(
      "Overload: the Pacer offers twice the capacity measured by the throughput flood (the same "
      "rule, core.local `true`) for %d s, open loop; executions/s over the overload (first "
      "trigger sent -> last, its first tenth left out) against that capacity, and beside it the "
      "rate over the middle 80%% of finish times (the way capacity is measured); the store "
      "checked for one succeeded execution per trigger.\n\n",
      o.overload_seconds);
  Overload(o, carry);
  Backlog(o);
}

}  // namespace gale::bench

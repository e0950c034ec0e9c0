// End-to-end latency at fixed offered rates against the pipeline floor (target 2).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench/e2e/floors.h"
#include "bench/e2e/sections.h"
#include "bench/e2e/targets.h"
#include "bench/timing.h"

namespace gale::bench {
namespace {

namespace fs = std::filesystem;

constexpr int kSpawnSamples = 200;

std::string Fixed(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

}  // namespace

void Latency(const Options& o) {
  Header(o, "End-to-end latency: sensor dispatch -> action process started");
  std::printf(
      "Open loop: the Pacer sensor sends each trigger at its scheduled time; the bench.stamp "
      "action (a compiled program) prints the clock first thing. %d s per rate, every trigger "
      "counted; measuring starts once probes have run through the whole pipeline (start-up is "
      "not measured). Pipeline floor = two bus hops + one sandboxed spawn, measured after each "
      "rate: a hop is one producer (linger.ms=0) -> one consumer on the same kind of bus at the "
      "same rate for %d s; a spawn is Process::Spawn of the stamp program with a node's default "
      "sandbox, call -> first instruction, %d in a row. Floor p50 = 2 x hop p50 + spawn p50, "
      "floor p99 = 2 x hop p99 + spawn p99.\n\n",
      o.seconds, std::min(o.seconds, 10), kSpawnSamples);
  std::printf(
      "| offered rate | executions | Gale p50 ms | p99 ms | max ms | hop p50 / p99 ms | spawn p50 "
      "/ p99 ms | floor p50 / p99 ms | Gale / floor p50 | Gale / floor p99 |\n"
      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::vector<std::string> breakdown;
  struct Line {
    int rate;
    Stats gale;
    PipelineFloor floor;
    size_t failed;
  };
  std::vector<Line> lines;
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
      DeploySpec spec;
      spec.config = {{"count", count}, {"rate", rate}};
      spec.rule_action =
          "  ref: bench.stamp\n  parameters:\n    sent_ns: \"{{ trigger.sent_ns }}\"\n";
      auto d = Deployment::Start(o, spec);
      d->Go();
      WaitExecutions(*d, count);
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
    if (ms.empty()) Fail("no execution at " + std::to_string(rate) + "/s succeeded");
    Line line{rate, Summarize(ms), {}, failed};
    line.floor.hop = BusHop(o, rate, std::min(o.seconds, 10));
    line.floor.spawn = SandboxSpawn(o, kSpawnSamples);
    const PipelineFloor& f = line.floor;
    std::printf(
        "| %d/s | %zu%s | %.2f | %.2f | %.2f | %.2f / %.2f | %.2f / %.2f | %.2f / %.2f | %.1f | "
        "%.1f |\n",
        rate, line.gale.n,
        failed ? (" (+" + std::to_string(failed) + " not succeeded)").c_str() : "", line.gale.p50,
        line.gale.p99, line.gale.max, f.hop.p50, f.hop.p99, f.spawn.p50, f.spawn.p99, f.p50(),
        f.p99(), line.gale.p50 / f.p50(), line.gale.p99 / f.p99());
    std::fflush(stdout);
    lines.push_back(line);
    breakdown.push_back(std::to_string(rate) + "/s: " + Fixed(Percentile(to_requested, 0.5)) +
                        " / " + Fixed(Percentile(to_claimed, 0.5)) + " / " +
                        Fixed(Percentile(to_process, 0.5)) + " ms");
  }
  std::printf(
      "\nWhere the time goes, p50 of each part (ms resolution): dispatch -> execution requested "
      "(sensor host, bus, rules engine) / requested -> claimed and running (bus, runner) / "
      "running -> action's first instruction (sandbox spawn):\n");
  for (const auto& b : breakdown) std::printf("- %s\n", b.c_str());

  // At 100/s and below: p50 <= 1.5x and p99 <= 3x the floor's; above: the p99 bound (no queue).
  for (const Line& l : lines) {
    const std::string failed =
        l.failed ? Format(" (%zu executions not succeeded)", l.failed) : std::string();
    if (l.rate <= 100) {
      const double r = l.gale.p50 / l.floor.p50();
      PrintTarget(
          "2", Format("latency p50 at %d/s", l.rate), Setup(o), r <= 1.5 && !l.failed,
          Format("%.2f ms = %.2fx the pipeline floor's p50 %.2f ms (2 x hop %.2f + "
                 "spawn %.2f); needs <= 1.5x%s",
                 l.gale.p50, r, l.floor.p50(), l.floor.hop.p50, l.floor.spawn.p50, failed.c_str()));
    }
    const double r = l.gale.p99 / l.floor.p99();
    PrintTarget(
        "2", Format("latency p99 at %d/s", l.rate), Setup(o), r <= 3 && !l.failed,
        Format("%.2f ms = %.2fx the pipeline floor's p99 %.2f ms (2 x hop %.2f + spawn "
               "%.2f); needs <= 3x%s",
               l.gale.p99, r, l.floor.p99(), l.floor.hop.p99, l.floor.spawn.p99, failed.c_str()));
  }
}

}  // namespace gale::bench

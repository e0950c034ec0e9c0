// The physical limits Gale's figures are divided by, measured by this process in the same run:
// one bus hop (produce -> consume), bare process creation, and one sandboxed spawn.
#pragma once

#include <cstddef>
#include <vector>

#include "bench/e2e/options.h"

namespace gale::bench {

struct Stats {
  size_t n = 0;
  double p50 = 0, p99 = 0, max = 0;
};
Stats Summarize(const std::vector<double>& v);

// One bus hop: one producer (linger.ms=0) -> one consumer in this process, `rate` messages per
// second for `secs` seconds, each carrying its send time; ms. On the embedded bus the broker is
// a mock cluster started here (the same code the node runs), with the node's consumer settings.
Stats BusHop(const Options& o, int rate, int secs);

// Bare process creation of `argv` (+ waitpid) by `threads` threads, `count` in all: processes
// per second. posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK), no page tables copied) is the
// floor; fork+execve costs more the bigger and busier the forking process.
double SpawnRate(const std::vector<const char*>& argv, int threads, int count, bool use_fork);

// One sandboxed spawn as a node's runner sets it up (sandbox::Settings defaults, the drop to
// gale-action when root): Process::Spawn of the bench's stamp program, `count` times one after
// another, from the call to the program's first instruction (its printed CLOCK_REALTIME); ms.
Stats SandboxSpawn(const Options& o, int count);

// The pipeline floor at one offered rate: two bus hops and one sandboxed spawn. Percentiles add
// up part by part (the p99 of a sum is at most the sum of the p99s, so this is the generous
// side).
struct PipelineFloor {
  Stats hop, spawn;
  double p50() const { return 2 * hop.p50 + spawn.p50; }
  double p99() const { return 2 * hop.p99 + spawn.p99; }
};

}  // namespace gale::bench

// The sections of gale_e2e_bench. Each prints a Markdown table headed by the machine, the bus
// and the store, and the lines of the issue 20 targets it measures (targets.h).
#pragma once

#include "bench/e2e/deployment.h"
#include "bench/e2e/options.h"

namespace gale::bench {

// A flood of `count` core.local `true` triggers sent at once on `nodes` nodes.
struct FloodResult {
  double rate = 0;    // executions/s over the middle 80% of finish times
  RunRecord record;   // what the store says about every trigger
  long peak_kib = 0;  // node 1's peak RSS
};
FloodResult Flood(const Options& o, int nodes, int count);

// Target 1: executions/s against bare process creation at the runner's concurrency. Sets
// carry.capacity.
void Throughput(const Options& o, Carry& carry);
// The same flood on 1, 2 and 3 nodes (no target: what coordination costs).
void Scale(const Options& o);
// Target 2: latency at each offered rate against the pipeline floor (floors.h).
void Latency(const Options& o);
// Target 3: twice the capacity offered, and a large backlog drained against a small one.
void Collapse(const Options& o, Carry& carry);
// Target 5: an idle node's RSS; and the runner's memory with 60 running executions.
void MemorySection(const Options& o);

double MiB(long kib);

}  // namespace gale::bench

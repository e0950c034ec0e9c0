// A deployment under measurement: real `gale up` nodes sharing one bus and one store, running
// the bench pack's Pacer and one measured rule (bench.measured, on bench.tick), and the store
// queries every section reads its figures from.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/e2e/bench_node.h"
#include "bench/e2e/options.h"
#include "host/common/json.h"
#include "host/store/store.h"

namespace gale::bench {

// Prints "gale_e2e_bench: <message>" and exits 1.
[[noreturn]] void Fail(const std::string& message);

struct DeploySpec {
  Json config;              // the bench pack's config: the Pacer's count and rate
  std::string rule_action;  // the measured rule's `action:` block (indented YAML)
  int nodes = 1;            // node 1 runs `first_roles`; the others rules and runner
  std::string first_roles;  // "" = every role
  std::string extra_yaml;   // appended to every node's gale.yaml
};

class Deployment {
 public:
  // Starts the nodes and waits until the pipeline is warm (see Go), without sending a tick.
  static std::unique_ptr<Deployment> Start(const Options& o, const DeploySpec& spec);
  ~Deployment();  // stops the nodes, removes the files, drops a MongoDB database

  // Tells the Pacer to send its ticks (the `go` key).
  void Go();
  // Starts one more node on the same bus and store (e.g. "[runner]").
  BenchNode& AddNode(const std::string& roles);

  store::Store& store() { return *store_; }
  BenchNode& node(size_t i) { return *nodes_.at(i); }
  size_t size() const { return nodes_.size(); }

 private:
  Deployment() = default;
  void WarmUp(int runner_nodes);

  NodeSpec spec_;  // of node 1; AddNode derives the others from it
  std::string dir_;
  std::string mongo_url_;  // the database to drop, when the store is MongoDB
  std::vector<std::unique_ptr<BenchNode>> nodes_;
  store::StorePtr store_;
};

// Waits until `expected` executions of the measured rule have one of `statuses` (default: any
// final status); fails after 60 s without progress, with node 1's log.
void WaitExecutions(Deployment& d, int64_t expected, std::vector<store::ExecStatus> statuses = {});
// Every execution of the measured rule with a final status.
std::vector<store::Execution> AllExecutions(Deployment& d);

// The `action:` block of a measured rule running core.local `true`, its command carrying the
// trigger's seq and send time (`true` ignores them) so the store tells which trigger each
// execution ran for and when that trigger was sent.
std::string CoreLocalTrue();

// What the store says about a run of CoreLocalTrue() executions.
struct RunRecord {
  std::vector<int64_t> finished_ms;  // sorted
  int64_t first_sent_ms = 0, last_sent_ms = 0;
  size_t failed = 0;      // not succeeded
  size_t missing = 0;     // seqs in [0, count) without an execution
  size_t duplicated = 0;  // executions beyond the first for one seq
  bool ExactlyOnce() const { return failed == 0 && missing == 0 && duplicated == 0; }
};
RunRecord ReadRun(Deployment& d, int64_t count);
// "" when every trigger ran exactly once and succeeded, else " (N not succeeded, ...)".
std::string Faults(const RunRecord& r);

// Executions per second over the middle 80% of `finished_ms` (sorted): start-up and the tail
// left out.
double MiddleRate(const std::vector<int64_t>& finished_ms);

}  // namespace gale::bench

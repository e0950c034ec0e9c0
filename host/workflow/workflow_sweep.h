// The sweep for lost final events (issue 21). A runner that dies between recording a task's
// final status in the store and publishing its final event (kill -9 in that window) leaves the
// task final with no event to say so. When that task was the only one its workflow had in
// flight, no other event ever comes to move the workflow on: it would stay running for good.
//
// Every node's workflow service runs a round every few seconds: the next page of executions
// that are running, canceling, pausing or resuming; of those, the workflows (orquesta and
// action-chain, known from the action index without a store read) whose state document was not
// written for a while; of their tasks in flight (the state's `running` map for orquesta,
// `current` for a chain), those final for a while are handled exactly as their events would be
// (OrquestaTaskFinished, TaskFinished). Both are idempotent (derived ids, compare-and-set), so
// a sweep that meets the event itself, late, changes nothing twice.
//
// Cost: one ListExecutions page per round; one state read per workflow on the page; a task
// read only for the tasks of workflows whose state was quiet (a moving workflow costs nothing
// more). The page goes on from where the previous round stopped, so every workflow is looked
// at within (workflows running / page) rounds.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "host/common/result.h"
#include "host/store/store.h"
#include "host/workflow/chain_engine.h"

namespace gale::workflow {

struct SweepOptions {
  // A workflow whose state was written less than this long ago is moving, and a task that ended
  // less than this long ago may still have its event on the way: both are left alone.
  store::TimeMs quiet_ms = 5000;
  size_t page = 100;  // executions looked at per round
};

struct SweepRound {
  size_t workflows = 0;  // workflows whose tasks were read
  size_t tasks = 0;      // final tasks handled as their events would have been
};

class WorkflowSweep {
 public:
  explicit WorkflowSweep(SweepOptions options = {}) : options_(options) {}

  // One round. `handled` is told of each task handled (for the caller's counters and log).
  Result<SweepRound> Round(const ChainEnv& env,
                           const std::function<void(const store::Execution& task)>& handled);

 private:
  SweepOptions options_;
  std::string cursor_;  // where the next round's page starts; empty: from the newest
};

}  // namespace gale::workflow

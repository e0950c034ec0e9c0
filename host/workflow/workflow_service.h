// The workflow engine (issue 21): runs workflow actions (runner type action-chain; Orquesta
// next) as executions of their tasks. Any node with the runner role runs one; together they
// form the consumer group <prefix>workflows on gale.execution-events.
//
// - Start: the runner claims a workflow's execution and hands it here (RunnerOptions::
//   start_workflow). The workflow's state document is written to the store (workflow_state.h),
//   its first task requested on gale.executions as an execution with `parent` and `task`, and
//   the workflow's lease made endless: no node owns a workflow, so none can abandon it by dying.
// - Progress: a task's final event (any node's) loads the state, computes the next step, requests
//   the next task, stores the new state and only then lets the event's offset be committed.
//   Task execution ids are derived (UuidV5 of workflow id, step and task name), so an event
//   delivered again after a crash (kill -9 between two steps) maps onto the task already
//   requested: no task starts twice.
// - Cancel: the workflow's `canceling` event cancels its running task; the task's final event
//   then ends the workflow `canceled`.
// - Pause and resume: the workflow's `pausing` event pauses it once its tasks in flight have
//   ended (what the next steps request is held in the state, not sent); its `resuming` event
//   sends what was held and sets it running (chain_engine.h: PauseChain, ResumeChain;
//   orquesta_engine.h for Orquesta, where pause and resume also pass down to subworkflows).
// - A sweep (workflow_sweep.h) handles tasks whose final event was lost (their runner died
//   between the status and the event).
// - A task's final event names its parent (bus::ExecutionEventMessage): events of executions
//   that are no workflow's task are skipped without a store read.
// - Lost final events: a task whose runner died between recording its final status and sending
//   its event is found by a periodic sweep and handled as its event would be (workflow_sweep.h).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "host/bus/bus.h"
#include "host/common/result.h"
#include "host/runner/action_index.h"
#include "host/store/key_cipher.h"
#include "host/store/store.h"
#include "host/workflow/chain_engine.h"
#include "host/workflow/workflow_sweep.h"

namespace gale::bus {
class ConsumerRole;
class Producer;
struct ExecutionEventMessage;
}  // namespace gale::bus

namespace gale::workflow {

struct WorkflowOptions {
  bus::BusConfig bus;
  store::Store* store = nullptr;  // not owned
  std::string node_name;
  std::optional<store::KeyCipher> cipher;
  std::string system_user = "stanley";
  std::string api_url;  // Orquesta's ctx().st2.api_url
};

struct WorkflowStats {
  uint64_t started = 0;
  uint64_t transitions = 0;  // tasks requested after the first
  uint64_t finished = 0;
  uint64_t paused = 0;   // workflows moved to paused
  uint64_t resumed = 0;  // workflows moved from resuming to running
  uint64_t swept = 0;    // final tasks whose event never came, handled by the sweep
};

class WorkflowService {
 public:
  static Result<std::unique_ptr<WorkflowService>> Create(
      WorkflowOptions options, std::shared_ptr<const runner::ActionIndex> actions);
  ~WorkflowService();

  Status Start();  // joins the consumer group
  void Stop();
  void UpdateActions(std::shared_ptr<const runner::ActionIndex> actions);

  // RunnerOptions::start_workflow: `workflow` was just claimed by this node's runner.
  void StartWorkflow(const store::Execution& workflow, const runner::RunnableAction& action);

  WorkflowStats stats() const;

 private:
  struct Counters;
  WorkflowService(WorkflowOptions options, std::shared_ptr<const runner::ActionIndex> actions,
                  std::unique_ptr<bus::Producer> producer);
  void ConsumeLoop();
  Status Handle(const bus::ExecutionEventMessage& event);
  void Count(store::ExecStatus status);  // ChainEnv::on_status
  std::shared_ptr<const runner::ActionIndex> Actions();
  // What a step needs, with this service's counters told of the statuses it sets.
  ChainEnv Env(const runner::ActionIndex* actions);

  WorkflowOptions options_;
  std::unique_ptr<bus::Producer> producer_;
  std::string executions_topic_;
  std::string events_topic_;
  std::mutex actions_mu_;
  std::shared_ptr<const runner::ActionIndex> actions_;
  std::unique_ptr<Counters> counters_;
  std::unique_ptr<bus::ConsumerRole> consumer_;
  WorkflowSweep sweep_;  // used by the consume loop's thread only
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace gale::workflow

#include "host/workflow/workflow_service.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "host/bus/consumer_role.h"
#include "host/bus/messages.h"
#include "host/store/workflow_state.h"
#include "host/workflow/chain_engine.h"
#include "host/workflow/orquesta_engine.h"

namespace gale::workflow {

using store::LoadState;
using store::SaveState;
using store::TaskExecutionId;

using store::ExecStatus;

struct WorkflowService::Counters {
  std::atomic<uint64_t> started{0}, transitions{0}, finished{0}, paused{0}, resumed{0}, swept{0};
};

namespace {
constexpr std::string_view kWorkflowsGroup = "workflows";  // consumes execution-events
// How often the sweep for lost final events runs (workflow_sweep.h); it looks at a page of
// running executions and leaves every workflow that moved in the last 5 s alone.
constexpr auto kSweepEvery = std::chrono::seconds(3);
}  // namespace

Result<std::unique_ptr<WorkflowService>> WorkflowService::Create(
    WorkflowOptions options, std::shared_ptr<const runner::ActionIndex> actions) {
  if (options.store == nullptr) return Status::Error("workflow: no store");
  auto producer = bus::Producer::Create(options.bus);
  if (!producer.ok()) return producer.status().WithContext("workflow: producer");
  return std::unique_ptr<WorkflowService>(
      new WorkflowService(std::move(options), std::move(actions), std::move(producer).value()));
}

WorkflowService::WorkflowService(WorkflowOptions options,
                                 std::shared_ptr<const runner::ActionIndex> actions,
                                 std::unique_ptr<bus::Producer> producer)
    : options_(std::move(options)),
      producer_(std::move(producer)),
      executions_topic_(bus::Topic(options_.bus, bus::kExecutions)),
      events_topic_(bus::Topic(options_.bus, bus::kExecutionEvents)),
      actions_(std::move(actions)),
      counters_(std::make_unique<Counters>()) {}

WorkflowService::~WorkflowService() {
  Stop();
}

Status WorkflowService::Start() {
  bus::ConsumerRole::Options ropts;
  ropts.name = "workflow";
  ropts.consumer.group_id = bus::Group(options_.bus, kWorkflowsGroup);
  ropts.consumer.topics = {events_topic_};
  ropts.consumer.from_beginning = true;
  ropts.commit_every = 100;
  auto consumer = bus::ConsumerRole::Create(options_.bus, std::move(ropts));
  if (!consumer.ok()) return consumer.status().WithContext("workflow: consumer");
  consumer_ = std::move(consumer).value();
  thread_ = std::thread([this] { ConsumeLoop(); });
  return Status::Ok();
}

void WorkflowService::Stop() {
  if (stopping_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  if (consumer_) (void)consumer_->Close();
  (void)producer_->Flush(std::chrono::seconds(5));
}

void WorkflowService::UpdateActions(std::shared_ptr<const runner::ActionIndex> actions) {
  if (!actions) return;
  std::lock_guard<std::mutex> lock(actions_mu_);
  actions_ = std::move(actions);
}

std::shared_ptr<const runner::ActionIndex> WorkflowService::Actions() {
  std::lock_guard<std::mutex> lock(actions_mu_);
  return actions_;
}

WorkflowStats WorkflowService::stats() const {
  WorkflowStats s;
  s.started = counters_->started.load();
  s.transitions = counters_->transitions.load();
  s.finished = counters_->finished.load();
  s.paused = counters_->paused.load();
  s.resumed = counters_->resumed.load();
  s.swept = counters_->swept.load();
  return s;
}

ChainEnv WorkflowService::Env(const runner::ActionIndex* actions) {
  ChainEnv env{options_.store,       producer_.get(),
               executions_topic_,    events_topic_,
               options_.node_name,   options_.cipher ? &*options_.cipher : nullptr,
               options_.system_user, actions};
  env.api_url = options_.api_url;
  env.on_status = [this](ExecStatus s) { Count(s); };
  return env;
}

void WorkflowService::StartWorkflow(const store::Execution& workflow,
                                    const runner::RunnableAction& action) {
  auto actions = Actions();
  ChainEnv env = Env(actions.get());
  // The execution is claimed: it must start here or end. Store and bus errors are retried a
  // while; a workflow that still cannot start is left to its lease (abandoned).
  auto delay = std::chrono::milliseconds(50);
  for (int attempt = 0;; ++attempt) {
    Status s = action.meta.orquesta ? StartOrquesta(env, workflow, action)
                                    : StartChain(env, workflow, action);
    if (s.ok()) {
      counters_->started++;
      return;
    }
    if (!s.retryable() || attempt >= 8 || stopping_) {
      spdlog::error("workflow: {} ({}) not started: {}", workflow.id, workflow.action, s.message());
      return;
    }
    bus::WaitUnlessStopping(delay, stopping_);
    delay = std::min(delay * 2, std::chrono::milliseconds(2000));
  }
}

void WorkflowService::Count(ExecStatus status) {
  if (status == ExecStatus::kPaused) counters_->paused++;
  if (status == ExecStatus::kRunning) counters_->resumed++;  // the engine sets running on resume
  if (store::IsFinal(status)) counters_->finished++;
}

Status WorkflowService::Handle(const bus::ExecutionEventMessage& event) {
  auto status = store::ParseExecStatus(event.status);
  if (!status) return Status::Ok();
  const bool is_final = store::IsFinal(*status);
  // A task's final event names its workflow: other executions' events need no store read.
  if (is_final && event.parent.empty()) return Status::Ok();
  // The workflow's own commands (from the API): canceling, pausing, resuming.
  const bool command = *status == ExecStatus::kCanceling || *status == ExecStatus::kPausing ||
                       *status == ExecStatus::kResuming;
  if (*status == ExecStatus::kPaused && !event.parent.empty()) {
    // A subworkflow paused: its orquesta parent, pausing, may be paused now.
    auto actions = Actions();
    return OrquestaChildPaused(Env(actions.get()), event.parent);
  }
  if (!is_final && !command) return Status::Ok();
  GALE_ASSIGN_OR_RETURN(auto e, options_.store->GetExecution(event.id));
  if (!e) return Status::Ok();
  const bool canceling = *status == ExecStatus::kCanceling;
  auto actions = Actions();
  ChainEnv env = Env(actions.get());
  if (canceling) {
    if (e->status != ExecStatus::kCanceling) return Status::Ok();
    GALE_ASSIGN_OR_RETURN(auto state, LoadState(*options_.store, e->id));
    if (!state) return Status::Ok();  // not a workflow
    if (state->value("runner", "") == "orquesta") return CancelOrquesta(env, *e);
    return CancelChain(env, *e, *state);
  }
  if (command) {
    if (e->status != *status) return Status::Ok();  // moved on since
    // No state: not a workflow, or one not started yet (its first task's end pauses it).
    GALE_ASSIGN_OR_RETURN(auto state, LoadState(*options_.store, e->id));
    if (!state) return Status::Ok();
    if (state->value("runner", "") == "orquesta") {
      if (*status == ExecStatus::kPausing) return PauseOrquesta(env, *e);
      return ResumeOrquesta(env, *e);
    }
    if (*status == ExecStatus::kPausing) return PauseChain(env, *e, *state);
    return ResumeChain(env, *e, std::move(*state));
  }
  if (e->parent.empty()) return Status::Ok();
  counters_->transitions++;
  // The parent's runner type decides (an orquesta workflow's tasks, or a chain's links).
  GALE_ASSIGN_OR_RETURN(auto parent, options_.store->GetExecution(e->parent));
  const runner::RunnableAction* pa = parent ? actions->Find(parent->action) : nullptr;
  if (pa != nullptr && pa->meta.orquesta) return OrquestaTaskFinished(env, *e);
  return TaskFinished(env, *e);
}

void WorkflowService::ConsumeLoop() {
  auto backoff = std::chrono::milliseconds(100);
  auto next_tick = std::chrono::steady_clock::now();
  auto next_sweep = std::chrono::steady_clock::now() + kSweepEvery;
  while (!stopping_) {
    if (std::chrono::steady_clock::now() >= next_tick) {  // Orquesta's delayed tasks, when due
      auto actions = Actions();
      Status s = OrquestaTick(Env(actions.get()));
      if (!s.ok()) spdlog::warn("workflow: delayed tasks: {}", s.message());
      next_tick = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    }
    if (std::chrono::steady_clock::now() >= next_sweep) {  // tasks whose final event was lost
      auto actions = Actions();
      auto round = sweep_.Round(Env(actions.get()), [this](const store::Execution& task) {
        counters_->transitions++;
        counters_->swept++;
        spdlog::warn(
            "workflow: task {} ({}) of workflow {} ended {} but its event never came; handled "
            "by the sweep",
            task.id, task.task, task.parent, store::ToString(task.status));
      });
      if (!round.ok()) spdlog::warn("workflow: sweep: {}", round.message());
      next_sweep = std::chrono::steady_clock::now() + kSweepEvery;
    }
    auto next = consumer_->Poll(std::chrono::milliseconds(100));
    if (!next.ok()) {
      consumer_->PollFailed(next.status());
      continue;
    }
    if (!next->has_value()) {
      consumer_->CommitDone();
      continue;
    }
    const bus::Message m = std::move(**next);
    while (!stopping_) {
      Status s = Status::Ok();
      if (m.authentic) {
        auto event = bus::DecodeExecutionEvent(m.value);
        s = event.ok() ? Handle(*event) : Status::Ok();  // the runner's own events: never bad
      }
      if (s.ok() || !s.retryable()) {
        if (!s.ok()) spdlog::error("workflow: {}: {}", bus::Where(m), s.message());
        break;
      }
      spdlog::warn("workflow: {} not handled yet, retrying in {} ms: {}", bus::Where(m),
                   backoff.count(), s.message());
      bus::WaitUnlessStopping(backoff, stopping_);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
    if (stopping_) break;  // not done: the group's next owner handles it
    backoff = std::chrono::milliseconds(100);
    consumer_->Done(m);
  }
  consumer_->CommitDone();
}

}  // namespace gale::workflow

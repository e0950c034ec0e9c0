#include "host/workflow/workflow_sweep.h"

#include <spdlog/spdlog.h>

#include <vector>

#include "host/store/workflow_state.h"
#include "host/workflow/orquesta_engine.h"

namespace gale::workflow {

namespace sweep_internal {

// The execution ids a workflow's state names as in flight.
std::vector<std::string> InFlight(const Json& state) {
  std::vector<std::string> ids;
  if (state.value("runner", "") == "orquesta") {
    auto running = state.find("running");
    if (running != state.end() && running->is_object()) {
      for (const auto& [id, entry] : running->items()) ids.push_back(id);
    }
    return ids;
  }
  auto current = state.find("current");
  if (current != state.end() && current->is_array()) {
    for (const auto& c : *current) {
      if (c.is_object()) ids.push_back(c.value("execution_id", ""));
    }
  }
  return ids;
}

}  // namespace sweep_internal

Result<SweepRound> WorkflowSweep::Round(
    const ChainEnv& env, const std::function<void(const store::Execution& task)>& handled) {
  SweepRound round;
  store::ExecutionQuery q;
  q.statuses = {store::ExecStatus::kRunning, store::ExecStatus::kCanceling,
                store::ExecStatus::kPausing, store::ExecStatus::kResuming};
  q.limit = options_.page;
  q.cursor = cursor_;
  auto page = env.store->ListExecutions(q);
  if (!page.ok()) {
    cursor_.clear();  // a cursor the store no longer knows: start over
    return page.status();
  }
  cursor_ = page->next_cursor;
  const store::TimeMs now = store::NowMs();
  const store::TimeMs quiet_before = now - options_.quiet_ms;
  for (const auto& workflow : page->items) {
    // A known action that is no workflow: a plain execution, no state to read. (An action
    // removed since is read: it may be a workflow left running.)
    const runner::RunnableAction* action = env.actions->Find(workflow.action);
    if (action != nullptr && !action->meta.orquesta && !action->meta.chain) continue;
    GALE_ASSIGN_OR_RETURN(
        auto kv,
        env.store->GetKey({store::StateKey(workflow.id), store::KeyScope::kGale, ""}, now));
    if (!kv || kv->updated_at > quiet_before) continue;  // no state, or moving
    Json state = Json::parse(kv->value, nullptr, false);
    if (!state.is_object()) continue;
    ++round.workflows;
    const bool orquesta = state.value("runner", "") == "orquesta";
    for (const auto& id : sweep_internal::InFlight(state)) {
      if (id.empty()) continue;
      GALE_ASSIGN_OR_RETURN(auto task, env.store->GetExecution(id));
      // Absent: an orquesta task still delayed (its request waits in the store), or one whose
      // step's outbox the next load sends. Not final, or final only just: its event decides.
      if (!task || !store::IsFinal(task->status) || task->finished_at > quiet_before) continue;
      if (task->parent != workflow.id) continue;
      Status s = orquesta ? OrquestaTaskFinished(env, *task) : TaskFinished(env, *task);
      if (!s.ok()) {
        // This workflow's step failed (the store away, a bad state): the next round tries again;
        // the other workflows of the page are not kept waiting for it.
        spdlog::warn("workflow: sweep of {}: task {}: {}", workflow.id, id, s.message());
        break;
      }
      ++round.tasks;
      if (handled) handled(*task);
    }
  }
  return round;
}

}  // namespace gale::workflow

#include "host/workflow/chain_engine.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <limits>
#include <thread>

#include "host/bus/messages.h"
#include "host/common/failpoint.h"
#include "host/expr/template/template.h"
#include "host/requests/action_context.h"
#include "host/requests/execution_request.h"
#include "host/store/secret_parameters.h"
#include "host/store/workflow_state.h"

namespace gale::workflow {

using store::LoadState;
using store::SaveState;
using store::TaskExecutionId;

using store::ExecStatus;

void PublishEvent(const ChainEnv& env, const store::Execution& e) {
  bus::ExecutionEventMessage event;
  event.id = e.id;
  event.status = store::ToString(e.status);
  event.at = store::NowMs();
  event.node = env.node_name;
  if (!e.result.is_null()) event.result = e.result;
  event.parent = e.parent;
  event.task = e.task;
  Status s = env.producer->Produce(env.events_topic, e.id, bus::Encode(event));
  if (!s.ok()) spdlog::warn("workflow: execution event for {}: {}", e.id, s.message());
}

namespace {

// A workflow's lease never expires: no node owns it, its progress is in the store.
constexpr store::TimeMs kNoLease = std::numeric_limits<store::TimeMs>::max() / 4;
// How long a task's end may come before the state naming it is stored (TaskFinished).
constexpr store::TimeMs kStateSaveGrace = 5000;

// Ends the workflow with `status`; its result is StackStorm's: the tasks and what was published.
Status Finish(const ChainEnv& env, const std::string& id, ExecStatus status, Json state,
              const std::string& error) {
  Json result = {{"tasks", state.value("tasks", Json::array())}};
  if (state.value("display_published", true)) {
    result["published"] = state.value("published", Json::object());
  }
  if (!error.empty()) result["error"] = error;
  store::Transition t;
  t.id = id;
  t.from = {ExecStatus::kRunning, ExecStatus::kCanceling, ExecStatus::kPausing, ExecStatus::kPaused,
            ExecStatus::kResuming};
  t.to = status;
  t.at = store::NowMs();
  t.result = result;
  GALE_ASSIGN_OR_RETURN(bool changed, env.store->TransitionExecution(t));
  GALE_ASSIGN_OR_RETURN(auto now, env.store->GetExecution(id));
  if (changed && now) {
    PublishEvent(env, *now);
    if (env.on_status) env.on_status(status);
    spdlog::info("workflow: {} {}{}", id, store::ToString(status),
                 error.empty() ? "" : ": " + error);
  }
  if (now && store::IsFinal(now->status)) {
    // Its final status is durable and its result holds the tasks: the state document goes (an
    // event delivered again finds the workflow final and changes nothing).
    GALE_ASSIGN_OR_RETURN(bool deleted, env.store->DeleteKey(store::KeyRef{
                                            store::StateKey(id), store::KeyScope::kGale, ""}));
    (void)deleted;
    return Status::Ok();
  }
  state["current"] = Json::array();
  state["status"] = store::ToString(status);
  return SaveState(*env.store, id, state);
}

void BindDatastore(const ChainEnv& env, expr::TemplateContext* ctx) {
  ctx->kv = requests::DatastoreLookup(*env.store, env.system_user, store::NowMs(), nullptr);
  if (env.cipher) ctx->decrypt = requests::DatastoreDecrypt(*env.cipher, env.system_user);
}

// Requests `link` as the workflow's next step and records it in `state`. A link that cannot
// be requested (its action is missing, its parameters do not render or validate) sets
// *failure; store and bus errors are returned.
Status RequestLink(const ChainEnv& env, const store::Execution& workflow, Json& state,
                   const packs::ChainLink& link, std::string* failure) {
  const int64_t step = state.value("step", int64_t{0}) + 1;
  const std::string id = TaskExecutionId(workflow.id, step, link.name);
  const runner::RunnableAction* child = env.actions->Find(link.ref);
  if (child == nullptr) {
    *failure = "link '" + link.name + "': action '" + link.ref + "' is not installed";
    return Status::Ok();
  }
  expr::TemplateContext ctx;
  ctx.vars = &state["context"];
  BindDatastore(env, &ctx);
  auto rendered = expr::RenderValue(link.parameters, ctx, "parameters");
  if (!rendered.ok()) {
    *failure = "link '" + link.name + "': " + rendered.message();
    return Status::Ok();
  }
  auto compiled = requests::CompileAction(child->meta, child->pack_config);
  const Json vars = requests::TemplateVars({.user = env.system_user, .pack = child->meta.pack},
                                           child->pack_config);
  expr::TemplateContext defaults;
  defaults.vars = &vars;
  BindDatastore(env, &defaults);
  Json params;
  std::string error = requests::BuildActionParameters(
      *compiled, *rendered, defaults, "action-chain link '" + link.name + "'", &params);
  if (!error.empty()) {
    *failure = "link '" + link.name + "': " + error;
    return Status::Ok();
  }
  store::Execution e;
  e.id = id;
  e.action = link.ref;
  e.trace_id = workflow.trace_id;
  e.requested_at = store::NowMs();
  e.status = ExecStatus::kRequested;
  e.parent = workflow.id;
  e.task = link.name;
  GALE_TRY(store::SealSecretParameters(env.cipher, compiled->secrets, params, &e));
  GALE_ASSIGN_OR_RETURN(bool created, env.store->CreateExecution(e));
  if (!created) {
    // Requested before a crash: the same derived id, so the same execution; ask again (a
    // runner skips a request for an execution that is no longer requested).
    GALE_ASSIGN_OR_RETURN(auto existing, env.store->GetExecution(id));
    if (existing) e = *existing;
  }
  auto produced = env.producer->ProduceSync(env.executions_topic, id,
                                            bus::Encode(requests::ExecutionRequestOf(e)),
                                            std::chrono::seconds(10));
  if (!produced.ok()) return produced.status();
  if (created) PublishEvent(env, e);
  // Tests of a task that ends before the state naming it is stored (TaskFinished retries).
  if (FailpointHit("workflow.delay_save", link.name))
    std::this_thread::sleep_for(std::chrono::seconds(1));
  state["step"] = step;
  state["current"] = Json::array({{{"task", link.name}, {"execution_id", id}}});
  state["tasks"].push_back({{"name", link.name},
                            {"execution_id", id},
                            {"status", store::ToString(e.status)},
                            {"requested_at", e.requested_at},
                            {"finished_at", 0}});
  return Status::Ok();
}

}  // namespace

Status StartChain(const ChainEnv& env, const store::Execution& workflow,
                  const runner::RunnableAction& action) {
  GALE_ASSIGN_OR_RETURN(auto existing, LoadState(*env.store, workflow.id));
  if (existing) return Status::Ok();  // started already (a request delivered again)
  const packs::ActionChain& chain = *action.meta.chain;
  Json state = {
      {"runner", "action-chain"}, {"action", workflow.action}, {"step", 0},
      {"current", Json::array()}, {"context", Json::object()}, {"published", Json::object()},
      {"tasks", Json::array()}};
  auto params = store::OpenSecretParameters(env.cipher, workflow);
  if (!params.ok()) {
    return Finish(env, workflow.id, ExecStatus::kFailed, state, params.message());
  }
  state["display_published"] = params->value("display_published", true);
  // The chain's parameters and vars are top-level names of its templates, as in StackStorm.
  state["context"] = *params;
  expr::TemplateContext ctx;
  ctx.vars = &state["context"];
  BindDatastore(env, &ctx);
  for (const auto& [name, value] : chain.vars.items()) {
    auto rendered = expr::RenderValue(value, ctx, "vars." + name);
    if (!rendered.ok()) {
      return Finish(env, workflow.id, ExecStatus::kFailed, state, rendered.message());
    }
    state["context"][name] = std::move(rendered).value();
  }
  std::string failure;
  GALE_TRY(RequestLink(env, workflow, state, *chain.Find(chain.default_link), &failure));
  if (!failure.empty()) return Finish(env, workflow.id, ExecStatus::kFailed, state, failure);
  GALE_TRY(SaveState(*env.store, workflow.id, state));
  GALE_ASSIGN_OR_RETURN(bool renewed, env.store->RenewLease(workflow.id, env.node_name, kNoLease));
  if (!renewed) spdlog::warn("workflow: {} changed while it started", workflow.id);
  return Status::Ok();
}

Status TaskFinished(const ChainEnv& env, const store::Execution& task) {
  GALE_ASSIGN_OR_RETURN(auto workflow, env.store->GetExecution(task.parent));
  if (!workflow || store::IsFinal(workflow->status)) return Status::Ok();
  GALE_ASSIGN_OR_RETURN(auto loaded, LoadState(*env.store, workflow->id));
  const bool recent = store::NowMs() - task.requested_at < kStateSaveGrace;
  if (!loaded) {
    // A first task quicker than StartChain's save of the state: handled again shortly.
    if (!recent) return Status::Ok();
    return Status::Error("workflow " + workflow->id + ": task " + task.id + " (" + task.task +
                             ") ended before the workflow's state was stored",
                         /*retryable=*/true);
  }
  Json state = std::move(*loaded);
  bool expected = false;
  for (const auto& c : state.value("current", Json::array())) {
    expected = expected || c.value("execution_id", "") == task.id;
  }
  bool known = false;
  for (const auto& t : state.value("tasks", Json::array())) {
    known = known || t.value("execution_id", "") == task.id;
  }
  if (!expected && !known && recent) {
    // Its step requested it but has not stored the state yet (the task was quicker than the
    // store, or the step's node is being replaced after a crash and requests it again): the
    // event is handled again shortly, not dropped.
    return Status::Error("workflow " + workflow->id + ": task " + task.id + " (" + task.task +
                             ") ended before its step was stored",
                         /*retryable=*/true);
  }
  if (!expected) {
    // This step is done already (an event seen again). A pause recorded before a crash that
    // came before the workflow was moved to paused is completed now.
    if (workflow->status == ExecStatus::kPausing && state.value("current", Json::array()).empty()) {
      GALE_ASSIGN_OR_RETURN(bool paused, MoveWorkflow(env, workflow->id, {ExecStatus::kPausing},
                                                      ExecStatus::kPaused));
      (void)paused;
    }
    return Status::Ok();
  }
  for (auto& t : state["tasks"]) {
    if (t.value("execution_id", "") != task.id) continue;
    t["status"] = store::ToString(task.status);
    t["started_at"] = task.started_at;
    t["finished_at"] = task.finished_at;
    t["result"] = task.result;
  }
  state["context"][task.task] = task.result;
  state["current"] = Json::array();
  if (workflow->status == ExecStatus::kCanceling || task.status == ExecStatus::kCanceled) {
    return Finish(env, workflow->id, ExecStatus::kCanceled, state, "");
  }
  const runner::RunnableAction* action = env.actions->Find(workflow->action);
  const packs::ChainLink* link =
      action && action->meta.chain ? action->meta.chain->Find(task.task) : nullptr;
  if (link == nullptr) {
    return Finish(env, workflow->id, ExecStatus::kFailed, state,
                  "action-chain " + workflow->action + " (or its link '" + task.task +
                      "') is no longer installed on node " + env.node_name);
  }
  const bool succeeded = task.status == ExecStatus::kSucceeded;
  if (succeeded && !link->publish.empty()) {
    expr::TemplateContext ctx;
    const Json context = state["context"];
    ctx.vars = &context;
    BindDatastore(env, &ctx);
    for (const auto& [name, value] : link->publish.items()) {
      auto rendered = expr::RenderValue(value, ctx, "publish." + name);
      if (!rendered.ok()) {
        return Finish(env, workflow->id, ExecStatus::kFailed, state,
                      "link '" + link->name + "': " + rendered.message());
      }
      state["context"][name] = *rendered;
      state["published"][name] = *rendered;
    }
  }
  const std::string& next = succeeded ? link->on_success : link->on_failure;
  if (next.empty()) {
    // The chain's status is its last link's, as in StackStorm.
    return Finish(env, workflow->id, succeeded ? ExecStatus::kSucceeded : ExecStatus::kFailed,
                  state, "");
  }
  if (workflow->status == ExecStatus::kPausing || workflow->status == ExecStatus::kPaused) {
    // Paused between two links: the next one is recorded, and requested on resume.
    state["pending"] = Json::array({{{"task", next}}});
    GALE_TRY(SaveState(*env.store, workflow->id, state));
    GALE_ASSIGN_OR_RETURN(
        bool paused, MoveWorkflow(env, workflow->id, {ExecStatus::kPausing}, ExecStatus::kPaused));
    (void)paused;
    return Status::Ok();
  }
  std::string failure;
  GALE_TRY(RequestLink(env, *workflow, state, *action->meta.chain->Find(next), &failure));
  if (!failure.empty()) return Finish(env, workflow->id, ExecStatus::kFailed, state, failure);
  return SaveState(*env.store, workflow->id, state);
}

Status CancelChain(const ChainEnv& env, const store::Execution& workflow, const Json& state) {
  bool in_flight = false;
  for (const auto& c : state.value("current", Json::array())) {
    const std::string child_id = c.value("execution_id", "");
    GALE_ASSIGN_OR_RETURN(auto child, env.store->GetExecution(child_id));
    if (!child || store::IsFinal(child->status)) continue;
    in_flight = true;
    store::Transition t;
    t.id = child_id;
    t.at = store::NowMs();
    if (child->status == ExecStatus::kRunning) {
      t.from = {ExecStatus::kRunning};
      t.to = ExecStatus::kCanceling;  // its runner kills it; its final event ends the workflow
    } else {
      t.from = {ExecStatus::kRequested, ExecStatus::kScheduled, ExecStatus::kDelayed};
      t.to = ExecStatus::kCanceled;
      t.result = Json{{"error", "canceled before it started (its workflow was canceled)"}};
    }
    GALE_ASSIGN_OR_RETURN(bool changed, env.store->TransitionExecution(t));
    if (!changed) continue;  // it moved on: its own event decides
    GALE_ASSIGN_OR_RETURN(auto now, env.store->GetExecution(child_id));
    if (now) PublishEvent(env, *now);
  }
  if (!in_flight) return Finish(env, workflow.id, ExecStatus::kCanceled, state, "");
  return Status::Ok();
}

}  // namespace gale::workflow

namespace gale::workflow {

Result<bool> MoveWorkflow(const ChainEnv& env, const std::string& id, std::vector<ExecStatus> from,
                          ExecStatus to) {
  store::Transition t;
  t.id = id;
  t.from = std::move(from);
  t.to = to;
  t.at = store::NowMs();
  GALE_ASSIGN_OR_RETURN(bool changed, env.store->TransitionExecution(t));
  if (!changed) return false;
  GALE_ASSIGN_OR_RETURN(auto now, env.store->GetExecution(id));
  if (now) PublishEvent(env, *now);
  if (env.on_status) env.on_status(to);
  spdlog::info("workflow: {} {}", id, store::ToString(to));
  return true;
}

Status PauseChain(const ChainEnv& env, const store::Execution& workflow, const Json& state) {
  for (const auto& c : state.value("current", Json::array())) {
    GALE_ASSIGN_OR_RETURN(auto child, env.store->GetExecution(c.value("execution_id", "")));
    // In flight (or ended with its event still to come): its final event pauses the workflow.
    if (child) return Status::Ok();
  }
  GALE_ASSIGN_OR_RETURN(
      bool paused, MoveWorkflow(env, workflow.id, {ExecStatus::kPausing}, ExecStatus::kPaused));
  (void)paused;
  return Status::Ok();
}

Status ResumeChain(const ChainEnv& env, const store::Execution& workflow, Json state) {
  const Json pending = state.value("pending", Json::array());
  if (!pending.empty()) {
    const runner::RunnableAction* action = env.actions->Find(workflow.action);
    const packs::ActionChain* chain = action ? action->meta.chain.get() : nullptr;
    state["pending"] = Json::array();
    for (const auto& p : pending) {
      const std::string name = p.value("task", "");
      const packs::ChainLink* link = chain ? chain->Find(name) : nullptr;
      if (link == nullptr) {
        return Finish(env, workflow.id, ExecStatus::kFailed, state,
                      "action-chain " + workflow.action + " (or its link '" + name +
                          "') is no longer installed on node " + env.node_name);
      }
      std::string failure;
      GALE_TRY(RequestLink(env, workflow, state, *link, &failure));
      if (!failure.empty()) return Finish(env, workflow.id, ExecStatus::kFailed, state, failure);
    }
    GALE_TRY(SaveState(*env.store, workflow.id, state));
  }
  GALE_ASSIGN_OR_RETURN(
      bool resumed, MoveWorkflow(env, workflow.id, {ExecStatus::kResuming}, ExecStatus::kRunning));
  if (resumed) {
    // Running again: its lease is endless again (no node owns a workflow).
    GALE_ASSIGN_OR_RETURN(bool renewed,
                          env.store->RenewLease(workflow.id, workflow.node, kNoLease));
    if (!renewed) spdlog::warn("workflow: {} changed while it resumed", workflow.id);
  }
  return Status::Ok();
}

}  // namespace gale::workflow

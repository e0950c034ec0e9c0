#include "host/workflow/orquesta_engine.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <deque>
#include <limits>
#include <set>

#include "host/bus/messages.h"
#include "host/expr/py_value.h"
#include "host/expr/workflow_expr.h"
#include "host/requests/action_context.h"
#include "host/requests/execution_request.h"
#include "host/store/secret_parameters.h"
#include "host/store/workflow_state.h"

namespace gale::workflow {

using packs::OrquestaTask;
using packs::OrquestaWorkflow;
using store::ExecStatus;

// Named, not anonymous: unity builds join this file with its neighbours.
namespace orquesta_internal {

constexpr store::TimeMs kEndlessLease = std::numeric_limits<store::TimeMs>::max() / 4;
// Delayed requests wait in the store under this prefix (gale scope): "<prefix><workflow>/<id>".
constexpr std::string_view kDelayPrefix = "workflow-delay/";
constexpr int kMaxSwapRounds = 1000;  // a state written this often in between: give up, retry

// ---- records and events -----------------------------------------------------------------------

Json RecordJson(const store::Execution& e) {
  return {{"id", e.id},
          {"action", e.action},
          {"parameters", e.parameters},
          {"secret_parameters", e.secret_parameters},
          {"trace_id", e.trace_id},
          {"parent", e.parent},
          {"task", e.task}};
}

store::Execution RecordOf(const Json& j) {
  store::Execution e;
  e.id = j.value("id", "");
  e.action = j.value("action", "");
  e.parameters = j.value("parameters", Json::object());
  e.secret_parameters = j.value("secret_parameters", Json::object());
  e.trace_id = j.value("trace_id", "");
  e.parent = j.value("parent", "");
  e.task = j.value("task", "");
  e.status = ExecStatus::kRequested;
  e.requested_at = store::NowMs();
  return e;
}

// Creates `record` unless it exists, and requests it while it is still `requested` (a request
// delivered twice is claimed once).
Status Request(const ChainEnv& env, const store::Execution& record) {
  GALE_ASSIGN_OR_RETURN(bool created, env.store->CreateExecution(record));
  store::Execution e = record;
  if (!created) {
    GALE_ASSIGN_OR_RETURN(auto existing, env.store->GetExecution(record.id));
    if (!existing || existing->status != ExecStatus::kRequested) return Status::Ok();
    e = *existing;
  }
  auto produced = env.producer->ProduceSync(env.executions_topic, e.id,
                                            bus::Encode(requests::ExecutionRequestOf(e)),
                                            std::chrono::seconds(10));
  if (!produced.ok()) return produced.status();
  if (created) PublishEvent(env, e);
  return Status::Ok();
}

std::string DelayKey(const std::string& workflow_id, const std::string& id) {
  return std::string(kDelayPrefix) + workflow_id + "/" + id;
}

// Sends what a written state's step requested: due records now, delayed ones to the store.
Status FlushOutbox(const ChainEnv& env, const std::string& workflow_id, const Json& state) {
  for (const auto& entry : state.value("outbox", Json::array())) {
    const store::Execution record = RecordOf(entry["record"]);
    const store::TimeMs due = entry.value("due_at", store::TimeMs{0});
    if (due > store::NowMs()) {
      GALE_ASSIGN_OR_RETURN(auto existing, env.store->GetExecution(record.id));
      if (existing) continue;  // requested already (the tick was first)
      store::KeyValue kv;
      kv.name = DelayKey(workflow_id, record.id);
      kv.scope = store::KeyScope::kGale;
      kv.value = Json{{"due_at", due}, {"record", entry["record"]}}.dump();
      GALE_TRY(env.store->SetKey(kv, store::NowMs()));
    } else {
      GALE_TRY(Request(env, record));
    }
  }
  return Status::Ok();
}

// The workflow's execution gets the final status and result its state holds. Once that status
// is stored the state document goes, with any delayed request left under the workflow's name
// (the result keeps the tasks): an event delivered again finds the workflow final and changes
// nothing, as for a chain.
Status FinishExecution(const ChainEnv& env, const std::string& id, const Json& state) {
  auto status = store::ParseExecStatus(state.value("status", ""));
  if (!status || !store::IsFinal(*status)) return Status::Ok();
  store::Transition t;
  t.id = id;
  t.from = {ExecStatus::kRunning, ExecStatus::kCanceling, ExecStatus::kPausing, ExecStatus::kPaused,
            ExecStatus::kResuming};
  t.to = *status;
  t.at = store::NowMs();
  t.result = state.value("result", Json::object());
  GALE_ASSIGN_OR_RETURN(bool changed, env.store->TransitionExecution(t));
  GALE_ASSIGN_OR_RETURN(auto now, env.store->GetExecution(id));
  if (changed) {
    if (now) PublishEvent(env, *now);
    if (env.on_status) env.on_status(*status);  // the service's counters (/metrics)
    spdlog::info("workflow: {} {}", id, store::ToString(*status));
  }
  if (!now || !store::IsFinal(now->status)) return Status::Ok();
  GALE_ASSIGN_OR_RETURN(auto delayed, env.store->ListKeys(store::KeyScope::kGale, "",
                                                          DelayKey(id, ""), store::NowMs()));
  for (const auto& kv : delayed) {
    GALE_TRY(env.store->DeleteKey({kv.name, store::KeyScope::kGale, ""}).status());
  }
  return env.store->DeleteKey({store::StateKey(id), store::KeyScope::kGale, ""}).status();
}

// ---- expressions ------------------------------------------------------------------------------

class Eval : public expr::ExprContext {
 public:
  Eval(const ChainEnv& env, const Json& state) : env_(env), state_(state) {}
  const Json& Vars() const override { return state_["context"]; }
  const Json* CurrentResult() const override { return result_; }
  const Json* CurrentItem() const override { return item_; }
  std::string CurrentStatus() const override { return status_; }
  Status Task(const std::optional<std::string>& name, Json* out) const override {
    const std::string task = name ? *name : current_task_;
    auto occ = state_.find("occurrences");
    if (task.empty() || occ == state_.end() || !occ->contains(task)) {
      return ExprContext::Task(name, out);
    }
    const std::string key = task + "#" + std::to_string((*occ)[task].get<int64_t>());
    auto insts = state_.find("instances");
    if (insts == state_.end() || !insts->contains(key)) return ExprContext::Task(name, out);
    const Json& inst = (*insts)[key];
    *out = {{"task_id", task},
            {"task_name", task},
            {"status", inst.value("status", "")},
            {"result", inst.value("result", Json())}};
    return Status::Ok();
  }
  Result<std::optional<std::string>> Kv(expr::KvScope scope, const std::string& name,
                                        bool decrypt) const override {
    const bool system = scope == expr::KvScope::kSystem;
    store::KeyRef ref{name, system ? store::KeyScope::kSystem : store::KeyScope::kUser,
                      system ? "" : env_.system_user};
    GALE_ASSIGN_OR_RETURN(auto kv, env_.store->GetKey(ref, store::NowMs()));
    if (!kv) return std::optional<std::string>();
    if (!decrypt || !kv->secret) return std::optional<std::string>(kv->value);
    if (env_.cipher == nullptr) return Status::Error("no datastore key to decrypt with");
    auto open = requests::DatastoreDecrypt(*env_.cipher, env_.system_user)(expr::KvKey{scope, name},
                                                                           kv->value);
    if (!open.ok()) return open.status();
    return std::optional<std::string>(*open);
  }

  const Json* result_ = nullptr;
  const Json* item_ = nullptr;
  std::string status_;
  std::string current_task_;

 private:
  const ChainEnv& env_;
  const Json& state_;
};

Result<Json> Evaluate(const std::string& text, const Eval& ctx) {
  if (!expr::HasWorkflowExpression(text)) return Json(text);
  GALE_ASSIGN_OR_RETURN(auto e, expr::WorkflowExpression::Parse(text));
  return e.Evaluate(ctx);
}

Result<Json> Render(const Json& value, const Eval& ctx) {
  if (value.is_string()) return Evaluate(value.get<std::string>(), ctx);
  if (value.is_object()) {
    Json out = Json::object();
    for (const auto& [k, v] : value.items()) {
      GALE_ASSIGN_OR_RETURN(out[k], Render(v, ctx));
    }
    return out;
  }
  if (value.is_array()) {
    Json out = Json::array();
    for (const auto& v : value) {
      GALE_ASSIGN_OR_RETURN(auto r, Render(v, ctx));
      out.push_back(std::move(r));
    }
    return out;
  }
  return value;
}

// A count or seconds: a number, or an expression giving one.
Result<double> Number(const Json& value, const Eval& ctx, const std::string& what) {
  if (value.is_null()) return 0.0;
  GALE_ASSIGN_OR_RETURN(Json v, Render(value, ctx));
  if (v.is_string()) {
    char* end = nullptr;
    double d = std::strtod(v.get<std::string>().c_str(), &end);
    if (end != nullptr && *end == '\0' && !v.get<std::string>().empty()) return d;
  }
  if (!v.is_number()) return Status::Error(what + " is not a number: " + v.dump());
  return v.get<double>();
}

// ---- one step over the state ------------------------------------------------------------------

class Step {
 public:
  Step(const ChainEnv& env, const store::Execution& workflow, const OrquestaWorkflow& wf,
       Json& state)
      : env_(env), workflow_(workflow), wf_(wf), state_(state) {}

  // Starts the tasks no transition leads to.
  Status Begin() {
    for (const auto& task : wf_.tasks) {
      if (wf_.Inbound(task.name) == 0) GALE_TRY(StartTask(task, ""));
    }
    return Drain();
  }

  // The execution `id` of the state's `running` map ended.
  Status Finished(const store::Execution& e) {
    const Json entry = state_["running"][e.id];
    state_["running"].erase(e.id);
    const std::string key = entry.value("instance", "");
    Json& inst = state_["instances"][key];
    const OrquestaTask* task = wf_.Find(inst.value("task", ""));
    if (task == nullptr) {  // the workflow's file changed under it
      Error(e.task, "task '" + e.task + "' is no longer in the workflow " + workflow_.action);
      return Drain();
    }
    const std::string status(store::ToString(e.status));
    if (e.status == ExecStatus::kCanceled && state_["status"] == "running") {
      state_["status"] = "canceling";  // a task canceled from outside cancels its workflow
    }
    const int64_t item = entry.value("item", int64_t{-1});
    if (item >= 0) {
      // Only what scheduling needs (next, in flight): an item's status and result stay in its
      // own record until the task completes, so a step's cost does not grow with the items
      // finished (st2 #4793).
      inst["in_flight"] = inst.value("in_flight", 0) - 1;
      if (state_["status"] == "running") GALE_TRY(RequestItems(*task, key));
      if (inst.value("in_flight", 0) > 0 ||
          (state_["status"] == "running" && inst.value("next", size_t{0}) < inst["items"].size())) {
        return Drain();
      }
      bool ok = inst.value("next", size_t{0}) == inst["items"].size();  // none left out
      GALE_ASSIGN_OR_RETURN(Json results, ItemResults(*task, key, e, &ok));
      inst["status"] = ok ? "succeeded" : "failed";
      inst["result"] = std::move(results);
      if (state_["status"] == "running") work_.push_back(key);
      return Drain();
    }
    inst["result"] = e.result;
    inst["status"] = status;
    if (state_["status"] != "running") return Drain();
    if (task->has_retry && e.status != ExecStatus::kSucceeded) {
      Eval ctx = For(*task, inst);
      bool again = true;
      if (!task->retry_when.empty()) {
        auto when = Evaluate(task->retry_when, ctx);
        if (!when.ok()) return Error(task->name, when.message()), Drain();
        again = expr::py::Truthy(*when);
      }
      auto count = Number(task->retry_count, ctx, "retry.count");
      if (!count.ok()) return Error(task->name, count.message()), Drain();
      if (again && inst.value("attempt", 0) < static_cast<int>(*count)) {
        auto delay = Number(task->retry_delay, ctx, "retry.delay");
        if (!delay.ok()) return Error(task->name, delay.message()), Drain();
        inst["attempt"] = inst.value("attempt", 0) + 1;
        inst["status"] = "running";
        GALE_TRY(RequestOne(*task, key, -1, *delay));
        return Drain();
      }
    }
    work_.push_back(key);
    return Drain();
  }

  // After every change: a workflow with nothing in flight ends.
  void MaybeEnd() {
    const std::string status = state_.value("status", "running");
    if (store::ParseExecStatus(status) && store::IsFinal(*store::ParseExecStatus(status))) return;
    if (!state_["running"].empty()) return;
    Json result = Json::object();
    std::string final_status = status == "running"     ? "succeeded"
                               : status == "canceling" ? "canceled"
                                                       : "failed";
    Eval ctx(env_, state_);
    Json output = Json::object();
    for (const auto& [name, value] : wf_.output) {
      auto r = Render(value, ctx);
      if (!r.ok()) {
        if (final_status == "succeeded") {
          state_["errors"].push_back({{"type", "error"}, {"message", r.message()}});
          final_status = "failed";
        }
        continue;
      }
      output[name] = *r;
      state_["context"][name] = *r;  // later outputs see earlier ones
    }
    result["output"] = output;
    if (!state_["errors"].empty()) result["errors"] = state_["errors"];
    // The task list outlives the state document (gale execution get shows the tasks).
    result["tasks"] = store::ListedTasks(workflow_.id, state_.value("tasks", Json::array()));
    state_["status"] = final_status;
    state_["result"] = result;
  }

 private:
  Eval For(const OrquestaTask& task, const Json& inst) const {
    Eval ctx(env_, state_);
    ctx.current_task_ = task.name;
    ctx.result_ = &inst["result"];
    ctx.status_ = inst.value("status", "");
    return ctx;
  }

  // A run-time error: the workflow fails (after what runs ends), the error in its result.
  void Error(const std::string& task, const std::string& message) {
    Json e = {{"type", "error"}, {"message", message}};
    if (!task.empty()) e["task_id"] = task;
    state_["errors"].push_back(e);
    if (state_["status"] == "running") state_["status"] = "failing";
  }

  Status StartTask(const OrquestaTask& task, const std::string& from) {
    if (state_["status"] != "running") return Status::Ok();
    if (task.join != 0) {
      Json& sources = state_["joins"][task.name];
      if (sources.is_null()) sources = Json::array();
      bool seen = false;
      for (const auto& s : sources) seen = seen || s == from;
      if (!seen) sources.push_back(from);
      std::set<std::string> inbound;
      for (const auto& t : wf_.tasks) {
        for (const auto& n : t.next) {
          for (const auto& target : n.targets) {
            if (target == task.name) inbound.insert(t.name);
          }
        }
      }
      const size_t needed = task.join < 0 ? inbound.size() : static_cast<size_t>(task.join);
      if (sources.size() < needed) return Status::Ok();
      state_["joins"][task.name] = Json::array();
    }
    const int64_t n = state_["occurrences"].value(task.name, int64_t{0}) + 1;
    state_["occurrences"][task.name] = n;
    const std::string key = task.name + "#" + std::to_string(n);
    Json& inst = state_["instances"][key];
    inst = {{"task", task.name}, {"status", "running"}, {"attempt", 0}, {"result", nullptr}};
    Eval ctx(env_, state_);
    ctx.current_task_ = task.name;
    double delay = 0;
    if (!task.delay.is_null()) {
      auto d = Number(task.delay, ctx, "delay");
      if (!d.ok()) return Fail(key, d.message());
      delay = *d;
    }
    if (task.action.empty()) {  // a task without an action: succeeds at once
      inst["status"] = "succeeded";
      work_.push_back(key);
      return Status::Ok();
    }
    if (!task.with_items) return RequestOne(task, key, -1, delay);
    auto items = Evaluate(task.items, ctx);
    if (!items.ok()) return Fail(key, items.message());
    if (!items->is_array()) return Fail(key, "with items is not a list: " + items->dump());
    Json list = Json::array();
    for (const auto& item : *items) {
      if (task.item_names.size() == 1) {
        list.push_back({{task.item_names[0], item}});
      } else if (task.item_names.size() > 1) {
        Json named = Json::object();
        for (size_t i = 0; i < task.item_names.size(); ++i) {
          named[task.item_names[i]] = item.is_array() && i < item.size() ? item[i] : Json();
        }
        list.push_back(std::move(named));
      } else {
        list.push_back(item);
      }
    }
    int64_t concurrency = 0;
    if (!task.concurrency.is_null()) {
      auto c = Number(task.concurrency, ctx, "with.concurrency");
      if (!c.ok()) return Fail(key, c.message());
      concurrency = static_cast<int64_t>(*c);
    }
    inst["items"] = list;
    inst["concurrency"] = concurrency;
    inst["delay"] = delay;
    inst["next"] = 0;
    inst["in_flight"] = 0;
    if (list.empty()) {
      inst["status"] = "succeeded";
      inst["result"] = Json::array();
      work_.push_back(key);
      return Status::Ok();
    }
    return RequestItems(task, key);
  }

  Status Fail(const std::string& key, const std::string& message) {
    Json& inst = state_["instances"][key];
    inst["status"] = "failed";
    Error(inst.value("task", ""), message);
    return Status::Ok();
  }

  // Requests the next items of a with-items instance, up to its concurrency.
  Status RequestItems(const OrquestaTask& task, const std::string& key) {
    Json& inst = state_["instances"][key];
    const int64_t concurrency = inst.value("concurrency", int64_t{0});
    while (inst.value("next", size_t{0}) < inst["items"].size() &&
           (concurrency <= 0 || inst.value("in_flight", int64_t{0}) < concurrency) &&
           state_["status"] == "running") {
      const int64_t i = inst.value("next", int64_t{0});
      inst["next"] = i + 1;
      GALE_TRY(RequestOne(task, key, i, inst.value("delay", 0.0)));
      Json& again = state_["instances"][key];
      if (again["status"] == "failed") break;
      again["in_flight"] = again.value("in_flight", int64_t{0}) + 1;
    }
    return Status::Ok();
  }

  // One execution of the task (an item's when item >= 0), into the outbox.
  Status RequestOne(const OrquestaTask& task, const std::string& key, int64_t item,
                    double delay_seconds) {
    Json& inst = state_["instances"][key];
    const runner::RunnableAction* child = env_.actions->Find(task.action);
    if (child == nullptr) {
      return Fail(key, "task '" + task.name + "': action '" + task.action + "' is not installed");
    }
    Eval ctx(env_, state_);
    ctx.current_task_ = task.name;
    Json item_value;
    if (item >= 0) {
      item_value = inst["items"][item];
      ctx.item_ = &item_value;
    }
    auto rendered = Render(task.input, ctx);
    if (!rendered.ok()) return Fail(key, "task '" + task.name + "': " + rendered.message());
    auto compiled = requests::CompileAction(child->meta, child->pack_config);
    const Json vars = requests::TemplateVars({.user = env_.system_user, .pack = child->meta.pack},
                                             child->pack_config);
    expr::TemplateContext defaults;
    defaults.vars = &vars;
    defaults.kv = requests::DatastoreLookup(*env_.store, env_.system_user, store::NowMs(), nullptr);
    if (env_.cipher) defaults.decrypt = requests::DatastoreDecrypt(*env_.cipher, env_.system_user);
    Json params;
    std::string error = requests::BuildActionParameters(
        *compiled, *rendered, defaults, "orquesta task '" + task.name + "'", &params);
    if (!error.empty()) return Fail(key, "task '" + task.name + "': " + error);
    store::Execution e;
    e.id = ExecutionId(task, key, item, inst.value("attempt", 0));
    e.action = task.action;
    e.trace_id = workflow_.trace_id;
    e.parent = workflow_.id;
    e.task = task.name;
    GALE_TRY(store::SealSecretParameters(env_.cipher, compiled->secrets, params, &e));
    Json entry = {{"record", RecordJson(e)}};
    if (delay_seconds > 0) {
      entry["due_at"] =
          store::NowMs() + static_cast<store::TimeMs>(std::llround(delay_seconds * 1000));
    }
    state_["outbox"].push_back(std::move(entry));
    state_["running"][e.id] = {{"instance", key}, {"item", item}};
    if (item < 0) {
      state_["tasks"].push_back({{"name", task.name}, {"execution_id", e.id}});
    } else if (!inst.contains("listed")) {  // the items' one entry (store/workflow_state.h)
      inst["listed"] = state_["tasks"].size();
      state_["tasks"].push_back({{"name", task.name},
                                 {"occurrence", std::stoll(key.substr(key.rfind('#') + 1))},
                                 {"first", item},
                                 {"items", 1}});
    } else {
      Json& listed = state_["tasks"][inst["listed"].get<size_t>()];
      listed["items"] = listed.value("items", int64_t{0}) + 1;
    }
    return Status::Ok();
  }

  // The derived id of an execution of instance `key` of `task` (item -1: not a with-items).
  std::string ExecutionId(const OrquestaTask& task, const std::string& key, int64_t item,
                          int attempt) const {
    const int64_t occurrence = std::stoll(key.substr(key.rfind('#') + 1));
    return store::OrquestaExecutionId(workflow_.id, occurrence, task.name, item, attempt);
  }

  // A completed with-items instance's result: its items' results in item order, read once from
  // their records (null for an item never requested or never created). `last` just ended.
  // `*ok` becomes false unless every item requested succeeded.
  Result<Json> ItemResults(const OrquestaTask& task, const std::string& key,
                           const store::Execution& last, bool* ok) const {
    const Json& inst = state_["instances"][key];
    const size_t requested = inst.value("next", size_t{0});
    const int attempt = inst.value("attempt", 0);  // with-items tasks are never retried
    Json results = Json::array();
    for (size_t i = 0; i < inst["items"].size(); ++i) {
      if (i >= requested) {
        results.push_back(nullptr);
        continue;
      }
      const std::string id = ExecutionId(task, key, static_cast<int64_t>(i), attempt);
      if (id == last.id) {
        *ok = *ok && last.status == ExecStatus::kSucceeded;
        results.push_back(last.result);
        continue;
      }
      GALE_ASSIGN_OR_RETURN(auto record, env_.store->GetExecution(id));
      *ok = *ok && record && record->status == ExecStatus::kSucceeded;
      results.push_back(record ? std::move(record->result) : Json());
    }
    return results;
  }

  // Evaluates the `next` of every completed instance in the queue.
  Status Drain() {
    while (!work_.empty()) {
      const std::string key = work_.front();
      work_.pop_front();
      GALE_TRY(Transitions(key));
    }
    Hold();
    MaybeEnd();
    return Status::Ok();
  }

  // A pausing or paused workflow starts nothing: what its steps request is held in the state
  // (`held`, still in `running`) and goes to the outbox on resume. A workflow that fails or is
  // canceled meanwhile drops what it held (never sent: nothing to stop), so that it can end.
  void Hold() {
    if (state_.value("pause", false) && !state_["outbox"].empty()) {
      for (const auto& entry : state_["outbox"]) state_["held"].push_back(entry);
      state_["outbox"] = Json::array();
    }
    if (state_["status"] != "running" && state_.contains("held")) {
      for (const auto& entry : state_["held"]) {
        state_["running"].erase(entry["record"].value("id", ""));
      }
      state_.erase("held");
    }
  }

  Status Transitions(const std::string& key) {
    if (state_["status"] != "running") return Status::Ok();
    const Json inst = state_["instances"][key];
    const OrquestaTask* task = wf_.Find(inst.value("task", ""));
    if (task == nullptr) return Status::Ok();
    Eval ctx = For(*task, inst);
    const bool succeeded = inst.value("status", "") == "succeeded";
    bool handled = succeeded;
    for (const auto& next : task->next) {
      if (!next.when.empty()) {
        auto when = Evaluate(next.when, ctx);
        if (!when.ok()) {
          Error(task->name, when.message());
          return Status::Ok();
        }
        if (!expr::py::Truthy(*when)) continue;
      }
      for (const auto& [name, value] : next.publish) {
        auto r = Render(value, ctx);
        if (!r.ok()) {
          Error(task->name, "publish " + name + ": " + r.message());
          return Status::Ok();
        }
        state_["context"][name] = *r;
      }
      for (const auto& target : next.targets) {
        if (target == "continue") continue;
        handled = true;
        if (target == "noop") continue;
        if (target == "fail") {
          Error(task->name, "task '" + task->name + "' transitioned to fail");
          continue;
        }
        if (target == "retry") {
          if (task->with_items || task->action.empty()) continue;
          Json& again = state_["instances"][key];
          again["attempt"] = again.value("attempt", 0) + 1;
          again["status"] = "running";
          GALE_TRY(RequestOne(*task, key, -1, 0));
          continue;
        }
        const OrquestaTask* to = wf_.Find(target);
        if (to != nullptr) GALE_TRY(StartTask(*to, task->name));
      }
    }
    if (!handled) {
      Json e = {{"type", "error"},
                {"message", "task '" + task->name + "' " + inst.value("status", "") +
                                " and no transition handled it"},
                {"task_id", task->name},
                {"result", inst.value("result", Json())}};
      state_["errors"].push_back(e);
      if (state_["status"] == "running") state_["status"] = "failing";
    }
    return Status::Ok();
  }

  const ChainEnv& env_;
  const store::Execution& workflow_;
  const OrquestaWorkflow& wf_;
  Json& state_;
  std::deque<std::string> work_;
};

const OrquestaWorkflow* SpecOf(const ChainEnv& env, const std::string& action) {
  const runner::RunnableAction* a = env.actions->Find(action);
  return a != nullptr && a->meta.orquesta ? a->meta.orquesta.get() : nullptr;
}

bool IsFinalText(const Json& state) {
  auto s = store::ParseExecStatus(state.value("status", ""));
  return s && store::IsFinal(*s);
}

// Load, change, write unless another node wrote in between; then send and finish. `change`
// returns false when there is nothing to write.
Status Update(const ChainEnv& env, const std::string& workflow_id,
              const std::function<Result<bool>(Json& state)>& change) {
  for (int round = 0; round < kMaxSwapRounds; ++round) {
    GALE_ASSIGN_OR_RETURN(auto loaded, store::LoadStoredState(*env.store, workflow_id));
    if (!loaded) return Status::Ok();
    GALE_TRY(FlushOutbox(env, workflow_id, loaded->state));
    if (IsFinalText(loaded->state)) return FinishExecution(env, workflow_id, loaded->state);
    Json state = loaded->state;
    state["outbox"] = Json::array();
    GALE_ASSIGN_OR_RETURN(bool write, change(state));
    if (!write) return Status::Ok();
    auto swapped = store::SwapState(*env.store, workflow_id, state, loaded->text);
    if (!swapped.ok() && !swapped.status().retryable()) {
      // A state the store refuses (over its 4 MiB value limit: a huge with-items) ends the
      // workflow rather than stopping it for good.
      Json failed = {{"status", "failed"},
                     {"result",
                      {{"output", Json::object()},
                       {"errors", {{{"type", "error"}, {"message", swapped.message()}}}}}}};
      return FinishExecution(env, workflow_id, failed);
    }
    if (!swapped.ok()) return swapped.status();
    if (!*swapped) continue;
    GALE_TRY(FlushOutbox(env, workflow_id, state));
    return FinishExecution(env, workflow_id, state);
  }
  return Status::Error("workflow " + workflow_id + ": its state kept changing", true);
}

bool IsWorkflowAction(const ChainEnv& env, const std::string& action) {
  const runner::RunnableAction* a = env.actions->Find(action);
  return a != nullptr && (a->meta.orquesta || a->meta.chain);
}

// A pausing workflow is paused once nothing of it runs: every execution in flight is held or
// delayed (not created yet) or a subworkflow paused itself. A running subworkflow is paused in
// turn (the pause passes down); its `paused` event brings its parent here again. Called after
// every step of a pausing workflow; the move to paused is a compare-and-set of the status, so
// two nodes deciding at once move it once.
Status CheckPaused(const ChainEnv& env, const std::string& workflow_id) {
  GALE_ASSIGN_OR_RETURN(auto loaded, store::LoadStoredState(*env.store, workflow_id));
  if (!loaded || !loaded->state.value("pause", false) || IsFinalText(loaded->state)) {
    return Status::Ok();
  }
  bool busy = false;
  for (const auto& [id, entry] : loaded->state["running"].items()) {
    GALE_ASSIGN_OR_RETURN(auto child, env.store->GetExecution(id));
    if (!child || child->status == ExecStatus::kPaused) continue;
    busy = true;
    if (child->status == ExecStatus::kRunning && IsWorkflowAction(env, child->action)) {
      GALE_ASSIGN_OR_RETURN(bool moved,
                            MoveWorkflow(env, id, {ExecStatus::kRunning}, ExecStatus::kPausing));
      (void)moved;
    }
  }
  if (busy) return Status::Ok();
  GALE_ASSIGN_OR_RETURN(
      bool paused, MoveWorkflow(env, workflow_id, {ExecStatus::kPausing}, ExecStatus::kPaused));
  (void)paused;
  return Status::Ok();
}

}  // namespace orquesta_internal

using namespace orquesta_internal;

Status StartOrquesta(const ChainEnv& env, const store::Execution& workflow,
                     const runner::RunnableAction& action) {
  GALE_ASSIGN_OR_RETURN(auto existing, store::LoadStoredState(*env.store, workflow.id));
  if (existing) {  // started already (a request delivered again)
    GALE_TRY(FlushOutbox(env, workflow.id, existing->state));
    return FinishExecution(env, workflow.id, existing->state);
  }
  const OrquestaWorkflow& wf = *action.meta.orquesta;
  Json state = {
      {"runner", "orquesta"},      {"action", workflow.action},     {"status", "running"},
      {"context", Json::object()}, {"occurrences", Json::object()}, {"instances", Json::object()},
      {"running", Json::object()}, {"joins", Json::object()},       {"errors", Json::array()},
      {"outbox", Json::array()},   {"tasks", Json::array()}};
  Step step(env, workflow, wf, state);
  auto params = store::OpenSecretParameters(env.cipher, workflow);
  auto fail = [&](const std::string& message) {
    state["errors"].push_back({{"type", "error"}, {"message", message}});
    state["status"] = "failing";
    step.MaybeEnd();
  };
  if (!params.ok()) {
    fail(params.message());
  } else {
    Json& ctx_vars = state["context"];
    for (const auto& [k, v] : params->items()) ctx_vars[k] = v;
    Eval ctx(env, state);
    bool ok = true;
    for (const auto& [name, def] : wf.input) {
      if (ctx_vars.contains(name)) continue;
      auto r = Render(def, ctx);
      if (!r.ok()) {
        fail("input " + name + ": " + r.message());
        ok = false;
        break;
      }
      ctx_vars[name] = *r;
    }
    ctx_vars["st2"] = {{"action_execution_id", workflow.id},
                       {"workflow_execution_id", workflow.id},
                       {"action", workflow.action},
                       {"pack", action.meta.pack},
                       {"user", env.system_user},
                       {"api_url", env.api_url}};
    for (const auto& [name, value] : wf.vars) {
      if (!ok) break;
      auto r = Render(value, ctx);
      if (!r.ok()) {
        fail("vars " + name + ": " + r.message());
        ok = false;
        break;
      }
      ctx_vars[name] = *r;
    }
    if (ok) GALE_TRY(step.Begin());
  }
  GALE_ASSIGN_OR_RETURN(bool swapped,
                        store::SwapState(*env.store, workflow.id, state, std::nullopt));
  if (!swapped) {  // another delivery of the request won: send what it wrote
    GALE_ASSIGN_OR_RETURN(auto now, store::LoadStoredState(*env.store, workflow.id));
    if (now) GALE_TRY(FlushOutbox(env, workflow.id, now->state));
    return Status::Ok();
  }
  GALE_ASSIGN_OR_RETURN(bool renewed,
                        env.store->RenewLease(workflow.id, env.node_name, kEndlessLease));
  if (!renewed) spdlog::warn("workflow: {} changed while it started", workflow.id);
  GALE_TRY(FlushOutbox(env, workflow.id, state));
  GALE_TRY(FinishExecution(env, workflow.id, state));
  // Paused before its state existed: that pausing event found no state and did nothing.
  GALE_ASSIGN_OR_RETURN(auto now, env.store->GetExecution(workflow.id));
  if (now && now->status == ExecStatus::kPausing) return PauseOrquesta(env, *now);
  return Status::Ok();
}

Status OrquestaTaskFinished(const ChainEnv& env, const store::Execution& task) {
  GALE_ASSIGN_OR_RETURN(auto workflow, env.store->GetExecution(task.parent));
  if (!workflow || store::IsFinal(workflow->status)) return Status::Ok();
  const OrquestaWorkflow* wf = SpecOf(env, workflow->action);
  bool pausing = false;
  GALE_TRY(Update(env, workflow->id, [&](Json& state) -> Result<bool> {
    pausing = state.value("pause", false);
    if (!state["running"].contains(task.id)) return false;  // handled already
    if (wf == nullptr) {
      state["running"].erase(task.id);
      state["errors"].push_back(
          {{"type", "error"},
           {"message",
            "orquesta " + workflow->action + " is no longer installed on node " + env.node_name}});
      state["status"] = "failing";
      static const packs::OrquestaWorkflow kNone;
      Step step(env, *workflow, kNone, state);
      step.MaybeEnd();
      return true;
    }
    Step step(env, *workflow, *wf, state);
    GALE_TRY(step.Finished(task));
    // A step that requested nothing may leave the workflow waiting on a task whose final event
    // was lost (its node died between recording the status and sending the event): take every
    // task in flight that is in fact done, as its event would have.
    while (state["outbox"].empty() && !IsFinalText(state) && !state["running"].empty()) {
      std::optional<store::Execution> done;
      for (const auto& [id, entry] : state["running"].items()) {
        GALE_ASSIGN_OR_RETURN(auto other, env.store->GetExecution(id));
        if (other && store::IsFinal(other->status)) {
          done = std::move(other);
          break;
        }
      }
      if (!done) break;
      GALE_TRY(step.Finished(*done));
    }
    return true;
  }));
  // Pausing: this may have been the last task in flight (or, delivered again, was).
  return pausing ? CheckPaused(env, workflow->id) : Status::Ok();
}

Status CancelOrquesta(const ChainEnv& env, const store::Execution& workflow) {
  const OrquestaWorkflow* wf = SpecOf(env, workflow.action);
  static const packs::OrquestaWorkflow kNone;
  Json running;
  std::vector<std::string> dropped;  // delayed, never created: nothing to cancel
  GALE_TRY(Update(env, workflow.id, [&](Json& state) -> Result<bool> {
    dropped.clear();
    if (state["status"] == "running" || state["status"] == "failing") {
      state["status"] = "canceling";
    }
    state.erase("pause");
    state.erase("held");  // never sent; their ids are in `running`, without an execution
    for (const auto& [id, entry] : state["running"].items()) {
      GALE_ASSIGN_OR_RETURN(auto child, env.store->GetExecution(id));
      if (!child) dropped.push_back(id);
    }
    for (const auto& id : dropped) state["running"].erase(id);
    running = state["running"];
    Step step(env, workflow, wf ? *wf : kNone, state);
    step.MaybeEnd();
    return true;
  }));
  for (const auto& id : dropped) {
    (void)env.store->DeleteKey({DelayKey(workflow.id, id), store::KeyScope::kGale, ""});
  }
  for (const auto& [child_id, entry] : running.items()) {
    GALE_ASSIGN_OR_RETURN(auto child, env.store->GetExecution(child_id));
    if (!child || store::IsFinal(child->status)) continue;
    store::Transition t;
    t.id = child_id;
    t.at = store::NowMs();
    if (child->status == ExecStatus::kRunning || child->status == ExecStatus::kPausing ||
        child->status == ExecStatus::kPaused || child->status == ExecStatus::kResuming) {
      t.from = {child->status};
      t.to = ExecStatus::kCanceling;  // its runner (or engine, for a subworkflow) stops it
    } else {
      t.from = {ExecStatus::kRequested, ExecStatus::kScheduled, ExecStatus::kDelayed};
      t.to = ExecStatus::kCanceled;
      t.result = Json{{"error", "canceled before it started (its workflow was canceled)"}};
    }
    GALE_ASSIGN_OR_RETURN(bool changed, env.store->TransitionExecution(t));
    if (!changed) continue;
    GALE_ASSIGN_OR_RETURN(auto now, env.store->GetExecution(child_id));
    if (now) PublishEvent(env, *now);
  }
  return Status::Ok();
}

Status PauseOrquesta(const ChainEnv& env, const store::Execution& workflow) {
  GALE_TRY(Update(env, workflow.id, [&](Json& state) -> Result<bool> {
    if (state.value("pause", false)) return false;  // an event delivered again
    state["pause"] = true;
    return true;
  }));
  return CheckPaused(env, workflow.id);
}

Status ResumeOrquesta(const ChainEnv& env, const store::Execution& workflow) {
  // What was held goes to the outbox, sent once this write won (or by whoever loads it next).
  GALE_TRY(Update(env, workflow.id, [&](Json& state) -> Result<bool> {
    if (!state.value("pause", false)) return false;  // an event delivered again
    state.erase("pause");
    state["outbox"] = state.value("held", Json::array());
    state.erase("held");
    return true;
  }));
  // The subworkflows paused with it go on too.
  GALE_ASSIGN_OR_RETURN(auto loaded, store::LoadStoredState(*env.store, workflow.id));
  if (loaded) {
    for (const auto& [id, entry] : loaded->state["running"].items()) {
      GALE_ASSIGN_OR_RETURN(bool moved,
                            MoveWorkflow(env, id, {ExecStatus::kPaused}, ExecStatus::kResuming));
      (void)moved;
    }
  }
  GALE_ASSIGN_OR_RETURN(
      bool resumed, MoveWorkflow(env, workflow.id, {ExecStatus::kResuming}, ExecStatus::kRunning));
  if (resumed) {
    GALE_ASSIGN_OR_RETURN(bool renewed,
                          env.store->RenewLease(workflow.id, workflow.node, kEndlessLease));
    if (!renewed) spdlog::warn("workflow: {} changed while it resumed", workflow.id);
  }
  return Status::Ok();
}

Status OrquestaChildPaused(const ChainEnv& env, const std::string& parent_id) {
  GALE_ASSIGN_OR_RETURN(auto parent, env.store->GetExecution(parent_id));
  if (!parent || parent->status != ExecStatus::kPausing) return Status::Ok();
  return CheckPaused(env, parent_id);  // nothing for a chain: its state has no `pause`
}

Status OrquestaTick(const ChainEnv& env) {
  const store::TimeMs now = store::NowMs();
  GALE_ASSIGN_OR_RETURN(
      auto keys, env.store->ListKeys(store::KeyScope::kGale, "", std::string(kDelayPrefix), now));
  for (const auto& kv : keys) {
    Json entry = Json::parse(kv.value, nullptr, false);
    if (entry.is_discarded() || entry.value("due_at", store::TimeMs{0}) > now) continue;
    const store::Execution record = RecordOf(entry.value("record", Json::object()));
    GALE_ASSIGN_OR_RETURN(auto parent, env.store->GetExecution(record.parent));
    if (parent &&
        (parent->status == ExecStatus::kPausing || parent->status == ExecStatus::kPaused ||
         parent->status == ExecStatus::kResuming)) {
      continue;  // due once it runs again
    }
    if (parent && parent->status == ExecStatus::kRunning) GALE_TRY(Request(env, record));
    GALE_TRY(env.store->DeleteKey({kv.name, store::KeyScope::kGale, ""}).status());
  }
  return Status::Ok();
}

}  // namespace gale::workflow

// /v1/executions: run an action by hand, list and read executions, follow output, cancel, re-run,
// pause and resume a workflow.
#include <spdlog/spdlog.h>

#include "host/api/api_state.h"
#include "host/bus/messages.h"
#include "host/common/uuid.h"
#include "host/policies/retry_id.h"
#include "host/requests/action_context.h"
#include "host/store/follow.h"
#include "host/store/secret_parameters.h"
#include "host/store/workflow_state.h"

namespace gale::api {
namespace {

const std::string kMasked = store::kMaskedValue;

// Creates a `requested` execution of `action_ref` (secrets masked in the store) and produces its
// request; 201 with the execution, or the error to answer.
HttpResponse RequestExecution(State& state, const std::string& action_ref, const Json& given) {
  auto catalog = state.Catalog();
  auto it = catalog->actions.find(action_ref);
  if (it == catalog->actions.end()) {
    return HttpResponse::Error(400, "action '" + action_ref + "' not found (is its pack loaded?)");
  }
  const auto& action = *it->second;
  const store::TimeMs now = store::NowMs();
  expr::TemplateContext ctx;
  ctx.kv = requests::DatastoreLookup(state.store(), state.options.system_user, now, nullptr);
  ctx.decrypt = requests::DatastoreDecrypt(*state.cipher, state.options.system_user);
  // action_context of a request made by hand (config_context is added for every caller).
  const Json vars = requests::TemplateVars({.user = state.options.system_user, .pack = action.pack},
                                           action.pack_config);
  ctx.vars = &vars;
  Json params;
  std::string error = requests::BuildActionParameters(action, given, ctx, "the caller", &params);
  if (!error.empty()) return HttpResponse::Error(400, error);

  store::Execution e;
  e.id = UuidV4();
  e.action = action_ref;
  e.trace_id = UuidV4();
  e.requested_at = now;
  e.status = store::ExecStatus::kRequested;
  const store::KeyCipher* cipher = state.cipher ? &*state.cipher : nullptr;
  if (Status sealed = store::SealSecretParameters(cipher, action.secrets, params, &e);
      !sealed.ok()) {
    return HttpResponse::Error(503, sealed.message());
  }
  const std::string topic = bus::Topic(state.options.bus, bus::kExecutions);
  if (auto busy = HeldBack(state, topic)) return std::move(*busy);
  auto created = state.store().CreateExecution(e);
  if (!created.ok()) return StoreError(created.status());
  auto produced = state.producer->ProduceSync(
      topic, e.id, bus::Encode(requests::ExecutionRequestOf(e)), std::chrono::seconds(10));
  if (!produced.ok()) {
    // Nobody will run it: say so in the record rather than leave it requested forever.
    store::Transition t;
    t.id = e.id;
    t.from = {store::ExecStatus::kRequested};
    t.to = store::ExecStatus::kFailed;
    t.at = store::NowMs();
    t.result = Json{{"error", "request not delivered to the bus: " + produced.message()}};
    state.store().TransitionExecution(t).ok();
    return HttpResponse::Error(503, "bus: " + produced.message());
  }
  auto stored = state.store().GetExecution(e.id);
  if (stored.ok() && stored->has_value()) e = **stored;
  PublishExecutionEvent(state, e);
  return HttpResponse::Json(201, ExecutionJson(e));
}

Result<store::Execution> Find(State& state, const std::string& id) {
  GALE_ASSIGN_OR_RETURN(auto got, state.store().GetExecution(id));
  if (!got.has_value()) return Status::Error("execution '" + id + "' not found");
  return std::move(*got);
}

// A lookup failure as a response: 404 for an unknown id, the store error otherwise.
HttpResponse NotFoundOr(const Status& s) {
  if (s.message().find("not found") != std::string::npos && !s.retryable()) {
    return HttpResponse::Error(404, s.message());
  }
  return StoreError(s);
}

HttpResponse List(State& state, const HttpRequest& request) {
  store::ExecutionQuery q;
  q.action = request.Query("action");
  q.rule = request.Query("rule");
  q.trigger_instance = request.Query("trigger_instance");
  const std::string status = request.Query("status");
  if (!status.empty()) {
    size_t start = 0;
    while (start <= status.size()) {
      size_t comma = status.find(',', start);
      if (comma == std::string::npos) comma = status.size();
      const std::string one = status.substr(start, comma - start);
      auto parsed = store::ParseExecStatus(one);
      if (!parsed) return HttpResponse::Error(400, "unknown status '" + one + "'");
      q.statuses.push_back(*parsed);
      start = comma + 1;
    }
  }
  try {
    q.limit = std::stoul(request.Query("limit", "50"));
    q.offset = std::stoul(request.Query("offset", "0"));
  } catch (const std::exception&) {
    return HttpResponse::Error(400, "limit and offset must be non-negative integers");
  }
  if (q.limit == 0 || q.limit > store::kMaxPageSize) {
    return HttpResponse::Error(400, "limit must be 1.." + std::to_string(store::kMaxPageSize));
  }
  auto page = state.store().ListExecutions(q);
  if (!page.ok()) return StoreError(page.status());
  Json out = Json::array();
  for (const auto& e : page->items) out.push_back(ExecutionJson(e));
  return HttpResponse::Json(200, out);
}

HttpResponse Output(State& state, const HttpRequest& request) {
  const std::string id = request.params.at("id");
  auto found = Find(state, id);
  if (!found.ok()) return NotFoundOr(found.status());
  if (!request.QueryFlag("follow")) {
    HttpResponse r;
    r.content_type = "text/plain; charset=utf-8";
    int64_t after = 0;
    while (true) {
      auto chunks = state.store().ReadOutput(id, after);
      if (!chunks.ok()) return StoreError(chunks.status());
      if (chunks->empty()) break;
      for (const auto& c : *chunks) r.body += c.data;
      after = chunks->back().seq;
    }
    return r;
  }
  HttpResponse r;
  r.content_type = "text/plain; charset=utf-8";
  store::Store* st = &state.store();
  r.stream = [st, id](StreamWriter& out) {
    store::FollowOptions options;
    options.stop = [&out] { return !out.Open(); };
    auto followed = store::FollowOutput(
        *st, id, 0, [&out](const store::OutputChunk& c) { return out.Write(c.data); }, options);
    if (!followed.ok()) {
      ClientLogLimit().Log(spdlog::level::warn, "follow output", "api: following output of {}: {}",
                           id, followed.message());
    }
  };
  return r;
}

HttpResponse Cancel(State& state, const HttpRequest& request) {
  const std::string id = request.params.at("id");
  auto found = Find(state, id);
  if (!found.ok()) return NotFoundOr(found.status());
  // Not yet claimed: canceled at once (a runner's claim then fails). Running: canceling, which
  // the owning runner turns into a kill and `canceled` within a second.
  for (int attempt = 0; attempt < 3; ++attempt) {
    store::Transition t;
    t.id = id;
    t.at = store::NowMs();
    t.node = std::nullopt;
    if (found->status == store::ExecStatus::kRunning ||
        found->status == store::ExecStatus::kPausing ||
        found->status == store::ExecStatus::kPaused ||
        found->status == store::ExecStatus::kResuming) {
      // A workflow pausing or paused is canceled like a running one (its engine ends it).
      t.from = {found->status};
      t.to = store::ExecStatus::kCanceling;
    } else {
      t.from = {store::ExecStatus::kRequested, store::ExecStatus::kScheduled,
                store::ExecStatus::kDelayed};
      t.to = store::ExecStatus::kCanceled;
      t.result = Json{{"error", "canceled before it started"}};
    }
    if (store::IsFinal(found->status) || found->status == store::ExecStatus::kCanceling) {
      return HttpResponse::Error(
          409, "execution " + id + " is already " + std::string(store::ToString(found->status)));
    }
    auto done = state.store().TransitionExecution(t);
    if (!done.ok()) return StoreError(done.status());
    auto now = Find(state, id);
    if (!now.ok()) return NotFoundOr(now.status());
    if (*done) {
      PublishExecutionEvent(state, *now);
      return HttpResponse::Json(200, ExecutionJson(*now));
    }
    found = std::move(now);  // it moved on meanwhile (claimed, finished): decide again
  }
  return HttpResponse::Error(409, "execution " + id + " kept changing; try again");
}

// Whether `action_ref` is a workflow action (its runner is a workflow runner).
bool IsWorkflowAction(State& state, const std::string& action_ref) {
  const packs::ActionMeta* action = state.Catalog()->catalog.FindAction(action_ref);
  return action != nullptr &&
         (action->runner_type == "action-chain" || action->runner_type == "orquesta");
}

// Whether `e` is a workflow: its action's runner is one, or it has a workflow's state.
bool IsWorkflow(State& state, const store::Execution& e) {
  if (IsWorkflowAction(state, e.action)) return true;
  auto loaded = store::LoadState(state.store(), e.id);
  return loaded.ok() && loaded->has_value();
}

// Pause (`to` pausing) or resume (`to` resuming) a workflow, as StackStorm's
// PUT /v1/executions/ID {"status": "pausing" | "resuming"}: the workflow engine does the rest
// (host/workflow: a paused workflow starts no task; resuming requests the recorded next one).
HttpResponse PauseOrResume(State& state, const std::string& id, store::ExecStatus to) {
  auto found = Find(state, id);
  if (!found.ok()) return NotFoundOr(found.status());
  const bool pause = to == store::ExecStatus::kPausing;
  const std::string verb = pause ? "paused" : "resumed";
  if (!IsWorkflow(state, *found)) {
    return HttpResponse::Error(400, "execution " + id + " (" + found->action +
                                        ") is not a workflow: only workflows are " + verb);
  }
  const store::ExecStatus from = pause ? store::ExecStatus::kRunning : store::ExecStatus::kPaused;
  if (found->status != from) {
    const std::string now(store::ToString(found->status));
    std::string why = "workflow " + id + " is " + now;
    if (store::IsFinal(found->status)) {
      why += ": it has finished";
    } else if (pause) {
      why += ": only a running workflow can be paused";
    } else if (found->status == store::ExecStatus::kPausing) {
      why += ": its running task has not ended yet; resume it once it is paused";
    } else {
      why += ": only a paused workflow can be resumed";
    }
    return HttpResponse::Error(409, why);
  }
  store::Transition t;
  t.id = id;
  t.from = {from};
  t.to = to;
  t.at = store::NowMs();
  auto done = state.store().TransitionExecution(t);
  if (!done.ok()) return StoreError(done.status());
  auto now = Find(state, id);
  if (!now.ok()) return NotFoundOr(now.status());
  if (!*done) {
    return HttpResponse::Error(409, "workflow " + id + " is now " +
                                        std::string(store::ToString(now->status)) + "; try again");
  }
  PublishExecutionEvent(state, *now);
  return HttpResponse::Json(200, ExecutionJson(*now));
}

// PUT /v1/executions/ID: StackStorm's way to pause and resume ({"status": "pausing"} /
// {"status": "resuming"}; "paused" and "running" are taken for them too).
HttpResponse Update(State& state, const HttpRequest& request) {
  auto body = JsonBody(request);
  if (!body.ok()) return HttpResponse::Error(400, body.message());
  const Json status = body->value("status", Json());
  if (!status.is_string()) {
    return HttpResponse::Error(400, "'status' (\"pausing\" or \"resuming\") is required");
  }
  const std::string wanted = status.get<std::string>();
  if (wanted == "pausing" || wanted == "paused") {
    return PauseOrResume(state, request.params.at("id"), store::ExecStatus::kPausing);
  }
  if (wanted == "resuming" || wanted == "running") {
    return PauseOrResume(state, request.params.at("id"), store::ExecStatus::kResuming);
  }
  return HttpResponse::Error(400, "status '" + wanted +
                                      "' cannot be set: \"pausing\" or \"resuming\" (cancel "
                                      "with DELETE /v1/executions/ID)");
}

HttpResponse ReRun(State& state, const HttpRequest& request) {
  const std::string id = request.params.at("id");
  auto found = Find(state, id);
  if (!found.ok()) return NotFoundOr(found.status());
  auto body = JsonBody(request);
  if (!body.ok()) return HttpResponse::Error(400, body.message());
  Json params = found->parameters.is_object() ? found->parameters : Json::object();
  // Immutable parameters were filled from the action's defaults; they are derived again.
  auto catalog = state.Catalog();
  if (auto a = catalog->actions.find(found->action); a != catalog->actions.end()) {
    for (const auto& name : a->second->immutable) params.erase(name);
  }
  if (body->contains("parameters")) {
    if (!(*body)["parameters"].is_object()) {
      return HttpResponse::Error(400, "'parameters' must be an object");
    }
    params.update((*body)["parameters"]);
  }
  // The store only has masked secrets: they must be given again.
  for (const auto& [name, value] : params.items()) {
    if (value == kMasked) {
      return HttpResponse::Error(400, "parameter '" + name +
                                          "' is secret and not stored; give it again in "
                                          "{\"parameters\": {...}}");
    }
  }
  return RequestExecution(state, found->action, params);
}

}  // namespace

void AddExecutionRoutes(Router& router, const std::shared_ptr<State>& state) {
  router.Add("POST", "/v1/executions", [state](HttpRequest& request) {
    auto body = JsonBody(request);
    if (!body.ok()) return HttpResponse::Error(400, body.message());
    if (!body->contains("action") || !(*body)["action"].is_string()) {
      return HttpResponse::Error(400, "'action' (a string, PACK.ACTION) is required");
    }
    Json params = body->value("parameters", Json::object());
    if (!params.is_object()) return HttpResponse::Error(400, "'parameters' must be an object");
    return RequestExecution(*state, (*body)["action"].get<std::string>(), params);
  });
  router.Add("GET", "/v1/executions",
             [state](HttpRequest& request) { return List(*state, request); });
  router.Add("GET", "/v1/executions/{id}", [state](HttpRequest& request) {
    auto found = Find(*state, request.params.at("id"));
    if (!found.ok()) return NotFoundOr(found.status());
    Json j = ExecutionJson(*found);
    // An action.retry chain: the first execution, then its retries (policies/retry_id.h).
    auto chain = policies::RetryChain(*state->options.store, *found);
    if (chain.ok() && chain->size() > 1) {
      j["retry_chain"] = Json::array();
      for (const auto& e : *chain) {
        j["retry_chain"].push_back({{"id", e.id},
                                    {"retry_attempt", e.retry_attempt},
                                    {"status", store::ToString(e.status)}});
      }
    }
    // A workflow: its tasks' executions, in the order they were requested (host/workflow): from
    // its state while it runs, from its result (`tasks`) once it ended and its state is gone.
    auto workflow = store::LoadState(state->store(), found->id);
    Json tasks;
    if (workflow.ok() && *workflow) {
      tasks = (**workflow).value("tasks", Json::array());
    } else if (IsWorkflowAction(*state, found->action)) {
      tasks = Json::array();  // requested, not started yet: no children so far
      if (found->result.is_object() && found->result.contains("tasks") &&
          found->result["tasks"].is_array()) {
        tasks = found->result["tasks"];
      }
    }
    if (tasks.is_array()) {
      j["children"] = Json::array();
      for (const auto& t : tasks) {
        if (!t.is_object()) continue;
        auto child = state->store().GetExecution(t.value("execution_id", ""));
        if (child.ok() && *child && (**child).parent == found->id) {
          j["children"].push_back(ExecutionJson(**child));
        }
      }
    }
    return HttpResponse::Json(200, j);
  });
  router.Add("GET", "/v1/executions/{id}/output",
             [state](HttpRequest& request) { return Output(*state, request); });
  router.Add("DELETE", "/v1/executions/{id}",
             [state](HttpRequest& request) { return Cancel(*state, request); });
  router.Add("PUT", "/v1/executions/{id}",
             [state](HttpRequest& request) { return Update(*state, request); });
  router.Add("POST", "/v1/executions/{id}/pause", [state](HttpRequest& request) {
    return PauseOrResume(*state, request.params.at("id"), store::ExecStatus::kPausing);
  });
  router.Add("POST", "/v1/executions/{id}/resume", [state](HttpRequest& request) {
    return PauseOrResume(*state, request.params.at("id"), store::ExecStatus::kResuming);
  });
  router.Add("POST", "/v1/executions/{id}/re_run",
             [state](HttpRequest& request) { return ReRun(*state, request); });
}

}  // namespace gale::api

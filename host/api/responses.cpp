// Shared pieces of route handlers: request bodies, store errors, execution documents.
#include <spdlog/spdlog.h>

#include "host/api/api_state.h"
#include "host/bus/messages.h"
#include "host/common/input_limits.h"

namespace gale::api {

Result<Json> JsonBody(const HttpRequest& request) {
  if (request.body.empty()) return Json::object();
  if (Status within = CheckJsonText(request.body); !within.ok()) {
    return Status::Error("request body: " + within.message());
  }
  try {
    Json body = Json::parse(request.body);
    if (!body.is_object()) return Status::Error("request body must be a JSON object");
    return body;
  } catch (const Json::parse_error& e) {
    return Status::Error(std::string("malformed JSON: ") + e.what());
  }
}

HttpResponse StoreError(const Status& status) {
  if (status.retryable()) {
    ClientLogLimit().Log(spdlog::level::warn, "store unavailable", "api: store unavailable: {}",
                         status.message());
    return HttpResponse::Error(503, "store unavailable; try again");
  }
  return HttpResponse::Internal("store", status.message());
}

std::optional<HttpResponse> HeldBack(State& state, const std::string& topic) {
  // Two seconds: long enough to ride out a short burst, short enough for a client's timeout.
  if (!state.hooks.bus_wait_released ||
      state.hooks.bus_wait_released(topic, std::chrono::seconds(2))) {
    return std::nullopt;
  }
  HttpResponse busy = HttpResponse::Error(
      503, "bus: " + topic + " is held back until its consumers catch up; retry later");
  busy.headers.emplace_back("Retry-After", "5");
  return busy;
}

Json ExecutionJson(const store::Execution& e) {
  Json log = Json::array();
  for (const auto& change : e.log) {
    log.push_back(
        {{"status", store::ToString(change.status)}, {"at", change.at}, {"node", change.node}});
  }
  Json j = {{"id", e.id},
            {"action", e.action},
            {"parameters", e.parameters},
            {"status", store::ToString(e.status)},
            {"rule", e.rule},
            {"trigger_instance", e.trigger_instance},
            {"trace_id", e.trace_id},
            {"node", e.node},
            {"requested_at", e.requested_at},
            {"started_at", e.started_at},
            {"finished_at", e.finished_at},
            {"attempt", e.attempt},
            {"retry_of", e.retry_of},
            {"retry_attempt", e.retry_attempt},
            {"result", e.result},
            {"log", log}};
  // A workflow's task: its workflow's execution and task name.
  if (!e.parent.empty()) {
    j["parent"] = e.parent;
    j["task"] = e.task;
  }
  return j;
}

void PublishExecutionEvent(State& state, const store::Execution& e) {
  bus::ExecutionEventMessage event;
  event.id = e.id;
  event.status = store::ToString(e.status);
  event.at = store::NowMs();
  event.node = state.options.node_name;
  if (!e.result.is_null()) event.result = e.result;
  event.parent = e.parent;
  event.task = e.task;
  state.producer
      ->Produce(bus::Topic(state.options.bus, bus::kExecutionEvents), e.id, bus::Encode(event))
      .ok();
}

}  // namespace gale::api

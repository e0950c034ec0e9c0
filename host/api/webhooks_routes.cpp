// /v1/webhooks: StackStorm's webhooks. POST /v1/webhooks/NAME fires core.st2.webhook for the
// rules whose trigger parameter `url` is NAME (payload {headers, body}); POST /v1/webhooks/st2
// fires any trigger type with {trigger, payload} (payload checked against its schema).
#include "host/api/api_state.h"
#include "host/bus/messages.h"

namespace gale::api {
namespace {

HttpResponse Fire(State& state, const std::string& trigger, const Json& payload,
                  const Json& trigger_parameters) {
  auto instance =
      bus::TriggerInstanceMessage::New(trigger, payload, "api", state.options.node_name);
  if (trigger_parameters.is_object()) instance.trigger_parameters = trigger_parameters;
  auto produced =
      state.producer->ProduceSync(bus::Topic(state.options.bus, bus::kTriggers), instance.id,
                                  bus::Encode(instance), std::chrono::seconds(10));
  if (!produced.ok()) return HttpResponse::Error(503, "bus: " + produced.message());
  return HttpResponse::Json(202, bus::ToJson(instance));
}

HttpResponse Generic(State& state, const HttpRequest& request) {
  auto body = JsonBody(request);
  if (!body.ok()) return HttpResponse::Error(400, body.message());
  if (!body->contains("trigger") || !(*body)["trigger"].is_string()) {
    return HttpResponse::Error(400, "'trigger' (a trigger type ref) is required");
  }
  const std::string trigger = (*body)["trigger"].get<std::string>();
  Json payload = body->value("payload", Json::object());
  if (!payload.is_object()) return HttpResponse::Error(400, "'payload' must be an object");
  auto catalog = state.Catalog();
  auto it = catalog->payload_validators.find(trigger);
  if (it == catalog->payload_validators.end()) {
    return HttpResponse::Error(400, "trigger type '" + trigger + "' not found");
  }
  auto violations = it->second.Validate(payload);
  if (!violations.empty()) {
    std::string reason = "payload does not match trigger type '" + trigger + "': ";
    for (size_t i = 0; i < violations.size(); ++i) {
      reason += (i ? "; " : "") + schema::Format(violations[i]);
    }
    return HttpResponse::Error(400, reason);
  }
  return Fire(state, trigger, payload, body->value("trigger_parameters", Json::object()));
}

HttpResponse Named(State& state, const HttpRequest& request) {
  const std::string name = request.params.at("name");
  if (!state.Catalog()->webhooks.count(name)) {
    return HttpResponse::Error(404, "no rule listens on webhook '" + name + "'");
  }
  Json body;
  if (request.Header("content-type").find("json") != std::string::npos) {
    try {
      body = Json::parse(request.body);
    } catch (const Json::parse_error& e) {
      return HttpResponse::Error(400, std::string("malformed JSON: ") + e.what());
    }
  } else {
    body = request.body;  // form posts and plain text arrive as they are
  }
  Json headers = Json::object();
  for (const auto& [h, v] : request.headers) {
    if (h != "st2-api-key" && h != "authorization") headers[h] = v;  // never record credentials
  }
  return Fire(state, "core.st2.webhook", {{"headers", headers}, {"body", body}}, {{"url", name}});
}

}  // namespace

void AddWebhookRoutes(Router& router, const std::shared_ptr<State>& state) {
  router.Add("POST", "/v1/webhooks/st2",
             [state](HttpRequest& request) { return Generic(*state, request); });
  router.Add("POST", "/v1/webhooks/{name}",
             [state](HttpRequest& request) { return Named(*state, request); });
}

}  // namespace gale::api

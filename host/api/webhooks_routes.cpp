// /v1/webhooks: StackStorm's webhooks. POST /v1/webhooks/NAME fires core.st2.webhook for the
// rules whose trigger parameter `url` is NAME (payload {headers, body}); POST /v1/webhooks/st2
// fires any trigger type with {trigger, payload} (payload checked against its schema). A NAME
// whose rules declare a secret is let in by CheckWebhookSignature (GitHub's X-Hub-Signature-256)
// instead of an API key: see access.cpp.
#include <spdlog/spdlog.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "host/api/api_state.h"
#include "host/bus/messages.h"
#include "host/common/hex.h"
#include "host/common/hmac.h"
#include "host/common/input_limits.h"
#include "host/requests/trigger_fire.h"

namespace gale::api {
namespace {

// The value of one declared secret, read now; the error names where it lives, never the value.
Result<std::string> ReadSecret(State& state, const packs::WebhookSecret& secret) {
  std::string value;
  if (secret.source == packs::WebhookSecret::Source::kFile) {
    if (secret.where.empty()) return Status::Error("no secret file");
    std::ifstream in(secret.where, std::ios::binary);
    if (!in) {
      return Status::Error(std::string("cannot read it: ") + std::strerror(errno));
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return Status::Error("cannot read it");
    value = text.str();
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  } else {
    const store::KeyRef ref{secret.where, store::KeyScope::kSystem, ""};
    GALE_ASSIGN_OR_RETURN(auto got, state.store().GetKey(ref, store::NowMs()));
    if (!got.has_value()) return Status::Error("no such key");
    value = got->value;
    if (got->secret) {
      GALE_ASSIGN_OR_RETURN(auto plain, state.cipher->Decrypt(ref, value));
      value = std::move(plain);
    }
  }
  // Anyone can sign with an empty key: that is no secret.
  if (value.empty()) return Status::Error("it is empty");
  return value;
}

HttpResponse Unauthorized(const std::string& name, const std::string& why) {
  return HttpResponse::Error(
      401, "webhook '" + name + "' takes only requests signed with its secret (" + why +
               "): X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>");
}

HttpResponse Fire(State& state, const std::string& trigger, const Json& payload,
                  const Json& trigger_parameters) {
  auto instance =
      bus::TriggerInstanceMessage::New(trigger, payload, "api", state.options.node_name);
  if (trigger_parameters.is_object()) instance.trigger_parameters = trigger_parameters;
  const std::string topic = bus::Topic(state.options.bus, bus::kTriggers);
  if (auto busy = HeldBack(state, topic)) return std::move(*busy);
  // Recorded before it is answered, so a 2xx is never lost (requests/trigger_fire.h).
  if (Status fired = requests::FireTrigger(state.store(), *state.producer, topic, instance);
      !fired.ok()) {
    return HttpResponse::Error(503, fired.message());
  }
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
  if (Status checked =
          requests::CheckTriggerPayload(state.Catalog()->payload_validators, trigger, payload);
      !checked.ok()) {
    return HttpResponse::Error(400, checked.message());
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
    if (Status within = CheckJsonText(request.body); !within.ok()) {
      return HttpResponse::Error(400, "request body: " + within.message());
    }
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

std::variant<bool, HttpResponse> CheckWebhookSignature(State& state, const HttpRequest& request,
                                                       const std::string& name) {
  auto catalog = state.Catalog();
  auto it = catalog->webhooks.find(name);
  if (it == catalog->webhooks.end() || it->second.empty()) return false;
  std::string given = request.Header("x-hub-signature-256");
  if (given.empty()) return Unauthorized(name, "X-Hub-Signature-256 missing");
  for (auto& c : given) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::string prefix = "sha256=";
  bool well_formed = given.size() == prefix.size() + 64 && given.rfind(prefix, 0) == 0;
  for (size_t i = prefix.size(); well_formed && i < given.size(); ++i) {
    well_formed = HexDigitValue(given[i]) >= 0;
  }
  if (!well_formed) return Unauthorized(name, "X-Hub-Signature-256 malformed");
  given.erase(0, prefix.size());
  for (const auto& declared : it->second) {
    auto secret = ReadSecret(state, declared.secret);
    if (!secret.ok()) {
      if (secret.status().retryable()) return StoreError(secret.status());
      ClientLogLimit().Log(spdlog::level::err, "webhook secret " + declared.rule,
                           "webhook '{}': rule {}: its secret ({}) is unusable: {}", name,
                           declared.rule, packs::Describe(declared.secret), secret.message());
      continue;
    }
    const std::string mac = HmacSha256(*secret, request.body);
    if (!mac.empty() && ConstantTimeEquals(HexEncode(mac), given)) return true;
  }
  return Unauthorized(name, "X-Hub-Signature-256 does not match");
}

void AddWebhookRoutes(Router& router, const std::shared_ptr<State>& state) {
  router.Add("POST", "/v1/webhooks/st2",
             [state](HttpRequest& request) { return Generic(*state, request); });
  router.Add("POST", "/v1/webhooks/{name}",
             [state](HttpRequest& request) { return Named(*state, request); });
}

}  // namespace gale::api

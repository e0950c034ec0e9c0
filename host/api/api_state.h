// What every route of the API shares (internal to host/api).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <variant>
#include <vector>

#include "host/api/access.h"
#include "host/api/api_server.h"
#include "host/api/router.h"
#include "host/packs/webhook_secret.h"
#include "host/requests/execution_request.h"
#include "host/schema/validator.h"
#include "host/store/key_cipher.h"

namespace gale::api {

// The active packs as the API serves them; immutable, swapped on reload.
struct ApiCatalog {
  packs::Catalog catalog;
  std::map<std::string, std::shared_ptr<const requests::CompiledAction>> actions;
  std::map<std::string, schema::Validator> payload_validators;  // trigger type ref -> payload
  // `url` of every core.st2.webhook rule -> the secrets its rules declare (packs/webhook_secret.h)
  // with the rule declaring each; a url with any secret takes only signed requests.
  struct WebhookSecretOf {
    std::string rule;
    packs::WebhookSecret secret;
  };
  std::map<std::string, std::vector<WebhookSecretOf>> webhooks;
};

struct ApiServer::State {
  ApiOptions options;
  ApiHooks hooks;
  std::unique_ptr<bus::Producer> producer;
  std::optional<store::KeyCipher> cipher;
  std::atomic<bool> stopping{false};

  std::mutex catalog_mu;
  std::shared_ptr<const ApiCatalog> catalog;
  std::shared_ptr<const ApiCatalog> Catalog() {
    std::lock_guard lock(catalog_mu);
    return catalog;
  }
  store::Store& store() { return *options.store; }

  // Set once the server is bound (the Host check needs the real port); until then requests
  // get 503.
  std::mutex policy_mu;
  std::shared_ptr<const AccessPolicy> policy;
  std::shared_ptr<const AccessPolicy> Policy() {
    std::lock_guard lock(policy_mu);
    return policy;
  }
};
using State = ApiServer::State;

void AddExecutionRoutes(Router& router, const std::shared_ptr<State>& state);
void AddKeyRoutes(Router& router, const std::shared_ptr<State>& state);
void AddWebhookRoutes(Router& router, const std::shared_ptr<State>& state);
void AddCatalogRoutes(Router& router, const std::shared_ptr<State>& state);
void AddStreamRoutes(Router& router, const std::shared_ptr<State>& state);
void AddMetricsRoutes(Router& router, const std::shared_ptr<State>& state);

// The door of a signed webhook (POST /v1/webhooks/NAME where a rule on NAME declares a secret):
// false when NAME declares none (an API key is then needed, as everywhere); true when `request`
// carries X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of its body> under one of the secrets
// (no API key needed); else the response refusing it (401, or 503 when the store cannot answer).
// The secrets are read now, so a rotated file or datastore key counts without a reload.
std::variant<bool, HttpResponse> CheckWebhookSignature(State& state, const HttpRequest& request,
                                                       const std::string& name);

// Runs `request` through the doors of access.h, then the router.
HttpResponse PassDoors(State& state, const AccessPolicy& policy, HttpRequest& request,
                       const Router& router);

// The body as a JSON object, or the 400 to answer ("malformed JSON: ...").
Result<Json> JsonBody(const HttpRequest& request);
// 503 for a retryable store error, 500 (InternalError) otherwise.
HttpResponse StoreError(const Status& status);
// A 503 with Retry-After when the embedded bus holds back the producers of `topic` and does
// not release them within a short wait (bus::RetentionGuard); nullopt when the caller may
// produce. Asked before anything is recorded, so a refused request leaves no trace.
std::optional<HttpResponse> HeldBack(State& state, const std::string& topic);
Json ExecutionJson(const store::Execution& e);
// Produces e's current status to <prefix>execution-events (what /v1/stream shows); best effort.
void PublishExecutionEvent(State& state, const store::Execution& e);

}  // namespace gale::api

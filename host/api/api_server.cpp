#include "host/api/api_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/address.hpp>

#include "host/api/api_keys.h"
#include "host/api/api_state.h"
#include "host/requests/trigger_fire.h"

namespace gale::api {
namespace {

std::shared_ptr<const ApiCatalog> BuildCatalog(const packs::Catalog& catalog) {
  auto out = std::make_shared<ApiCatalog>();
  out->catalog = catalog;
  out->payload_validators = requests::PayloadValidatorsOf(catalog);
  for (const auto& pack : catalog.packs()) {
    if (!pack.ok()) continue;
    for (const auto& a : pack.actions) {
      out->actions.emplace(a.ref, requests::CompileAction(a, pack.config));
    }
    for (const auto& r : pack.rules) {
      if (r.trigger_type == "core.st2.webhook" && r.trigger_parameters.contains("url") &&
          r.trigger_parameters["url"].is_string()) {
        std::string url = r.trigger_parameters["url"].get<std::string>();
        while (!url.empty() && url.front() == '/') url.erase(0, 1);
        auto& secrets = out->webhooks[url];
        // The pack reader refuses a bad declaration, so a pack that got here has none; were one
        // to slip through, an empty file path keeps the door shut (no secret reads from it).
        auto secret = packs::ParseWebhookSecret(r.trigger_parameters);
        if (!secret.ok()) {
          secrets.push_back({r.ref, packs::WebhookSecret{}});
        } else if (secret->has_value()) {
          secrets.push_back({r.ref, **secret});
        }
      }
    }
  }
  return out;
}

HttpResponse Serve(State& state, HttpRequest& request, const Router& router) {
  auto policy = state.Policy();
  if (!policy) return HttpResponse::Error(503, "the API is starting; try again");
  return PassDoors(state, *policy, request, router);
}

// The doors for a server bound to `bound`; warns when anonymous_loopback opens one.
std::shared_ptr<AccessPolicy> BuildPolicy(const ApiOptions& options, const std::string& bound) {
  auto policy = std::make_shared<AccessPolicy>();
  policy->loopback = IsLoopbackListen(options.server.listen);
  policy->anonymous_loopback = options.anonymous_loopback && policy->loopback;
  policy->node_token = options.node_token;
  policy->hosts = AllowedHosts(bound, options.hostnames);
  policy->cors_origins = {options.cors_origins.begin(), options.cors_origins.end()};
  if (policy->anonymous_loopback) {
    spdlog::warn(
        "api.anonymous_loopback is on: every local user, and every action with network, can use "
        "the API without a key");
  } else if (options.anonymous_loopback) {
    spdlog::warn("api.anonymous_loopback ignored: {} is not loopback", options.server.listen);
  }
  spdlog::info(
      "api listening on http://{}{}", bound,
      policy->anonymous_loopback ? " (anonymous loopback access)" : " (API keys required)");
  return policy;
}

}  // namespace

bool IsLoopbackListen(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host == "localhost") return true;
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}

Result<std::unique_ptr<ApiServer>> ApiServer::Start(ApiOptions options, ApiHooks hooks,
                                                    const packs::Catalog& catalog) {
  if (options.store == nullptr) return Status::Error("api: no store");
  auto state = std::make_shared<State>();
  GALE_ASSIGN_OR_RETURN(auto cipher, store::KeyCipher::LoadOrCreate(options.key_file));
  state->cipher = std::move(cipher);
  auto producer = bus::Producer::Create(options.bus);
  if (!producer.ok()) return producer.status().WithContext("api: producer");
  state->producer = std::move(producer).value();
  state->options = std::move(options);
  state->hooks = std::move(hooks);
  state->catalog = BuildCatalog(catalog);

  auto router = std::make_shared<Router>();
  AddExecutionRoutes(*router, state);
  AddKeyRoutes(*router, state);
  AddWebhookRoutes(*router, state);
  AddCatalogRoutes(*router, state);
  AddStreamRoutes(*router, state);
  AddMetricsRoutes(*router, state);

  std::unique_ptr<ApiServer> api(new ApiServer());
  api->state_ = state;
  auto server = HttpServer::Start(state->options.server, [state, router](HttpRequest& request) {
    return Serve(*state, request, *router);
  });
  if (!server.ok()) return server.status();
  api->server_ = std::move(server).value();
  auto policy = BuildPolicy(state->options, api->server_->address());
  {
    std::lock_guard lock(state->policy_mu);
    state->policy = std::move(policy);
  }
  return api;
}

ApiServer::~ApiServer() {
  Stop();
}

void ApiServer::UpdateCatalog(const packs::Catalog& catalog) {
  auto built = BuildCatalog(catalog);
  std::lock_guard lock(state_->catalog_mu);
  state_->catalog = std::move(built);
}

std::string ApiServer::address() const {
  return server_ ? server_->address() : "";
}

void ApiServer::Stop() {
  if (!state_ || state_->stopping.exchange(true)) return;
  if (server_) server_->Stop();
  server_.reset();
  // The producer's threads must end here, not at exit (they log through spdlog).
  if (state_->producer) state_->producer->Flush(std::chrono::seconds(5)).ok();
  state_->producer.reset();
}

}  // namespace gale::api

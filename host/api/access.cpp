#include "host/api/access.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <variant>

#include "host/api/api_state.h"

namespace gale::api {
namespace {

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Segments as the router matches them ("//v1//keys" is /v1/keys there, so here too).
bool IsRoute(const std::vector<std::string>& segments, std::initializer_list<const char*> want) {
  return segments.size() >= want.size() && std::equal(want.begin(), want.end(), segments.begin());
}

bool IsWebhook(const HttpRequest& request, const std::vector<std::string>& segments) {
  return request.method == "POST" && segments.size() == 3 && IsRoute(segments, {"v1", "webhooks"});
}

bool IsWrite(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

bool IsJson(const std::string& content_type) {
  std::string media = Lower(content_type.substr(0, content_type.find(';')));
  std::erase_if(media, [](unsigned char c) { return std::isspace(c); });
  return media == "application/json";
}

// The caller's scope, or the response refusing it.
std::variant<ApiScope, HttpResponse> Authenticate(State& state, const AccessPolicy& policy,
                                                  const HttpRequest& request,
                                                  const std::vector<std::string>& segments) {
  std::string key = request.Header("st2-api-key");
  // StackStorm's webhook senders put the key in the URL; anywhere else it would end in logs
  // and browser histories, so it counts for nothing there.
  if (key.empty() && IsWebhook(request, segments)) key = request.Query("st2-api-key");
  if (!key.empty()) {
    if (!policy.node_token.empty() && SameSecret(key, policy.node_token)) return ApiScope::kAdmin;
    auto scope = VerifyApiKey(state.store(), key);
    if (!scope.ok()) return StoreError(scope.status());
    if (!*scope) return HttpResponse::Error(401, "API key not valid");
    return **scope;
  }
  if (segments == std::vector<std::string>{"metrics"} && policy.loopback) return ApiScope::kRead;
  if (policy.anonymous_loopback && policy.loopback) return ApiScope::kAdmin;
  std::string message =
      "this API needs an API key in the St2-Api-Key header (the node's user: $GALE_HOME/api.token, "
      "which the CLI reads; others: 'gale apikey create')";
  if (!request.Query("st2-api-key").empty()) {
    message += "; a key in the query string counts on webhook routes only";
  }
  return HttpResponse::Error(401, message);
}

void AddCors(HttpResponse& response, const std::string& origin) {
  response.headers.emplace_back("Access-Control-Allow-Origin", origin);
  response.headers.emplace_back("Vary", "Origin");
}

HttpResponse Preflight(const std::string& origin) {
  HttpResponse r;
  r.status = 204;
  AddCors(r, origin);
  r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE");
  r.headers.emplace_back("Access-Control-Allow-Headers", "St2-Api-Key, Content-Type");
  r.headers.emplace_back("Access-Control-Max-Age", "600");
  return r;
}

}  // namespace

std::set<std::string> AllowedHosts(const std::string& bound,
                                   const std::vector<std::string>& hostnames) {
  std::set<std::string> out = {Lower(bound)};
  const std::string port = bound.substr(bound.rfind(':') + 1);
  std::string host = bound.substr(0, bound.rfind(':'));
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  // Bound to every address: loopback is one of them.
  if (IsLoopbackListen(bound) || host == "0.0.0.0" || host == "::") {
    for (const char* name : {"localhost:", "127.0.0.1:", "[::1]:"}) out.insert(name + port);
  }
  for (const auto& name : hostnames) {
    const std::string lower = Lower(name);
    out.insert(lower);
    const size_t colon = lower.rfind(':'), bracket = lower.rfind(']');
    const bool has_port =
        colon != std::string::npos &&
        (bracket == std::string::npos ? lower.find(':') == colon : colon > bracket);
    if (!has_port) out.insert(lower + ":" + port);
  }
  return out;
}

ApiScope RequiredScope(const HttpRequest& request) {
  const std::vector<std::string> segments = SplitPath(request.path);
  if (!IsWrite(request.method)) {
    const bool decrypt = IsRoute(segments, {"v1", "keys"}) && request.QueryFlag("decrypt");
    return decrypt ? ApiScope::kAdmin : ApiScope::kRead;
  }
  if (IsRoute(segments, {"v1", "executions"})) return ApiScope::kRun;  // run, cancel, re-run
  if (IsWebhook(request, segments)) return ApiScope::kRun;
  return ApiScope::kAdmin;  // datastore writes, rule overrides, pack reloads
}

HttpResponse PassDoors(State& state, const AccessPolicy& policy, HttpRequest& request,
                       const Router& router) {
  const std::vector<std::string> segments = SplitPath(request.path);
  if (segments == std::vector<std::string>{"healthz"}) return router.Dispatch(request);

  const std::string host = Lower(request.Header("host"));
  if (!policy.hosts.count(host)) {
    return HttpResponse::Error(
        421, "Host '" + host + "' does not name this API; add it to api.hostnames");
  }
  const std::string origin = request.Header("origin");
  const bool cross_origin = !origin.empty() && Lower(origin) != "http://" + host;
  if (cross_origin && !policy.cors_origins.count(origin)) {
    return HttpResponse::Error(
        403, "cross-origin request from '" + origin + "' refused; list it in api.cors_origins");
  }
  if (cross_origin && request.method == "OPTIONS") return Preflight(origin);

  // A webhook whose rules declare a secret takes its signature instead of an API key (GitHub
  // cannot send one), and nothing else: a key without the signature is refused too.
  if (IsWebhook(request, segments) && segments[2] != "st2") {
    auto signed_door = CheckWebhookSignature(state, request, UrlDecode(segments[2], false));
    if (auto* refused = std::get_if<HttpResponse>(&signed_door)) return std::move(*refused);
    if (std::get<bool>(signed_door)) {
      HttpResponse response = router.Dispatch(request);
      if (cross_origin) AddCors(response, origin);
      return response;
    }
  }
  auto caller = Authenticate(state, policy, request, segments);
  if (auto* refused = std::get_if<HttpResponse>(&caller)) return std::move(*refused);
  const ApiScope scope = std::get<ApiScope>(caller);
  const ApiScope needed = RequiredScope(request);
  if (scope < needed) {
    return HttpResponse::Error(403, std::string("this API key's scope '") + ToString(scope) +
                                        "' does not allow " + request.method + " " + request.path +
                                        " (needs '" + ToString(needed) + "')");
  }
  if (IsWrite(request.method) && !IsWebhook(request, segments) &&
      !IsJson(request.Header("content-type"))) {
    return HttpResponse::Error(
        415, request.method + " " + request.path + " needs Content-Type: application/json");
  }
  HttpResponse response = router.Dispatch(request);
  if (cross_origin) AddCors(response, origin);
  return response;
}

}  // namespace gale::api

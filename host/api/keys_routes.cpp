// /v1/keys: StackStorm's datastore (st2kv.system and st2kv.user scopes, TTLs, encrypted values).
// An encrypted value is stored sealed (key_cipher.h) and shown sealed unless `decrypt=true`.
#include "host/api/api_state.h"

namespace gale::api {
namespace {

struct Scope {
  store::KeyScope scope = store::KeyScope::kSystem;
  std::string user;
};

// scope=st2kv.system (default) | st2kv.user with user=NAME; "system"/"user" are accepted too.
Result<Scope> ScopeOf(const std::string& scope, const std::string& user) {
  if (scope.empty() || scope == "st2kv.system" || scope == "system") return Scope{};
  if (scope == "st2kv.user" || scope == "user") {
    if (user.empty()) return Status::Error("scope st2kv.user needs a user (?user=NAME)");
    return Scope{store::KeyScope::kUser, user};
  }
  return Status::Error("unknown scope '" + scope + "' (st2kv.system or st2kv.user)");
}

Json KeyJson(State& state, const store::KeyValue& kv, bool decrypt) {
  Json j = {{"name", kv.name},
            {"scope", kv.scope == store::KeyScope::kUser ? "st2kv.user" : "st2kv.system"},
            {"secret", kv.secret},
            {"encrypted", kv.secret && !decrypt},
            {"expire_at", kv.expire_at},
            {"updated_at", kv.updated_at}};
  if (kv.scope == store::KeyScope::kUser) j["user"] = kv.user;
  if (kv.secret && decrypt) {
    auto plain = state.cipher->Decrypt({kv.name, kv.scope, kv.user}, kv.value);
    j["value"] = plain.ok() ? *plain : "";
    if (!plain.ok()) j["error"] = plain.message();
  } else {
    j["value"] = kv.value;
  }
  return j;
}

HttpResponse Put(State& state, const HttpRequest& request) {
  auto body = JsonBody(request);
  if (!body.ok()) return HttpResponse::Error(400, body.message());
  if (!body->contains("value") || !(*body)["value"].is_string()) {
    return HttpResponse::Error(400, "'value' (a string) is required");
  }
  auto scope = ScopeOf(body->value("scope", request.Query("scope")),
                       body->value("user", request.Query("user")));
  if (!scope.ok()) return HttpResponse::Error(400, scope.message());
  const bool secret = body->value("secret", false) || body->value("encrypt", false);
  const store::TimeMs now = store::NowMs();
  store::KeyValue kv;
  kv.name = request.params.at("name");
  kv.scope = scope->scope;
  kv.user = scope->user;
  kv.secret = secret;
  const std::string value = (*body)["value"].get<std::string>();
  if (secret) {
    // Sealed for this key: a copy moved into another key does not open there.
    auto sealed = state.cipher->Encrypt({kv.name, kv.scope, kv.user}, value);
    if (!sealed.ok()) return HttpResponse::Error(500, sealed.message());
    kv.value = std::move(sealed).value();
  } else {
    kv.value = value;
  }
  if (body->contains("ttl")) {
    const Json& ttl = (*body)["ttl"];
    if (!ttl.is_number() || ttl.get<double>() <= 0) {
      return HttpResponse::Error(400, "'ttl' must be a positive number of seconds");
    }
    kv.expire_at = now + static_cast<store::TimeMs>(ttl.get<double>() * 1000);
  }
  if (Status s = state.store().SetKey(kv, now); !s.ok()) {
    // Size limits and bad names are the caller's; never echo the value back.
    return s.retryable() ? StoreError(s) : HttpResponse::Error(400, s.message());
  }
  kv.updated_at = now;
  return HttpResponse::Json(200, KeyJson(state, kv, false));
}

}  // namespace

void AddKeyRoutes(Router& router, const std::shared_ptr<State>& state) {
  router.Add("GET", "/v1/keys", [state](HttpRequest& request) {
    auto scope = ScopeOf(request.Query("scope"), request.Query("user"));
    if (!scope.ok()) return HttpResponse::Error(400, scope.message());
    auto keys =
        state->store().ListKeys(scope->scope, scope->user, request.Query("prefix"), store::NowMs());
    if (!keys.ok()) return StoreError(keys.status());
    const bool decrypt = request.QueryFlag("decrypt");
    Json out = Json::array();
    for (const auto& kv : *keys) out.push_back(KeyJson(*state, kv, decrypt));
    return HttpResponse::Json(200, out);
  });
  router.Add("GET", "/v1/keys/{name}", [state](HttpRequest& request) {
    auto scope = ScopeOf(request.Query("scope"), request.Query("user"));
    if (!scope.ok()) return HttpResponse::Error(400, scope.message());
    const std::string name = request.params.at("name");
    auto got = state->store().GetKey({name, scope->scope, scope->user}, store::NowMs());
    if (!got.ok()) return StoreError(got.status());
    if (!got->has_value()) return HttpResponse::Error(404, "key '" + name + "' not found");
    return HttpResponse::Json(200, KeyJson(*state, **got, request.QueryFlag("decrypt")));
  });
  router.Add("PUT", "/v1/keys/{name}",
             [state](HttpRequest& request) { return Put(*state, request); });
  router.Add("DELETE", "/v1/keys/{name}", [state](HttpRequest& request) {
    auto scope = ScopeOf(request.Query("scope"), request.Query("user"));
    if (!scope.ok()) return HttpResponse::Error(400, scope.message());
    const std::string name = request.params.at("name");
    auto deleted = state->store().DeleteKey({name, scope->scope, scope->user});
    if (!deleted.ok()) return StoreError(deleted.status());
    if (!*deleted) return HttpResponse::Error(404, "key '" + name + "' not found");
    HttpResponse r;
    r.status = 204;
    return r;
  });
}

}  // namespace gale::api

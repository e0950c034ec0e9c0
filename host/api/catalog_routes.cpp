// /v1/packs, /v1/actions, /v1/rules, /v1/policies, /v1/sensors: what the node runs. Rule
// enable/disable is stored (host/store/rule_overrides.h) so every node applies it, and this node's
// engine at once.
#include <map>

#include "host/api/api_state.h"
#include "host/store/rule_overrides.h"

namespace gale::api {
namespace {

Json Origin(const packs::Origin& o) {
  return o.file + ":" + std::to_string(o.line);
}

HttpResponse Packs(State& state) {
  Json out = Json::array();
  for (const auto& p : state.Catalog()->catalog.packs()) {
    Json j = {{"ref", p.ref},
              {"name", p.name},
              {"version", p.version},
              {"description", p.description},
              {"dir", p.dir},
              {"errors", p.errors},
              {"sensors", p.sensors.size()},
              {"actions", p.actions.size()},
              {"rules", p.rules.size()},
              {"policies", p.policies.size()},
              {"trigger_types", p.trigger_types.size()}};
    // Resources left out of a pack that loads (partial registration), each with its errors.
    j["refused"] = Json::array();
    for (const auto& r : p.refused) {
      j["refused"].push_back(
          {{"kind", r.kind}, {"ref", r.ref}, {"file", r.file}, {"errors", r.errors}});
    }
    out.push_back(j);
  }
  return HttpResponse::Json(200, out);
}

HttpResponse Actions(State& state) {
  Json out = Json::array();
  for (const auto& p : state.Catalog()->catalog.packs()) {
    if (!p.ok()) continue;
    for (const auto& a : p.actions) {
      out.push_back({{"ref", a.ref},
                     {"pack", a.pack},
                     {"runner_type", a.runner_type},
                     {"description", a.description},
                     {"enabled", a.enabled},
                     {"parameters", a.parameters},
                     {"origin", Origin(a.origin)}});
    }
  }
  return HttpResponse::Json(200, out);
}

HttpResponse Rules(State& state) {
  auto overrides = store::ReadRuleOverrides(state.store());
  if (!overrides.ok()) return StoreError(overrides.status());
  Json out = Json::array();
  for (const auto& p : state.Catalog()->catalog.packs()) {
    if (!p.ok()) continue;
    for (const auto& r : p.rules) {
      auto it = overrides->find(r.ref);
      out.push_back({{"ref", r.ref},
                     {"pack", r.pack},
                     {"enabled", it == overrides->end() ? r.enabled : it->second},
                     {"trigger", {{"type", r.trigger_type}, {"parameters", r.trigger_parameters}}},
                     {"action", {{"ref", r.action_ref}, {"parameters", r.action_parameters}}},
                     {"criteria", r.criteria},
                     {"description", r.description},
                     {"origin", Origin(r.origin)}});
    }
  }
  return HttpResponse::Json(200, out);
}

// StackStorm's policy records: those in force on the node's valid packs.
HttpResponse Policies(State& state) {
  Json out = Json::array();
  for (const auto& p : state.Catalog()->catalog.packs()) {
    if (!p.ok()) continue;
    for (const auto& r : p.policies) {
      out.push_back({{"ref", r.ref},
                     {"pack", r.pack},
                     {"name", r.name},
                     {"description", r.description},
                     {"enabled", r.enabled},
                     {"resource_ref", r.resource_ref},
                     {"policy_type", r.policy_type},
                     {"parameters", r.parameters},
                     {"origin", Origin(r.origin)}});
    }
  }
  return HttpResponse::Json(200, out);
}

HttpResponse Sensors(State& state) {
  auto statuses = state.store().ListSensorStatus("");
  if (!statuses.ok()) return StoreError(statuses.status());
  std::map<std::string, Json> by_ref;
  for (const auto& s : *statuses) {
    by_ref[s.ref] = {{"state", s.state},
                     {"node", s.node},
                     {"restarts", s.restarts},
                     {"last_error", s.last_error},
                     {"updated_at", s.updated_at}};
  }
  Json out = Json::array();
  for (const auto& p : state.Catalog()->catalog.packs()) {
    if (!p.ok()) continue;
    for (const auto& s : p.sensors) {
      Json j = {{"ref", s.ref},           {"pack", p.ref},
                {"enabled", s.enabled},   {"trigger_types", s.trigger_types},
                {"state", "not running"}, {"node", ""},
                {"restarts", 0},          {"last_error", ""}};
      if (auto it = by_ref.find(s.ref); it != by_ref.end()) j.update(it->second);
      out.push_back(j);
    }
  }
  return HttpResponse::Json(200, out);
}

HttpResponse SetRule(State& state, const HttpRequest& request) {
  const std::string ref = request.params.at("ref");
  auto body = JsonBody(request);
  if (!body.ok()) return HttpResponse::Error(400, body.message());
  if (!body->contains("enabled") || !(*body)["enabled"].is_boolean()) {
    return HttpResponse::Error(400, "'enabled' (true or false) is required");
  }
  const bool enabled = (*body)["enabled"].get<bool>();
  bool known = false;
  for (const auto& p : state.Catalog()->catalog.packs()) {
    for (const auto& r : p.rules) known = known || (p.ok() && r.ref == ref);
  }
  if (!known) return HttpResponse::Error(404, "rule '" + ref + "' not found");
  if (Status s = store::WriteRuleOverride(state.store(), ref, enabled); !s.ok()) {
    return StoreError(s);
  }
  if (state.hooks.set_rule_enabled) {
    if (Status s = state.hooks.set_rule_enabled(ref, enabled); !s.ok()) {
      return HttpResponse::Error(409, s.message());
    }
  }
  return HttpResponse::Json(200, {{"ref", ref}, {"enabled", enabled}});
}

}  // namespace

void AddCatalogRoutes(Router& router, const std::shared_ptr<State>& state) {
  router.Add("GET", "/v1/packs", [state](HttpRequest&) { return Packs(*state); });
  router.Add("GET", "/v1/actions", [state](HttpRequest&) { return Actions(*state); });
  router.Add("GET", "/v1/rules", [state](HttpRequest&) { return Rules(*state); });
  router.Add("GET", "/v1/policies", [state](HttpRequest&) { return Policies(*state); });
  router.Add("GET", "/v1/sensors", [state](HttpRequest&) { return Sensors(*state); });
  router.Add("GET", "/v1/nodes", [state](HttpRequest&) {
    auto nodes = state->store().ListNodes();
    if (!nodes.ok()) return StoreError(nodes.status());
    const store::TimeMs now = store::NowMs();
    Json out = Json::array();
    for (const auto& n : *nodes) {
      out.push_back({{"name", n.name},
                     {"roles", n.roles},
                     {"started_at", n.started_at},
                     {"heartbeat_at", n.heartbeat_at},
                     {"last_seen_ms_ago", now - n.heartbeat_at},
                     {"alive", now - n.heartbeat_at < 10000},
                     {"info", n.info}});
    }
    return HttpResponse::Json(200, out);
  });
  router.Add("PUT", "/v1/rules/{ref}",
             [state](HttpRequest& request) { return SetRule(*state, request); });
  router.Add("POST", "/v1/packs/reload", [state](HttpRequest&) {
    if (!state->hooks.reload_packs) return HttpResponse::Error(503, "reload not available");
    const size_t active = state->hooks.reload_packs();
    return HttpResponse::Json(200, {{"active_packs", active}});
  });
}

}  // namespace gale::api

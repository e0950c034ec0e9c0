// The API server role (DESIGN.md "Processes"): executions, datastore keys, webhooks, packs,
// rules, sensors, the execution event stream, metrics and health over HTTP/1.1 (see
// docs/operations.md for every route). Bound to 127.0.0.1:9101 by default; every request needs
// the node's token or an API key, loopback included (access.h has every door).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "host/api/http_server.h"
#include "host/bus/bus.h"
#include "host/bus/retention_guard.h"
#include "host/common/result.h"
#include "host/packs/catalog.h"
#include "host/store/store.h"

namespace gale::api {

// What the API asks of the node it runs in; each may be empty (that part then answers 503).
struct ApiHooks {
  // Enables or disables a rule in this node's rules engine (the override is stored by the API).
  std::function<Status(const std::string& ref, bool enabled)> set_rule_enabled;
  // Rescans the packs directories now; returns how many packs are active afterwards.
  std::function<size_t()> reload_packs;
  // This node's gauges for /metrics: {"runner_slots_busy": n, "runner_slots": m, ...}.
  std::function<Json()> node_metrics;
  // The embedded bus's retention guard (both empty on an external bus): its last sample, for
  // /metrics, and a bounded wait until the producers of a topic are no longer held back.
  std::function<bus::RetentionGuard::Sample()> bus_retention;
  std::function<bool(const std::string& topic, std::chrono::milliseconds wait)> bus_wait_released;
};

struct ApiOptions {
  ServerOptions server;
  std::string node_name;
  bus::BusConfig bus;
  store::Store* store = nullptr;  // not owned; must outlive the server
  // The datastore encryption key (created with mode 0600 when missing).
  std::string key_file;
  // Whose keys `st2kv.user.<name>` reads in action defaults (as the rules engine).
  std::string system_user = "stanley";
  // The node's own admin credential ($GALE_HOME/api.token); empty: none.
  std::string node_token;
  // api.anonymous_loopback: no key needed on a loopback listen address (the old behaviour).
  bool anonymous_loopback = false;
  std::vector<std::string> hostnames;     // api.hostnames: more names the Host header may give
  std::vector<std::string> cors_origins;  // api.cors_origins: origins browsers may call from
};

class ApiServer {
 public:
  static Result<std::unique_ptr<ApiServer>> Start(ApiOptions options, ApiHooks hooks,
                                                  const packs::Catalog& catalog);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // The packs, actions, rules and trigger types of a reload.
  void UpdateCatalog(const packs::Catalog& catalog);
  std::string address() const;  // "127.0.0.1:9101"
  void Stop();

  struct State;

 private:
  ApiServer() = default;
  std::shared_ptr<State> state_;
  std::unique_ptr<HttpServer> server_;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackListen(const std::string& listen);

}  // namespace gale::api

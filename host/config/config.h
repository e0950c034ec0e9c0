// gale.yaml: the node's configuration (DESIGN.md, "Configuration"), with environment overrides
// for tests (GALE_KAFKA_BROKERS, GALE_MONGODB_URL) and command-line overrides.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "host/common/input_limits.h"
#include "host/common/json.h"
#include "host/common/result.h"

namespace gale::config {

struct SensorsConfig {
  std::string partition_provider = "default";
  std::string sensor_node_name;  // StackStorm's name for the node's partition identity
  std::string partition_file;
  std::string hash_ranges;
  int host_memory_mb = 1024;  // address-space limit of each sensor host
  double setup_timeout = 30;  // seconds a sensor's setup() may take before its host is restarted
  // Restart policy for crashed sensor hosts (seconds).
  double restart_backoff_initial = 1;
  double restart_backoff_max = 60;
  int failure_threshold = 5;  // crashes within failure_window mark the pack failed
  double failure_window = 300;
  double stable_after = 60;  // a run this long resets the backoff and the failed mark
};

struct Config {
  std::string home;  // GALE_HOME: bus.addr, api.addr, the embedded store
  std::string node_name;
  std::vector<std::string> roles = {"sensors", "rules", "runner", "api"};
  std::string brokers;  // empty: embedded bus
  std::string topic_prefix = "gale.";
  // 0: automatic, 6 on a real cluster and 24 on the embedded bus, whose partitions keep only
  // their newest 5 MiB (librdkafka's mock cluster; not configurable), so more partitions let a
  // lagging consumer fall further behind before anything is dropped.
  int partitions = 0;
  int replication_factor = 1;
  // librdkafka properties: bus.properties, then what bus.security sets (security.protocol,
  // sasl.*, ssl.*), sasl.password included (read from password_file or password_env): never log
  // these, and never pass them on a command line (IsSecretBusProperty).
  std::map<std::string, std::string> bus_properties;
  // The key every bus message is signed with (bus.signing_key_file, resolved); every node of a
  // deployment shares it. Default $GALE_HOME/keys/bus.key, created on first start.
  std::string bus_signing_key_file;
  std::string store_url;  // resolved: sqlite://<home>/gale.db when not configured
  std::string write_concern = "majority";
  std::vector<std::string> packs_paths;  // resolved: <gale binary dir>/../packs when empty
  // packs.configs_path: StackStorm's /opt/stackstorm/configs; <dir>/<pack ref>.yaml is that pack's
  // config, in place of the pack's own config.yaml. Resolved: <home>/configs when not configured.
  std::string packs_configs_path;
  int max_concurrency = 60;
  double default_timeout = 600;  // seconds; an action's own timeout wins
  // Seconds a claimed execution's lease lasts without renewal (renewed every third of it); a
  // runner that dies leaves its executions `abandoned` this long after its last renewal.
  double lease_timeout = 30;
  // Seconds a stopping runner lets running executions finish before it kills them.
  double shutdown_grace = 10;
  // The `sandbox:` section (node defaults for every execution), checked by Load() with
  // sandbox::SettingsFromNodeConfig.
  Json sandbox = Json::object();
  SensorsConfig sensors;
  std::string api_listen = "127.0.0.1:9101";
  // Seconds a connection may take to send a whole request (also the keep-alive idle limit).
  double api_request_timeout = 30;
  // api.anonymous_loopback: on a loopback listen address, no key needed (the behaviour before
  // issue 16; any local user and any action with network then uses the API). Warned at start.
  bool api_anonymous_loopback = false;
  // Open API connections at most; 0: max(16, RLIMIT_NOFILE soft limit / 2 - 64), the limit as
  // raised at start (api::DefaultMaxConnections).
  int64_t api_max_connections = 0;
  int64_t api_max_streams_per_client = 8;     // concurrent streams per remote address (429 past it)
  std::vector<std::string> api_hostnames;     // more names the Host header may give the API
  std::vector<std::string> api_cors_origins;  // origins ("https://ui.example") browsers may use
  // AES-256-GCM key of encrypted datastore values; resolved: <home>/keys/datastore.key. Every
  // node of a deployment needs the same file.
  std::string encryption_key_path;
  // gale.yaml `limits:`: bounds on untrusted documents (input_limits.h), applied at start.
  InputLimits limits;
  // Whose `st2kv.user.<name>` keys rule parameters read: StackStorm's system user.
  std::string system_user = "stanley";

  bool HasRole(const std::string& role) const;
};

struct Overrides {
  std::string config_file;               // --config; else $GALE_HOME/gale.yaml if present
  std::string home;                      // --home; else $GALE_HOME; else ~/.gale
  std::string node_name;                 // --node-name
  std::vector<std::string> packs_paths;  // --packs
  std::string default_packs_dir;         // used when nothing else names packs
};

// True for librdkafka properties whose value is a secret (sasl.password, ssl.key.password, ...),
// with or without a "producer."/"consumer." prefix.
bool IsSecretBusProperty(const std::string& key);

// Reads and validates the configuration (unknown keys are errors, so typos do not pass
// silently); errors are one line naming the file and line.
Result<Config> Load(const Overrides& overrides);

}  // namespace gale::config

#include "host/config/config.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "host/common/yaml_json.h"
#include "host/schema/validator.h"
#include "sandbox/settings.h"
#include "schemas/embedded.h"

namespace gale::config {
namespace fs = std::filesystem;
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "node-1";
  return buf;
}

// Relative paths in the file are relative to the file's folder.
std::string Resolve(const std::string& path, const fs::path& base) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  return (base / path).lexically_normal().string();
}

// "<file>:<line>: <field>: <what>" for the value at JSON pointer `pointer`.
Status ErrorAt(const YamlDocument& doc, const std::string& file, const std::string& pointer,
               const std::string& what) {
  std::string field = pointer.substr(1);
  std::replace(field.begin(), field.end(), '/', '.');
  return Status::Error(file + ":" + std::to_string(doc.LineOf(pointer)) + ": " + field + ": " +
                       what);
}

// Checked before the schema, whose "unknown property" would not say where secrets go instead.
Status RefuseInlineSecrets(const YamlDocument& doc, const std::string& file) {
  const Json bus = doc.json.is_object() ? doc.json.value("bus", Json::object()) : Json::object();
  if (!bus.is_object()) return Status::Ok();
  const Json security = bus.value("security", Json::object());
  if (security.is_object() && security.contains("password")) {
    return ErrorAt(doc, file, "/bus/security/password",
                   "passwords are not written in gale.yaml; use password_file or password_env");
  }
  const Json props = bus.value("properties", Json::object());
  if (!props.is_object()) return Status::Ok();
  for (const auto& [key, value] : props.items()) {
    if (IsSecretBusProperty(key)) {
      return ErrorAt(doc, file, "/bus/properties/" + key,
                     "secrets are not written in gale.yaml; use bus.security with "
                     "password_file or password_env");
    }
  }
  return Status::Ok();
}

// The password of bus.security: the first line of password_file, or $password_env.
Result<std::string> ReadBusPassword(const YamlDocument& doc, const std::string& file,
                                    const Json& security, const fs::path& base) {
  std::string password;
  if (security.contains("password_file")) {
    const std::string path = Resolve(security["password_file"], base);
    std::ifstream in(path);
    if (!in) {
      return ErrorAt(doc, file, "/bus/security/password_file",
                     "cannot read " + path + ": " + std::strerror(errno));
    }
    std::getline(in, password);
    if (!password.empty() && password.back() == '\r') password.pop_back();
    if (password.empty()) {
      return ErrorAt(doc, file, "/bus/security/password_file", path + " is empty");
    }
  } else {
    const std::string var = security["password_env"];
    password = Env(var.c_str());
    if (password.empty()) {
      return ErrorAt(doc, file, "/bus/security/password_env",
                     "environment variable " + var + " is not set or empty");
    }
  }
  return password;
}

// bus.security as librdkafka properties, checked for combinations the schema cannot express.
Result<std::map<std::string, std::string>> SecurityProperties(const YamlDocument& doc,
                                                              const std::string& file,
                                                              const Json& security,
                                                              const fs::path& base) {
  const std::string protocol = security["protocol"];
  const bool sasl = protocol.starts_with("sasl_");
  const bool tls = protocol.ends_with("ssl");
  auto at = [&](const char* key, const std::string& what) {
    return ErrorAt(doc, file, std::string("/bus/security/") + key, what);
  };
  for (const char* key : {"sasl_mechanism", "username", "password_file", "password_env"}) {
    if (!sasl && security.contains(key)) return at(key, "only with sasl_plaintext or sasl_ssl");
  }
  for (const char* key : {"ca_file", "cert_file", "key_file"}) {
    if (!tls && security.contains(key)) return at(key, "only with ssl or sasl_ssl");
  }
  if (security.contains("cert_file") != security.contains("key_file")) {
    return at(security.contains("cert_file") ? "cert_file" : "key_file",
              "cert_file and key_file go together");
  }
  std::map<std::string, std::string> props = {{"security.protocol", protocol}};
  if (sasl) {
    for (const char* key : {"sasl_mechanism", "username"}) {
      if (!security.contains(key)) return at("protocol", std::string(key) + " is required");
    }
    if (security.contains("password_file") == security.contains("password_env")) {
      return at("protocol", "exactly one of password_file and password_env is required");
    }
    GALE_ASSIGN_OR_RETURN(auto password, ReadBusPassword(doc, file, security, base));
    props["sasl.mechanism"] = security["sasl_mechanism"];
    props["sasl.username"] = security["username"];
    props["sasl.password"] = password;
  }
  static const std::map<std::string, std::string> kFiles = {
      {"ca_file", "ssl.ca.location"},
      {"cert_file", "ssl.certificate.location"},
      {"key_file", "ssl.key.location"}};
  for (const auto& [key, property] : kFiles) {
    if (security.contains(key)) props[property] = Resolve(security[key], base);
  }
  return props;
}

Status Apply(const YamlDocument& doc, const std::string& file, Config& c) {
  const Json& j = doc.json;
  GALE_TRY(RefuseInlineSecrets(doc, file));
  auto schema = schema::Validator::Compile(Json::parse(schemas::Find("config")));
  if (!schema.ok()) return Status::Error("config schema: " + schema.message());
  auto violations = schema->Validate(j);
  if (!violations.empty()) {
    const auto& v = violations.front();
    std::string field = v.path.empty() ? "" : v.path.substr(1);
    std::replace(field.begin(), field.end(), '/', '.');
    return Status::Error(file + ":" + std::to_string(doc.LineOf(v.path)) + ": " +
                         (field.empty() ? "" : field + ": ") + v.message);
  }
  const fs::path base = fs::absolute(file).parent_path();
  auto section = [&](const char* name) { return j.value(name, Json::object()); };
  Json node = section("node"), bus = section("bus"), store = section("store"),
       packs = section("packs"), runner = section("runner"), sensors = section("sensors"),
       api = section("api"), datastore = section("datastore"), limits = section("limits");
  c.limits.max_depth = limits.value("max_depth", c.limits.max_depth);
  c.limits.max_document_bytes = limits.value("max_document_bytes", c.limits.max_document_bytes);
  c.limits.max_string_bytes = limits.value("max_string_bytes", c.limits.max_string_bytes);
  c.node_name = node.value("name", c.node_name);
  if (node.contains("roles")) c.roles = node["roles"].get<std::vector<std::string>>();
  c.brokers = bus.value("brokers", c.brokers);
  c.topic_prefix = bus.value("topic_prefix", c.topic_prefix);
  c.partitions = bus.value("partitions", c.partitions);
  c.replication_factor = bus.value("replication_factor", c.replication_factor);
  if (bus.contains("signing_key_file")) {
    c.bus_signing_key_file = Resolve(bus["signing_key_file"], base);
  }
  if (bus.contains("properties")) {
    c.bus_properties = bus["properties"].get<std::map<std::string, std::string>>();
  }
  if (bus.contains("security")) {
    GALE_ASSIGN_OR_RETURN(auto security, SecurityProperties(doc, file, bus["security"], base));
    for (const auto& [key, value] : security) {
      if (c.bus_properties.contains(key)) {
        return ErrorAt(doc, file, "/bus/properties/" + key, "set by bus.security; remove it here");
      }
      c.bus_properties[key] = value;
    }
  }
  c.store_url = store.value("url", c.store_url);
  c.write_concern = store.value("write_concern", c.write_concern);
  if (packs.contains("paths")) {
    for (const auto& p : packs["paths"]) c.packs_paths.push_back(Resolve(p, base));
  }
  if (packs.contains("configs_path")) c.packs_configs_path = Resolve(packs["configs_path"], base);
  c.max_concurrency = runner.value("max_concurrency", c.max_concurrency);
  c.default_timeout = runner.value("default_timeout", c.default_timeout);
  c.lease_timeout = runner.value("lease_timeout", c.lease_timeout);
  c.shutdown_grace = runner.value("shutdown_grace", c.shutdown_grace);
  if (j.contains("sandbox")) {
    c.sandbox = j["sandbox"];
    if (auto checked = sandbox::SettingsFromNodeConfig(c.sandbox); !checked.ok()) {
      return Status::Error(file + ":" + std::to_string(doc.LineOf("/sandbox")) +
                           ": sandbox: " + checked.message());
    }
  }
  SensorsConfig& s = c.sensors;
  s.partition_provider = sensors.value("partition_provider", s.partition_provider);
  s.sensor_node_name = sensors.value("sensor_node_name", s.sensor_node_name);
  s.partition_file = Resolve(sensors.value("partition_file", s.partition_file), base);
  s.hash_ranges = sensors.value("hash_ranges", s.hash_ranges);
  s.host_memory_mb = sensors.value("host_memory_mb", s.host_memory_mb);
  s.setup_timeout = sensors.value("setup_timeout", s.setup_timeout);
  s.restart_backoff_initial = sensors.value("restart_backoff_initial", s.restart_backoff_initial);
  s.restart_backoff_max = sensors.value("restart_backoff_max", s.restart_backoff_max);
  s.failure_threshold = sensors.value("failure_threshold", s.failure_threshold);
  s.failure_window = sensors.value("failure_window", s.failure_window);
  s.stable_after = sensors.value("stable_after", s.stable_after);
  c.api_listen = api.value("listen", c.api_listen);
  c.api_request_timeout = api.value("request_timeout", c.api_request_timeout);
  c.api_anonymous_loopback = api.value("anonymous_loopback", c.api_anonymous_loopback);
  c.api_max_connections = api.value("max_connections", c.api_max_connections);
  c.api_max_streams_per_client = api.value("max_streams_per_client", c.api_max_streams_per_client);
  if (api.contains("hostnames")) c.api_hostnames = api["hostnames"].get<std::vector<std::string>>();
  if (api.contains("cors_origins")) {
    c.api_cors_origins = api["cors_origins"].get<std::vector<std::string>>();
  }
  c.encryption_key_path =
      Resolve(datastore.value("encryption_key_path", c.encryption_key_path), base);
  c.system_user = datastore.value("system_user", c.system_user);
  return Status::Ok();
}

}  // namespace

bool IsSecretBusProperty(const std::string& key) {
  return key.find("password") != std::string::npos || key.find("secret") != std::string::npos;
}

bool Config::HasRole(const std::string& role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

Result<Config> Load(const Overrides& o) {
  Config c;
  c.home = !o.home.empty() ? o.home : Env("GALE_HOME");
  if (c.home.empty())
    c.home = (fs::path(Env("HOME").empty() ? "." : Env("HOME")) / ".gale").string();
  c.home = fs::absolute(c.home).lexically_normal().string();
  c.node_name = Hostname();

  std::string file = o.config_file;
  if (file.empty() && fs::exists(fs::path(c.home) / "gale.yaml")) {
    file = (fs::path(c.home) / "gale.yaml").string();
  }
  if (!file.empty()) {
    GALE_ASSIGN_OR_RETURN(auto doc, LoadYamlFile(file));
    if (!doc.json.is_null()) {
      GALE_TRY(Apply(doc, file, c));
    }
  }
  if (!Env("GALE_KAFKA_BROKERS").empty()) c.brokers = Env("GALE_KAFKA_BROKERS");
  if (!Env("GALE_MONGODB_URL").empty()) c.store_url = Env("GALE_MONGODB_URL");
  if (!o.node_name.empty()) c.node_name = o.node_name;
  if (!o.packs_paths.empty()) c.packs_paths = o.packs_paths;
  if (c.packs_paths.empty() && !o.default_packs_dir.empty()) {
    c.packs_paths.push_back(o.default_packs_dir);
  }
  if (c.packs_configs_path.empty()) {
    c.packs_configs_path = (fs::path(c.home) / "configs").string();
  }
  if (c.store_url.empty()) c.store_url = "sqlite://" + (fs::path(c.home) / "gale.db").string();
  if (c.sensors.sensor_node_name.empty()) c.sensors.sensor_node_name = c.node_name;
  if (c.encryption_key_path.empty()) {
    c.encryption_key_path = (fs::path(c.home) / "keys" / "datastore.key").string();
  }
  if (c.bus_signing_key_file.empty()) {
    c.bus_signing_key_file = (fs::path(c.home) / "keys" / "bus.key").string();
  }
  return c;
}

}  // namespace gale::config

#include "host/sensors/sensor_host.h"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <thread>

#include "host/common/hex.h"
#include "host/common/sanitizers.h"
#include "host/packs/library.h"
#include "host/packs/metadata_reader.h"
#include "host/sensors/broker_client.h"
#include "host/sensors/control_protocol.h"
#include "host/sensors/python_sensors.h"
#include "host/sensors/sensor_service.h"
#include "sandbox/sensor_host_filter.h"

namespace gale::sensors {
namespace {

using Clock = std::chrono::steady_clock;

// One sensor: its service, its instance and the thread that drives it.
struct RunningSensor {
  const packs::SensorMeta* meta = nullptr;
  std::unique_ptr<SensorService> service;
  std::shared_ptr<plugin::SensorInstance> instance;
  std::thread thread;
  std::atomic<bool> setup_done{false};
  std::atomic<bool> setup_ok{false};
};

void Drive(RunningSensor& s, StopSignal& stop) {
  plugin::CallResult setup = s.instance->setup();
  s.setup_ok = setup.ok;
  s.setup_done = true;
  if (!setup.ok) {
    spdlog::error("{}: setup() failed: {}", s.meta->ref, setup.error);
    return;
  }
  if (s.instance->polling()) {
    // Fixed-rate schedule owned by the host: the next poll is due one interval after the
    // previous one started, so a slow poll does not drift the schedule.
    const auto interval = s.service->poll_interval();
    auto due = Clock::now();
    while (!stop.requested()) {
      plugin::CallResult r = s.instance->poll();
      if (!r.ok) spdlog::error("{}: poll() failed: {}", s.meta->ref, r.error);
      due += interval;
      const auto now = Clock::now();
      if (due < now) due = now;  // overran: poll again at once, do not try to catch up
      stop.WaitFor(std::chrono::duration_cast<std::chrono::milliseconds>(due - now));
    }
  } else {
    plugin::CallResult r = s.instance->run();
    if (!r.ok) spdlog::error("{}: run() failed: {}", s.meta->ref, r.error);
    if (!stop.requested()) spdlog::warn("{}: run() returned before stop", s.meta->ref);
  }
  plugin::CallResult c = s.instance->cleanup();
  if (!c.ok) spdlog::error("{}: cleanup() failed: {}", s.meta->ref, c.error);
}

void LimitMemory(int memory_mb) {
#if defined(GALE_SHADOW_MEMORY_BUILD)
  (void)
      memory_mb;  // shadow memory counts as data; under ASan the supervisor sets hard_rss_limit_mb
#else
  if (memory_mb <= 0) return;
  rlimit lim{};
  lim.rlim_cur = lim.rlim_max = static_cast<rlim_t>(memory_mb) << 20;
  if (setrlimit(RLIMIT_DATA, &lim) != 0) spdlog::warn("cannot limit memory: {}", strerror(errno));
#endif
}

// --bus-property key=value pairs, and sasl.password from the node's environment variable, which
// is then blanked in place (so /proc/<pid>/environ no longer shows it) and removed, so that
// nothing this host starts inherits it. librdkafka keeps its own copy: pack code in this process
// could still find it in memory (docs/security.md).
Status ReadBusProperties(const SensorHostOptions& options,
                         std::map<std::string, std::string>& properties) {
  for (const auto& pair : options.bus_properties) {
    const auto eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::Error("--bus-property " + pair + ": expected key=value");
    }
    properties[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  if (char* password = std::getenv(kBusPasswordEnv); password != nullptr) {
    properties["sasl.password"] = password;
    std::fill(password, password + std::strlen(password), '*');
    unsetenv(kBusPasswordEnv);
  }
  return Status::Ok();
}

// The bus signing key from the node's environment variable (hex), blanked and removed like the
// password. Empty when the node gave none.
Result<std::string> ReadBusSigningKey() {
  char* hex = std::getenv(kBusSigningKeyEnv);
  if (hex == nullptr) return std::string();
  std::string key;
  const size_t n = std::strlen(hex);
  const bool valid = HexDecode(std::string_view(hex, n), &key);
  std::fill(hex, hex + n, '*');
  unsetenv(kBusSigningKeyEnv);
  if (!valid) return Status::Error(std::string("$") + kBusSigningKeyEnv + " is not hex");
  return key;
}

// As PID 1 of its own PID namespace (a root node's hosts), the host ignores signals it sends
// itself with the default action: abort() in pack code would not end it (and under a sanitizer,
// whose error path aborts, it would hang). It ends with the conventional code instead, so the
// supervisor sees the crash and restarts it.
void EndOnAbortAsNamespaceInit() {
  if (getpid() != 1) return;
  struct sigaction action {};
  action.sa_handler = [](int) { _exit(128 + SIGABRT); };
  sigemptyset(&action.sa_mask);
  sigaction(SIGABRT, &action, nullptr);
}

// One pack's sensors in this process. Members are destroyed bottom-up: the sensors (whose
// threads Stop() has joined) before the producer they dispatch through and the library their
// code lives in.
class SensorHost {
 public:
  explicit SensorHost(const SensorHostOptions& options) : options_(options) {}
  SensorHost(const SensorHost&) = delete;
  SensorHost& operator=(const SensorHost&) = delete;
  ~SensorHost() {
    StopControl();
    JoinSensors();
  }

  // Loads the pack under the sensor-host filter and connects to the bus; the error is one line.
  Status Load();
  // Starts each chosen sensor on its own thread and waits for every setup() to return.
  void StartSensors();
  // Counters go to the node every few seconds, which stores them for the API's /metrics.
  void ReportCounters();
  // Reaps ended children; true when the Python child is one of them (the host must exit).
  bool PythonChildDied();
  // Stops the sensors, then flushes what they dispatched; false when the flush failed.
  bool Stop();

 private:
  Status ConnectBus();
  // The node's start message on the control channel: the config and the rule triggers.
  Status ReadControlStart();
  // The control channel's later messages (rule trigger changes), on a thread of their own.
  void ServeControl();
  void StopControl();
  bool Chosen(const packs::SensorMeta& meta) const;
  void StartPythonSensors();
  void WaitForSetup();
  void JoinSensors();

  const SensorHostOptions& options_;
  std::unique_ptr<BrokerClient> broker_;
  packs::Pack pack_;
  std::shared_ptr<packs::PackLibrary> library_;
  bus::BusConfig bus_;
  std::unique_ptr<bus::Producer> producer_;
  StopSignal stop_;
  DispatchCounters counters_;
  SensorHostContext context_;
  std::vector<std::unique_ptr<RunningSensor>> running_;
  // The Python sensors' services outlive the child whose relay dispatches through them.
  std::vector<std::unique_ptr<SensorService>> python_services_;
  std::unique_ptr<PythonSensorChild> python_;
  // The Python sensors the child runs (their hooks are called for rule trigger changes).
  std::vector<const packs::SensorMeta*> python_sensors_;
  // From the node's start message (control_protocol.h), when it has a control channel.
  std::optional<Json> node_config_;
  std::optional<std::vector<Json>> node_rule_triggers_;
  std::thread control_thread_;
  int64_t reported_ = -1;
};

Status SensorHost::ReadControlStart() {
  const int fd = options_.control_fd;
  int type = 0;
  socklen_t length = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_SEQPACKET) {
    return Status::Error("--control-fd " + std::to_string(fd) + ": not a SOCK_SEQPACKET socket");
  }
  // The node sends it as it starts the host: a wait this long means it never will.
  pollfd p{fd, POLLIN, 0};
  int ready;
  while ((ready = poll(&p, 1, 30000)) < 0 && errno == EINTR) {
  }
  if (ready <= 0) return Status::Error("the node sent no start message on the control channel");
  std::vector<char> buffer(kBrokerMaxMessage + 1);
  const ssize_t n = recv(fd, buffer.data(), buffer.size(), MSG_TRUNC);
  if (n <= 0 || static_cast<size_t>(n) > kBrokerMaxMessage) {
    return Status::Error("the control channel's start message is missing or too large");
  }
  Json start = Json::parse(std::string_view(buffer.data(), static_cast<size_t>(n)), nullptr,
                           /*allow_exceptions=*/false);
  if (!start.is_object() || start.value("op", "") != "start") {
    return Status::Error("the control channel's first message is not a start message");
  }
  const Json& config = start.contains("config") ? start["config"] : Json();
  node_config_ = config.is_object() ? config : Json::object();
  std::vector<Json> triggers;
  if (start.contains("rule_triggers") && start["rule_triggers"].is_array()) {
    for (const auto& t : start["rule_triggers"]) {
      if (t.is_object()) triggers.push_back(t);
    }
  }
  node_rule_triggers_ = std::move(triggers);
  return Status::Ok();
}

Status SensorHost::Load() {
  // The Python child is the one program this host starts, so before the filter that denies
  // exec; it loads the same filter itself before it reads any of the pack.
  if (!options_.python.empty()) {
    GALE_ASSIGN_OR_RETURN(
        auto child,
        PythonSensorChild::Spawn(options_.python, options_.python_shim, options_.pack_dir));
    python_ = std::move(child);
  }
  // Before anything of the pack is read or loaded: its library's constructors run filtered, and
  // so does every thread started later (librdkafka's, the sensors').
  GALE_TRY(sandbox::LoadSensorHostFilter());
  if (options_.broker_fd >= 0) {
    GALE_ASSIGN_OR_RETURN(auto adopted, BrokerClient::Adopt(options_.broker_fd));
    broker_ = std::move(adopted);
  }
  if (options_.control_fd >= 0) GALE_TRY(ReadControlStart());
  pack_ = packs::ReadPackMetadata(options_.pack_dir);
  if (!pack_.ok()) {
    for (size_t i = 0; i + 1 < pack_.errors.size(); ++i) spdlog::error("{}", pack_.errors[i]);
    return Status::Error(pack_.errors.empty() ? "pack refused" : pack_.errors.back());
  }
  // The config the node resolved (packs.configs_path) over the pack's own config.yaml, which
  // is all this host could read by itself.
  if (node_config_) pack_.config = *node_config_;
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e [%l] [sensor-host " + pack_.ref + "] %v");
  // A pack whose chosen sensors are all Python ones may have no library at all.
  if (std::any_of(pack_.sensors.begin(), pack_.sensors.end(),
                  [&](const packs::SensorMeta& m) { return !m.python && Chosen(m); })) {
    GALE_ASSIGN_OR_RETURN(auto library, packs::PackLibrary::Load(pack_.LibraryPath()));
    library_ = std::move(library);
  }
  GALE_TRY(ConnectBus());
  if (!broker_) spdlog::warn("datastore unavailable to sensors: no --broker-fd");
  return Status::Ok();
}

Status SensorHost::ConnectBus() {
  bus_.brokers = options_.brokers;
  bus_.topic_prefix = options_.topic_prefix;
  bus_.client_id = "gale-sensor-host-" + pack_.ref;
  GALE_TRY(ReadBusProperties(options_, bus_.properties));
  GALE_ASSIGN_OR_RETURN(auto signing_key, ReadBusSigningKey());
  bus_.signing_key = std::move(signing_key);
  auto producer = bus::Producer::Create(bus_);
  if (!producer.ok()) {
    return Status::Error("cannot create the trigger producer: " + producer.message());
  }
  producer_ = std::move(producer).value();
  return Status::Ok();
}

void SensorHost::StartSensors() {
  context_.pack = &pack_;
  context_.node = options_.node;
  context_.triggers_topic = bus::Topic(bus_, bus::kTriggers);
  context_.producer = producer_.get();
  context_.broker = broker_.get();
  context_.stop = &stop_;
  context_.counters = &counters_;
  for (const auto& t : pack_.trigger_types) {
    auto v = schema::Validator::Compile(t.payload_schema);
    if (v.ok()) context_.payload_validators.emplace(t.ref, std::move(v).value());
  }
  for (const auto& meta : pack_.sensors) {
    if (meta.python || !Chosen(meta)) continue;
    auto s = std::make_unique<RunningSensor>();
    s->meta = &meta;
    s->service = std::make_unique<SensorService>(context_, meta);
    auto instance = library_->CreateSensor(meta.class_name, *s->service);
    if (!instance.ok()) {
      spdlog::error("{}", instance.message());
      continue;
    }
    s->instance = std::move(instance).value();
    running_.push_back(std::move(s));
  }
  for (auto& s : running_) {
    RunningSensor* raw = s.get();
    s->thread = std::thread([raw, this] { Drive(*raw, stop_); });
  }
  StartPythonSensors();
  WaitForSetup();
}

bool SensorHost::Chosen(const packs::SensorMeta& meta) const {
  const auto& only = options_.sensors;
  return only.empty() ? meta.enabled : std::find(only.begin(), only.end(), meta.ref) != only.end();
}

// The rules on a pack's trigger types ({rule, type, parameters}): the node's list (rules of
// every pack) when it gave one, else this pack's own enabled rules.
std::vector<Json> RulesOnPackTriggers(const SensorHostOptions& options, const packs::Pack& pack) {
  std::vector<Json> rules;
  for (const auto& text : options.rule_triggers) {
    Json r = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (r.is_object() && r.value("rule", "") != "" && r.value("type", "") != "") {
      rules.push_back(std::move(r));
    } else {
      spdlog::warn("--rule-trigger {}: not a {{rule, type, parameters}} object; ignored", text);
    }
  }
  if (!options.rule_triggers.empty()) return rules;
  for (const auto& rule : pack.rules) {
    if (!rule.enabled) continue;
    rules.push_back(
        {{"rule", rule.ref}, {"type", rule.trigger_type}, {"parameters", rule.trigger_parameters}});
  }
  return rules;
}

// StackStorm passes a sensor, through add_trigger(), a trigger dict for each rule using one of
// its trigger types; these carry the same fields, one dict per rule.
Json RuleTriggersOf(const std::vector<Json>& rules, const packs::SensorMeta& meta) {
  Json triggers = Json::array();
  for (const auto& rule : rules) {
    const std::string type = rule.value("type", "");
    if (std::find(meta.trigger_types.begin(), meta.trigger_types.end(), type) ==
        meta.trigger_types.end()) {
      continue;
    }
    const std::string ref = rule.value("rule", "");
    const auto dot = type.find('.');
    const Json parameters = rule.contains("parameters") ? rule["parameters"] : Json();
    triggers.push_back({{"id", ref},
                        {"ref", type},
                        {"uid", "trigger:" + ref},
                        {"name", type.substr(dot + 1)},
                        {"pack", type.substr(0, dot)},
                        {"type", type},
                        {"parameters", parameters.is_object() ? parameters : Json::object()}});
  }
  return triggers;
}

void SensorHost::StartPythonSensors() {
  std::map<std::string, SensorService*> services;
  Json sensors = Json::array();
  const std::vector<Json> rules =
      node_rule_triggers_ ? *node_rule_triggers_ : RulesOnPackTriggers(options_, pack_);
  for (const auto& meta : pack_.sensors) {
    if (!meta.python || !Chosen(meta)) continue;
    if (!python_) {
      spdlog::error("{}: a Python sensor, and this host was given no interpreter (--python)",
                    meta.ref);
      continue;
    }
    python_services_.push_back(std::make_unique<SensorService>(context_, meta));
    services[meta.ref] = python_services_.back().get();
    python_sensors_.push_back(&meta);
    sensors.push_back({{"ref", meta.ref},
                       {"class_name", meta.class_name},
                       {"file", pack_.dir + "/sensors/" + meta.entry_point},
                       {"poll_interval", meta.poll_interval},
                       {"trigger_types", meta.trigger_types},
                       {"triggers", RuleTriggersOf(rules, meta)}});
  }
  if (!python_) return;
  const Json start = {{"op", "start"},
                      {"pack", pack_.ref},
                      {"pack_dir", pack_.dir},
                      {"config", pack_.config},
                      {"sensors", sensors}};
  if (Status s = python_->Start(start, context_, std::move(services)); !s.ok()) {
    spdlog::error("{}", s.message());
    return;
  }
  // Changes sent from now on reach the child after its start message: it calls them once each
  // sensor's setup() and initial add_trigger() calls are done.
  if (options_.control_fd >= 0) control_thread_ = std::thread([this] { ServeControl(); });
}

void SensorHost::ServeControl() {
  std::vector<char> buffer(kBrokerMaxMessage + 1);
  while (true) {
    const ssize_t n = recv(options_.control_fd, buffer.data(), buffer.size(), MSG_TRUNC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the node is gone, or StopControl
    if (static_cast<size_t>(n) > kBrokerMaxMessage) continue;
    const Json message = Json::parse(std::string_view(buffer.data(), static_cast<size_t>(n)),
                                     nullptr, /*allow_exceptions=*/false);
    const std::string op = message.is_object() ? message.value("op", "") : "";
    if (op != "add_trigger" && op != "update_trigger" && op != "remove_trigger") {
      spdlog::warn("control channel: ignored a message that is not a trigger change");
      continue;
    }
    const Json& trigger = message.contains("trigger") ? message["trigger"] : Json();
    if (!trigger.is_object()) continue;
    for (const auto* meta : python_sensors_) {
      // RuleTriggersOf gives the dict StackStorm passes, when the type is one of the sensor's.
      for (const auto& dict : RuleTriggersOf(std::vector<Json>{trigger}, *meta)) {
        spdlog::info("{}: {}({})", meta->ref, op, dict.value("id", ""));
        python_->Hook(op, meta->ref, dict);
      }
    }
  }
}

void SensorHost::StopControl() {
  if (!control_thread_.joinable()) return;
  shutdown(options_.control_fd, SHUT_RDWR);
  control_thread_.join();
}

void SensorHost::WaitForSetup() {
  // A setup() that never returns cannot be interrupted (it is a thread of this process); the
  // only safe way out is to exit and let the supervisor restart the host.
  const auto deadline =
      Clock::now() +
      std::chrono::milliseconds(static_cast<std::int64_t>(options_.setup_timeout * 1000));
  for (auto& s : running_) {
    while (!s->setup_done && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!s->setup_done) {
      spdlog::error("{}: setup() did not return within {}s; exiting so the host restarts",
                    s->meta->ref, options_.setup_timeout);
      producer_->Flush(std::chrono::seconds(2)).ok();
      _exit(3);
    }
  }
  // The interpreter's start and the pack's imports come on top of the setup() calls.
  int python_running = 0;
  if (python_ && !python_->WaitReady(deadline + std::chrono::seconds(5), &python_running)) {
    // Gone: the main loop reaps it and the host exits. Still starting: as a hung setup().
    if (!python_->gone()) {
      spdlog::error(
          "Python sensors: the setup() calls did not return within {}s; exiting so "
          "the host restarts",
          options_.setup_timeout + 5);
      producer_->Flush(std::chrono::seconds(2)).ok();
      _exit(3);
    }
  }
  // Logged only once every setup() has returned: a polling sensor takes its baseline in setup(),
  // so what changes after this line is reported (the tests and operators rely on it).
  const auto set_up =
      python_running + std::count_if(running_.begin(), running_.end(),
                                     [](const auto& s) { return s->setup_ok.load(); });
  spdlog::info("running {} sensor(s) on node {}", set_up, options_.node);
}

void SensorHost::ReportCounters() {
  if (!broker_) return;
  const int64_t d = counters_.dispatched, r = counters_.rejected, u = counters_.delivery_failed;
  if (d + r + u == reported_) return;
  if (broker_->Counters(d, r, u).ok()) reported_ = d + r + u;
}

void SensorHost::JoinSensors() {
  stop_.Request();
  for (auto& s : running_) {
    if (s->thread.joinable()) s->thread.join();
  }
}

bool SensorHost::PythonChildDied() {
  int status = 0;
  pid_t pid;
  bool died = false;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    std::string how;
    if (python_ && python_->Reaped(pid, status, &how)) {
      spdlog::error("Python sensors: the child {}; exiting so the supervisor restarts the host",
                    how);
      died = true;
    }
  }
  return died;
}

bool SensorHost::Stop() {
  JoinSensors();
  // Its sensors' cleanup() runs on SIGTERM; what they dispatch meanwhile is still relayed.
  if (python_) python_->Stop(std::chrono::seconds(3));
  // After the child: a hook being sent to it then fails at once instead of waiting for it.
  StopControl();
  Status flushed = producer_->Flush(std::chrono::seconds(30));
  if (!flushed.ok()) spdlog::error("trigger producer flush failed: {}", flushed.message());
  spdlog::info("stopped: {} dispatched, {} rejected, {} undelivered", counters_.dispatched.load(),
               counters_.rejected.load(), counters_.delivery_failed.load());
  return flushed.ok();
}

}  // namespace

int RunSensorHost(const SensorHostOptions& options) {
  // Signals are taken synchronously by this thread; every thread started below inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGCHLD);  // the Python child's end (the only child a host has)
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  EndOnAbortAsNamespaceInit();
  LimitMemory(options.memory_mb);

  SensorHost host(options);
  if (Status s = host.Load(); !s.ok()) {
    spdlog::error("{}", s.message());
    return 2;
  }
  host.StartSensors();
  int sig = 0;
  const timespec every{5, 0};
  bool python_died = false;
  while (true) {
    sig = sigtimedwait(&signals, nullptr, &every);
    if (sig < 0) {
      host.ReportCounters();
    } else if (sig != SIGCHLD) {
      break;
    } else if ((python_died = host.PythonChildDied())) {
      break;
    }
  }
  host.ReportCounters();
  if (python_died) {
    host.Stop();
    return kPythonChildDied;
  }
  spdlog::info("stopping on signal {}", sig);
  return host.Stop() ? 0 : 1;
}

}  // namespace gale::sensors

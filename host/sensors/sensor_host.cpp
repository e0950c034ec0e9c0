#include "host/sensors/sensor_host.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>

#include "host/common/hex.h"
#include "host/common/sanitizers.h"
#include "host/packs/library.h"
#include "host/packs/metadata_reader.h"
#include "host/sensors/broker_client.h"
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

}  // namespace

int RunSensorHost(const SensorHostOptions& options) {
  // Signals are taken synchronously by this thread; every thread started below inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  EndOnAbortAsNamespaceInit();
  LimitMemory(options.memory_mb);
  // Before anything of the pack is read or loaded: its library's constructors run filtered, and
  // so does every thread started later (librdkafka's, the sensors').
  if (Status filtered = sandbox::LoadSensorHostFilter(); !filtered.ok()) {
    spdlog::error("{}", filtered.message());
    return 2;
  }
  std::unique_ptr<BrokerClient> broker;
  if (options.broker_fd >= 0) {
    auto adopted = BrokerClient::Adopt(options.broker_fd);
    if (!adopted.ok()) {
      spdlog::error("{}", adopted.message());
      return 2;
    }
    broker = std::move(adopted).value();
  }

  packs::Pack pack = packs::ReadPackMetadata(options.pack_dir);
  if (!pack.ok()) {
    for (const auto& e : pack.errors) spdlog::error("{}", e);
    return 2;
  }
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e [%l] [sensor-host " + pack.ref + "] %v");
  auto library = packs::PackLibrary::Load(pack.LibraryPath());
  if (!library.ok()) {
    spdlog::error("{}", library.message());
    return 2;
  }

  bus::BusConfig bus_config;
  bus_config.brokers = options.brokers;
  bus_config.topic_prefix = options.topic_prefix;
  bus_config.client_id = "gale-sensor-host-" + pack.ref;
  if (Status s = ReadBusProperties(options, bus_config.properties); !s.ok()) {
    spdlog::error("{}", s.message());
    return 2;
  }
  auto signing_key = ReadBusSigningKey();
  if (!signing_key.ok()) {
    spdlog::error("{}", signing_key.message());
    return 2;
  }
  bus_config.signing_key = std::move(signing_key).value();
  auto producer = bus::Producer::Create(bus_config);
  if (!producer.ok()) {
    spdlog::error("cannot create the trigger producer: {}", producer.message());
    return 2;
  }
  if (!broker) spdlog::warn("datastore unavailable to sensors: no --broker-fd");

  StopSignal stop;
  DispatchCounters counters;
  SensorHostContext context;
  context.pack = &pack;
  context.node = options.node;
  context.triggers_topic = bus::Topic(bus_config, bus::kTriggers);
  context.producer = producer->get();
  context.broker = broker.get();
  context.stop = &stop;
  context.counters = &counters;
  for (const auto& t : pack.trigger_types) {
    auto v = schema::Validator::Compile(t.payload_schema);
    if (v.ok()) context.payload_validators.emplace(t.ref, std::move(v).value());
  }

  std::vector<std::unique_ptr<RunningSensor>> running;
  for (const auto& meta : pack.sensors) {
    const bool chosen = options.sensors.empty()
                            ? meta.enabled
                            : std::find(options.sensors.begin(), options.sensors.end(), meta.ref) !=
                                  options.sensors.end();
    if (!chosen) continue;
    auto s = std::make_unique<RunningSensor>();
    s->meta = &meta;
    s->service = std::make_unique<SensorService>(context, meta);
    auto instance = (*library)->CreateSensor(meta.class_name, *s->service);
    if (!instance.ok()) {
      spdlog::error("{}", instance.message());
      continue;
    }
    s->instance = std::move(instance).value();
    running.push_back(std::move(s));
  }
  for (auto& s : running) {
    RunningSensor* raw = s.get();
    s->thread = std::thread([raw, &stop] { Drive(*raw, stop); });
  }

  // A setup() that never returns cannot be interrupted (it is a thread of this process); the
  // only safe way out is to exit and let the supervisor restart the host.
  const auto deadline = Clock::now() + std::chrono::milliseconds(
                                           static_cast<std::int64_t>(options.setup_timeout * 1000));
  for (auto& s : running) {
    while (!s->setup_done && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!s->setup_done) {
      spdlog::error("{}: setup() did not return within {}s; exiting so the host restarts",
                    s->meta->ref, options.setup_timeout);
      (*producer)->Flush(std::chrono::seconds(2)).ok();
      _exit(3);
    }
  }
  // Logged only once every setup() has returned: a polling sensor takes its baseline in setup(),
  // so what changes after this line is reported (the tests and operators rely on it).
  const auto set_up = std::count_if(running.begin(), running.end(),
                                    [](const auto& s) { return s->setup_ok.load(); });
  spdlog::info("running {} sensor(s) on node {}", set_up, options.node);

  // Counters go to the node every few seconds, which stores them for the API's /metrics.
  int64_t reported = -1;
  auto report = [&] {
    if (!broker) return;
    const int64_t d = counters.dispatched, r = counters.rejected, u = counters.delivery_failed;
    if (d + r + u == reported) return;
    if (broker->Counters(d, r, u).ok()) reported = d + r + u;
  };
  int sig = 0;
  const timespec every{5, 0};
  while ((sig = sigtimedwait(&signals, nullptr, &every)) < 0) report();
  report();
  spdlog::info("stopping on signal {}", sig);
  stop.Request();
  for (auto& s : running) s->thread.join();
  Status flushed = (*producer)->Flush(std::chrono::seconds(30));
  if (!flushed.ok()) spdlog::error("trigger producer flush failed: {}", flushed.message());
  spdlog::info("stopped: {} dispatched, {} rejected, {} undelivered", counters.dispatched.load(),
               counters.rejected.load(), counters.delivery_failed.load());
  running.clear();
  return flushed.ok() ? 0 : 1;
}

}  // namespace gale::sensors

#include "host/sensors/supervisor.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "host/common/hex.h"
#include "host/common/sanitizers.h"
#include "host/common/subprocess.h"
#include "host/common/user.h"
#include "host/sensors/broker_protocol.h"
#include "host/sensors/control_protocol.h"
#include "host/sensors/python_sensors.h"
#include "host/sensors/rule_triggers.h"
#include "host/sensors/sensor_host.h"

namespace gale::sensors {
namespace {

std::chrono::milliseconds Seconds(double s) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000));
}

}  // namespace

Supervisor::Supervisor(SupervisorOptions options, store::Store* store)
    : options_(std::move(options)),
      store_(store),
      broker_({.store = store, .cipher = options_.cipher ? &*options_.cipher : nullptr},
              options_.node) {}

Supervisor::~Supervisor() {
  Stop();
}

void Supervisor::Start() {
  if (Status s = broker_.Start(); !s.ok()) spdlog::error("sensor hosts: {}", s.message());
  if (geteuid() != 0) {
    spdlog::warn(
        "sensor hosts run as this node's uid {}{} and see its processes (not root: no "
        "privilege drop, no namespaces)",
        geteuid(), options_.user.empty() ? "" : ", not as " + options_.user);
  }
  thread_ = std::thread([this] { Loop(); });
}

void Supervisor::Apply(const std::vector<PackSpec>& packs) {
  std::lock_guard lock(mutex_);
  std::map<std::string, const PackSpec*> wanted;
  for (const auto& p : packs) wanted[p.ref] = &p;
  for (auto it = hosts_.begin(); it != hosts_.end();) {
    auto w = wanted.find(it->first);
    if (w == wanted.end() || w->second->version != it->second.spec.version) {
      spdlog::info("sensor host {}: {}", it->first,
                   w == wanted.end() ? "pack removed, stopping" : "new version, restarting");
      // Stopped before Apply returns: a sensor this node gives up (a reload, or a slot moving
      // to another node) must not still run when its next owner starts it.
      it->second.stopping = true;
      Terminate(it->second, std::chrono::seconds(5));
      it->second.state = "stopped";
      Record(it->second);
      it = hosts_.erase(it);
    } else {
      UpdateTriggers(it->second, w->second->rule_triggers);
      it->second.spec = *w->second;
      ++it;
    }
  }
  for (const auto& p : packs) {
    if (hosts_.contains(p.ref) || p.sensors.empty()) continue;
    Host host;
    host.spec = p;
    host.next_start = Clock::now();
    hosts_.emplace(p.ref, std::move(host));
  }
}

void Supervisor::UpdateTriggers(Host& host, const Json& triggers) {
  // A host not running now gets the whole new set when it starts.
  if (!host.spec.python || host.pid <= 0 || host.control < 0) return;
  for (const auto& change : RuleTriggerChanges(host.spec.rule_triggers, triggers)) {
    spdlog::info("sensor host {}: {} for rule {}", host.spec.ref, change.hook,
                 change.trigger.value("rule", ""));
    if (!SendControl(host, {{"op", change.hook}, {"trigger", change.trigger}})) break;
  }
}

bool Supervisor::SendControl(Host& host, const Json& message) {
  const std::string text = message.dump();
  if (text.size() > kBrokerMaxMessage) {
    spdlog::error("sensor host {}: a control message of {} bytes is over the {} byte limit",
                  host.spec.ref, text.size(), kBrokerMaxMessage);
    return false;
  }
  // Blocking, with SO_SNDTIMEO: a host that does not read (it is dying) costs this much.
  if (send(host.control, text.data(), text.size(), MSG_NOSIGNAL) < 0) {
    spdlog::warn("sensor host {}: cannot send '{}': {}", host.spec.ref, message.value("op", ""),
                 strerror(errno));
    return false;
  }
  return true;
}

void Supervisor::CloseControl(Host& host) {
  if (host.control >= 0) close(host.control);
  host.control = -1;
}

Result<pid_t> Supervisor::SpawnHost(Host& host, const std::vector<std::string>& argv) {
  const std::string& pack = host.spec.ref;
  SpawnOptions spawn;
  spawn.env_allow = HelperEnvAllowList();
  spawn.no_new_privs = true;
  // libmongoc (linked into gale) initialises at load and keeps counters in /dev/shm/mongoc-<pid>:
  // every namespaced host is pid 1, and a file left by an earlier one makes it warn.
  spawn.env_extra.push_back("MONGOC_DISABLE_SHM=1");
  if (auto pw = options_.bus_properties.find("sasl.password");
      pw != options_.bus_properties.end()) {
    spawn.env_extra.push_back(std::string(kBusPasswordEnv) + "=" + pw->second);
  }
  if (!options_.bus_signing_key.empty()) {
    spawn.env_extra.push_back(std::string(kBusSigningKeyEnv) + "=" +
                              HexEncode(options_.bus_signing_key));
  }
#if defined(GALE_ASAN_BUILD)
  // RLIMIT_DATA cannot apply under ASan (its shadow memory counts as data); ASan's own RSS
  // watchdog kills the host instead when it grows past the limit.
  // The node's own options (e.g. abort_on_error) still apply; later options win.
  const char* inherited = std::getenv("ASAN_OPTIONS");
  spawn.env_extra.push_back(std::string("ASAN_OPTIONS=") + (inherited ? inherited : "") +
                            ":hard_rss_limit_mb=" + std::to_string(options_.policy.host_memory_mb) +
                            ":detect_leaks=0");
#endif
  if (geteuid() == 0) {
    spawn.new_namespaces = true;
    if (!options_.user.empty()) {
      auto user = ResolveUser(options_.user);
      if (!user.ok()) return user.status().WithContext("sensor host user");
      spawn.drop_to = *user;
    }
  }
  int control[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, control) != 0) {
    return Status::Error(std::string("sensor host control channel: socketpair: ") +
                         strerror(errno));
  }
  // Room for the largest message (a big config), as far as the kernel allows; beyond that a
  // send waits up to 5 s for the host to read.
  int size = static_cast<int>(kBrokerMaxMessage + (64 << 10));
  if (setsockopt(control[0], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0) {
    setsockopt(control[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  }
  const timeval send_timeout{5, 0};
  setsockopt(control[0], SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  auto host_end = broker_.Connect(pack);
  if (!host_end.ok()) {
    close(control[0]);
    close(control[1]);
    return host_end.status();
  }
  spawn.keep_fds = {*host_end, control[1]};  // become kBrokerFd and kControlFd
  auto pid = Spawn(argv, spawn);
  close(*host_end);
  close(control[1]);
  if (!pid.ok()) {
    close(control[0]);
    broker_.Disconnect(pack);
    return pid;
  }
  CloseControl(host);
  host.control = control[0];
  // The config and the rule triggers: never in argv or the environment (control_protocol.h).
  SendControl(host,
              {{"op", "start"},
               {"config", host.spec.config},
               {"rule_triggers", host.spec.python ? host.spec.rule_triggers : Json::array()}});
  return pid;
}

void Supervisor::StartHost(Host& host) {
  std::vector<std::string> argv = {options_.gale_binary,
                                   "sensor-host",
                                   "--pack",
                                   host.spec.dir,
                                   "--brokers",
                                   options_.brokers,
                                   "--topic-prefix",
                                   options_.topic_prefix,
                                   "--node",
                                   options_.node,
                                   "--setup-timeout",
                                   std::to_string(options_.policy.setup_timeout),
                                   "--memory-mb",
                                   std::to_string(options_.policy.host_memory_mb),
                                   "--broker-fd",
                                   std::to_string(kBrokerFd),
                                   "--control-fd",
                                   std::to_string(kControlFd)};
  for (const auto& [key, value] : options_.bus_properties) {
    if (config::IsSecretBusProperty(key)) continue;  // sasl.password: SpawnHost's environment
    argv.push_back("--bus-property");
    argv.push_back(key + "=" + value);
  }
  for (const auto& s : host.spec.sensors) {
    argv.push_back("--sensor");
    argv.push_back(s);
  }
  if (host.spec.python) {
    argv.insert(argv.end(),
                {"--python", PythonForPack(host.spec.dir), "--python-shim", options_.python_shim});
  }
  auto pid = SpawnHost(host, argv);
  host.started = Clock::now();
  if (!pid.ok()) {
    host.last_error = pid.message();
    host.state = "backoff";
    host.next_start =
        host.started + std::max(host.backoff, Seconds(options_.policy.restart_backoff_initial));
    spdlog::error("sensor host {}: {}", host.spec.ref, pid.message());
    Record(host);
    return;
  }
  host.pid = *pid;
  host.running_dir = host.spec.dir;
  if (host.state != "failed") host.state = "running";
  spdlog::info("sensor host {}: started pid {} ({})", host.spec.ref, host.pid, host.spec.dir);
  Record(host);
}

void Supervisor::Reap(Host& host, int status) {
  host.pid = 0;
  CloseControl(host);
  broker_.Disconnect(host.spec.ref);
  const auto now = Clock::now();
  host.last_error = DescribeWaitStatus(status);
  ++host.restarts;
  if (now - host.started >= Seconds(options_.policy.stable_after)) {
    host.backoff = std::chrono::milliseconds(0);  // it ran long enough: start afresh
    host.crashes.clear();
  }
  std::erase_if(host.crashes,
                [&](auto t) { return now - t > Seconds(options_.policy.failure_window); });
  host.crashes.push_back(now);
  host.backoff = host.backoff.count() == 0
                     ? Seconds(options_.policy.restart_backoff_initial)
                     : std::min(host.backoff * 2, Seconds(options_.policy.restart_backoff_max));
  host.next_start = now + host.backoff;
  const bool failed = static_cast<int>(host.crashes.size()) >= options_.policy.failure_threshold;
  host.state = failed ? "failed" : "backoff";
  spdlog::error("sensor host {}: {}; restart {} in {} ms{}", host.spec.ref, host.last_error,
                host.restarts, host.backoff.count(),
                failed ? " (pack marked failed: " + std::to_string(host.crashes.size()) +
                             " crashes in the failure window)"
                       : "");
  Record(host);
}

void Supervisor::Loop() {
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stop_) break;
      const auto now = Clock::now();
      for (auto& [ref, host] : hosts_) {
        if (host.pid > 0) {
          int status = 0;
          if (waitpid(host.pid, &status, WNOHANG) == host.pid) {
            Reap(host, status);
          } else if (host.state == "failed" &&
                     now - host.started >= Seconds(options_.policy.stable_after)) {
            host.state = "running";  // a stable run clears the failed mark
            host.crashes.clear();
            host.backoff = std::chrono::milliseconds(0);
            spdlog::info("sensor host {}: stable again", ref);
            Record(host);
          } else if (host.backoff.count() > 0 &&
                     now - host.started >= Seconds(options_.policy.stable_after)) {
            host.backoff = std::chrono::milliseconds(0);
          }
        } else if (now >= host.next_start) {
          StartHost(host);
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Stopped from this thread, before it ends: PR_SET_PDEATHSIG follows the thread that started
  // a host, not the process, so the hosts would be SIGKILLed when it returns, without their
  // cleanup() or the flush of what they dispatched.
  StopHosts();
}

void Supervisor::StopHosts() {
  std::lock_guard lock(mutex_);
  for (auto& [ref, host] : hosts_) {
    Terminate(host, std::chrono::seconds(10));
    host.state = "stopped";
    Record(host);
  }
}

void Supervisor::Terminate(Host& host, std::chrono::milliseconds grace) {
  if (host.pid <= 0) return;
  // Its datastore stays served until it has exited: a stopping host reports its counters.
  kill(host.pid, SIGTERM);
  const auto deadline = Clock::now() + grace;
  int status;
  while (Clock::now() < deadline) {
    if (waitpid(host.pid, &status, WNOHANG) == host.pid) {
      host.pid = 0;
      CloseControl(host);
      broker_.Disconnect(host.spec.ref);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(-host.pid, SIGKILL);
  kill(host.pid, SIGKILL);
  waitpid(host.pid, &status, 0);
  host.pid = 0;
  CloseControl(host);
  broker_.Disconnect(host.spec.ref);
}

void Supervisor::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  if (thread_.joinable()) {
    thread_.join();  // the thread stops the hosts it started
  } else {
    StopHosts();
  }
  broker_.Stop();
}

std::vector<HostState> Supervisor::States() const {
  std::lock_guard lock(mutex_);
  std::vector<HostState> out;
  for (const auto& [ref, h] : hosts_)
    out.push_back({ref, h.state, h.pid, h.restarts, h.last_error});
  return out;
}

std::set<std::string> Supervisor::RunningDirs() const {
  std::lock_guard lock(mutex_);
  std::set<std::string> dirs;
  for (const auto& [ref, h] : hosts_) {
    if (h.pid > 0) dirs.insert(h.running_dir);
  }
  return dirs;
}

void Supervisor::Record(const Host& host) {
  if (store_ == nullptr) return;
  for (const auto& sensor : host.spec.sensors) {
    store::SensorStatus s;
    s.ref = sensor;
    s.node = options_.node;
    s.state = host.state;
    s.restarts = host.restarts;
    s.last_error = host.last_error;
    s.updated_at = store::NowMs();
    Status put = store_->PutSensorStatus(s);
    if (!put.ok()) spdlog::warn("cannot record sensor status of {}: {}", sensor, put.message());
  }
}

}  // namespace gale::sensors

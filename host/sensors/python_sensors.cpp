#include "host/sensors/python_sensors.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "host/common/subprocess.h"
#include "host/sensors/broker_protocol.h"
#include "sandbox/sensor_host_filter.h"

namespace gale::sensors {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The interpreter StackStorm packs are written for when the pack has no virtualenv: the
// system's, by absolute path (a python3 earlier on PATH may be out of the sensor user's reach).
constexpr char kSystemPython[] = "/usr/bin/python3";

// The sensor host's filter programs in a memfd the child reads (descriptor 4): per program, its
// instruction count (uint32, native order), then its struct sock_filter array.
Result<int> FilterProgramsFile() {
  GALE_ASSIGN_OR_RETURN(auto programs, sandbox::SensorHostFilterPrograms());
  const int fd = memfd_create("gale-python-sensor-filter", MFD_CLOEXEC);
  if (fd < 0) return Status::Error(std::string("memfd_create: ") + strerror(errno));
  std::string bytes;
  for (const auto& program : programs) {
    const auto count = static_cast<std::uint32_t>(program.size());
    bytes.append(reinterpret_cast<const char*>(&count), sizeof count);
    bytes.append(reinterpret_cast<const char*>(program.data()),
                 program.size() * sizeof(sock_filter));
  }
  if (write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
    const int err = errno;
    close(fd);
    return Status::Error(std::string("writing the filter for the Python child: ") + strerror(err));
  }
  return fd;
}

Json Refused(const std::string& why) {
  return {{"ok", false}, {"error", why}};
}

}  // namespace

std::string PythonForPack(const std::string& pack_dir) {
  std::error_code ec;
  const fs::path venv = fs::path(pack_dir).parent_path() / "virtualenv" / "bin" / "python";
  return fs::exists(venv, ec) ? venv.string() : kSystemPython;
}

Result<std::unique_ptr<PythonSensorChild>> PythonSensorChild::Spawn(const std::string& python,
                                                                    const std::string& shim,
                                                                    const std::string& pack_dir) {
  if (shim.empty()) return Status::Error("Python sensors: no Python shim (--python-shim)");
  GALE_ASSIGN_OR_RETURN(const int filter_fd, FilterProgramsFile());
  int pair[2], hooks[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    close(filter_fd);
    return Status::Error(std::string("Python sensors: socketpair: ") + strerror(errno));
  }
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, hooks) != 0) {
    const int err = errno;
    close(filter_fd);
    close(pair[0]);
    close(pair[1]);
    return Status::Error(std::string("Python sensors: socketpair: ") + strerror(err));
  }
  SpawnOptions spawn;
  spawn.env_allow = HelperEnvAllowList();
  spawn.env_extra = {"PYTHONPATH=" + shim, "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1",
                     "PYTHONNOUSERSITE=1"};
  spawn.no_new_privs = true;
  spawn.die_with_parent = true;     // and the socket closes: the wrapper exits on EOF too
  spawn.new_process_group = false;  // the supervisor's group-wide SIGKILL reaches it
  // Descriptors 3 (the channel), 4 (the filter) and 5 (the trigger hooks).
  spawn.keep_fds = {pair[1], filter_fd, hooks[1]};
  const std::vector<std::string> argv = {
      python, "-s", "-B", shim + "/gale_shim/sensor_wrapper.py", "--pack-dir", pack_dir};
  auto pid = gale::Spawn(argv, spawn);
  close(pair[1]);
  close(hooks[1]);
  close(filter_fd);
  if (!pid.ok()) {
    close(pair[0]);
    close(hooks[0]);
    return pid.status().WithContext("Python sensors");
  }
  return std::unique_ptr<PythonSensorChild>(new PythonSensorChild(*pid, pair[0], hooks[0]));
}

PythonSensorChild::~PythonSensorChild() {
  Stop(std::chrono::milliseconds(0));
  close(fd_);
  close(hooks_fd_);
}

bool PythonSensorChild::Hook(const std::string& hook, const std::string& sensor,
                             const Json& trigger) {
  if (gone_) return false;
  std::string text;
  try {
    text = Json{{"op", hook}, {"sensor", sensor}, {"trigger", trigger}}.dump();
  } catch (const std::exception& e) {  // a parameter that is not UTF-8
    spdlog::error("{}: {} not sent: {}", sensor, hook, e.what());
    return false;
  }
  if (text.size() > kBrokerMaxMessage) {
    spdlog::error("{}: {} not sent: over {} bytes", sensor, hook, kBrokerMaxMessage);
    return false;
  }
  if (send(hooks_fd_, text.data(), text.size(), MSG_NOSIGNAL) < 0) {
    spdlog::warn("{}: cannot send {} to the Python child: {}", sensor, hook, strerror(errno));
    return false;
  }
  return true;
}

Status PythonSensorChild::Start(const Json& start, SensorHostContext& context,
                                std::map<std::string, SensorService*> services) {
  context_ = &context;
  services_ = std::move(services);
  const std::string message = start.dump();
  // A child that cannot be started is ended: the host's main loop reaps it and exits, as for
  // any death of the child.
  auto fail = [this](const std::string& why) {
    gone_ = true;
    kill(pid_, SIGKILL);
    return Status::Error("Python sensors: " + why);
  };
  if (message.size() > kBrokerMaxMessage) {
    return fail("the start message is over " + std::to_string(kBrokerMaxMessage) +
                " bytes (a config that large?)");
  }
  if (send(fd_, message.data(), message.size(), MSG_NOSIGNAL) < 0) {
    return fail(std::string("cannot start the child: ") + strerror(errno));
  }
  relay_ = std::thread([this] { Relay(); });
  return Status::Ok();
}

void PythonSensorChild::Relay() {
  std::vector<char> buffer(kBrokerMaxMessage + 1);
  while (true) {
    const ssize_t n = recv(fd_, buffer.data(), buffer.size(), MSG_TRUNC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the child is gone (or Stop shut the socket down)
    if (static_cast<size_t>(n) > kBrokerMaxMessage) {
      Send(Refused("message over " + std::to_string(kBrokerMaxMessage) + " bytes"));
      continue;
    }
    Json request = Json::parse(std::string_view(buffer.data(), static_cast<size_t>(n)), nullptr,
                               /*allow_exceptions=*/false);
    if (!request.is_object()) {
      Send(Refused("not a JSON object"));
      continue;
    }
    Json answer = Answer(request);
    answer["id"] = request.contains("id") ? request["id"] : Json();
    Send(answer);
  }
  gone_ = true;
}

Json PythonSensorChild::Answer(const Json& request) {
  try {
    const Json& op = request.contains("op") ? request["op"] : Json();
    if (!op.is_string()) return Refused("no op");
    const std::string name = op.get<std::string>();
    if (name == "dispatch") return Dispatch(request);
    if (name == "get" || name == "set" || name == "delete" || name == "list") {
      return Datastore(request);
    }
    if (name == "ready") {
      running_ = request.value("running", 0);
      ready_ = true;
      return {{"ok", true}};
    }
    return Refused("unknown op '" + name + "'");
  } catch (const std::exception& e) {  // a field of the wrong type
    return Refused(e.what());
  }
}

Json PythonSensorChild::Dispatch(const Json& request) {
  const std::string sensor = request.value("sensor", "");
  auto service = services_.find(sensor);
  if (service == services_.end()) return Refused("unknown sensor '" + sensor + "'");
  const Json& trigger = request.contains("trigger") ? request["trigger"] : Json();
  if (!trigger.is_string()) return Refused("dispatch: trigger must be a trigger type ref");
  Json payload = request.contains("payload") ? request["payload"] : Json();
  if (payload.is_null()) payload = Json::object();
  // The same path as a native sensor's dispatch: validated, signed, produced and counted there.
  const plugin::CallResult r =
      service->second->dispatch_json(trigger.get<std::string>(), payload.dump(), "");
  return r.ok ? Json{{"ok", true}} : Refused(r.error);
}

Json PythonSensorChild::Datastore(Json request) {
  if (context_->broker == nullptr) {
    return Refused("no datastore: this sensor host has no broker (--broker-fd)");
  }
  if (request["op"] == "set") {
    // As SensorService::datastore_set: a checkpoint is never ahead of the triggers it covers.
    if (Status f = context_->producer->Flush(std::chrono::seconds(30)); !f.ok()) {
      return Refused("triggers dispatched before this write are not on the bus: " + f.message());
    }
  }
  request.erase("id");  // the broker client numbers its own calls
  auto value = context_->broker->Call(std::move(request), std::chrono::seconds(30));
  if (!value.ok()) return Refused(value.message());
  return {{"ok", true}, {"value", *value}};
}

void PythonSensorChild::Send(const Json& message) {
  std::string text;
  try {
    text = message.dump();
  } catch (const std::exception& e) {  // a value that is not UTF-8
    text = Json{{"id", message.contains("id") ? message["id"] : Json()},
                {"ok", false},
                {"error", e.what()}}
               .dump();
  }
  if (send(fd_, text.data(), text.size(), MSG_NOSIGNAL) < 0 && errno != EPIPE) {
    spdlog::warn("Python sensors: cannot answer the child: {}", strerror(errno));
  }
}

bool PythonSensorChild::WaitReady(Clock::time_point deadline, int* running) {
  while (!ready_ && !gone_ && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  *running = running_;
  return ready_;
}

bool PythonSensorChild::Reaped(pid_t pid, int status, std::string* how) {
  if (pid != pid_ || reaped_) return false;
  reaped_ = true;
  *how = DescribeWaitStatus(status);
  return true;
}

void PythonSensorChild::Stop(std::chrono::milliseconds grace) {
  if (!reaped_) {
    kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + grace;
    int status = 0;
    pid_t got = 0;
    while ((got = waitpid(pid_, &status, WNOHANG)) == 0 && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (got == 0) {
      if (grace.count() > 0) {
        spdlog::warn("Python sensors: the child did not stop within {} ms; killing it",
                     grace.count());
      }
      kill(pid_, SIGKILL);
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
    reaped_ = true;
  }
  // A process the child started may still hold its end: the relay stops reading regardless.
  shutdown(fd_, SHUT_RDWR);
  shutdown(hooks_fd_, SHUT_RDWR);  // a Hook() blocked on a child that no longer reads returns
  if (relay_.joinable()) relay_.join();
}

}  // namespace gale::sensors

// A pack's Python sensors (entry_point x.py, StackStorm's Sensor and PollingSensor) run in one
// Python child of the pack's sensor host: `<python> <shim>/gale_shim/sensor_wrapper.py`. The host
// starts it before it loads its own seccomp filter (which denies exec), hands it that filter's
// programs to load before any pack code runs, and relays for it over a socketpair
// (AF_UNIX, SOCK_SEQPACKET, one JSON object per message, the framing of broker_protocol.h):
//
//   host -> child, once:  {"op": "start", "pack", "pack_dir", "config",
//                          "sensors": [{"ref", "class_name", "file", "poll_interval",
//                                       "trigger_types", "triggers"}]}
//   host -> child, on a second socketpair (the child's descriptor 5), no answer:
//     {"op": "add_trigger" | "update_trigger" | "remove_trigger", "sensor", "trigger"}
//                                        a rule change the node sent (control_protocol.h): the
//                                        child calls that hook of the sensor on the sensor's
//                                        hook thread
//   child -> host, requests with an "id" the answer echoes:
//     {"op": "ready", "running": n}      every setup() returned
//     {"op": "dispatch", "sensor", "trigger", "payload", "trace_tag"}
//                                        through SensorService::dispatch_json: validated against
//                                        the payload_schema, signed, produced, counted
//     {"op": "get" | "set" | "delete" | "list", ...}
//                                        the datastore calls: passed to the node's broker as
//                                        they are (BrokerClient::Call gives them its own id)
//
// The child has the host's user, no_new_privs, namespaces and limits (it is the host's child),
// loads the host's seccomp filter itself, and dies with the host (PR_SET_PDEATHSIG, and the
// socket closing). When it dies, the host exits non-zero and the supervisor restarts it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "host/common/json.h"
#include "host/common/result.h"
#include "host/sensors/sensor_service.h"

namespace gale::sensors {

// The interpreter of a pack copy's Python code: <parent of the pack dir>/virtualenv/bin/python
// when the pack has a virtualenv, else /usr/bin/python3 (never a `python3` found on PATH).
std::string PythonForPack(const std::string& pack_dir);

// The exit code of a sensor host whose Python child died.
inline constexpr int kPythonChildDied = 4;

class PythonSensorChild {
 public:
  // Starts the interpreter; it waits for its filter and then for Start's message. Call before
  // the host's own filter is loaded.
  static Result<std::unique_ptr<PythonSensorChild>> Spawn(const std::string& python,
                                                          const std::string& shim,
                                                          const std::string& pack_dir);
  ~PythonSensorChild();
  PythonSensorChild(const PythonSensorChild&) = delete;
  PythonSensorChild& operator=(const PythonSensorChild&) = delete;

  pid_t pid() const { return pid_; }

  // Sends the start message and relays the child's requests on a thread of its own; `services`
  // (sensor ref -> its service) dispatch what the child dispatches. On failure the child is
  // killed (the host's main loop reaps it).
  Status Start(const Json& start, SensorHostContext& context,
               std::map<std::string, SensorService*> services);
  // Waits until the child reports every setup() returned; false at the deadline, or when the
  // child is gone. `running` receives how many sensors it runs.
  bool WaitReady(std::chrono::steady_clock::time_point deadline, int* running);
  // Whether its end of the channel closed (it exited, or is exiting).
  bool gone() const { return gone_; }
  // Whether `pid` (from waitpid) is this child; then records its end and returns its status text.
  bool Reaped(pid_t pid, int status, std::string* how);
  // SIGTERM (its sensors' cleanup()), SIGKILL after `grace`; the relay serves it until it ends.
  void Stop(std::chrono::milliseconds grace);
  // Has `sensor`'s hook (add_trigger, update_trigger, remove_trigger) called with `trigger` (the
  // dict StackStorm passes); false when the child cannot be told (it is gone).
  bool Hook(const std::string& hook, const std::string& sensor, const Json& trigger);

 private:
  PythonSensorChild(pid_t pid, int fd, int hooks_fd) : pid_(pid), fd_(fd), hooks_fd_(hooks_fd) {}
  void Relay();
  Json Answer(const Json& request);
  Json Dispatch(const Json& request);
  Json Datastore(Json request);
  void Send(const Json& message);

  pid_t pid_;
  int fd_;
  int hooks_fd_;
  bool reaped_ = false;
  SensorHostContext* context_ = nullptr;
  std::map<std::string, SensorService*> services_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> gone_{false};
  std::atomic<int> running_{0};
  std::thread relay_;
};

}  // namespace gale::sensors

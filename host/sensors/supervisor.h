// Supervises one `gale sensor-host` subprocess per pack that has sensors (inside `gale up`):
// restarts a crashed host with exponential backoff, marks a crash-looping pack `failed`, resets
// after a stable run, and records each sensor's state in the store. Hosts get no descriptor but
// their datastore broker's, an allow-listed environment and no_new_privs; as root, also their
// own namespaces and `user`'s credentials. The supervisor's broker answers their datastore.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "host/common/json.h"
#include "host/common/result.h"
#include "host/config/config.h"
#include "host/datastore/broker.h"
#include "host/store/key_cipher.h"
#include "host/store/store.h"

namespace gale::sensors {

// What to run for one pack. A change of `version` restarts its host; a change of
// `rule_triggers` alone does not (the running host is told, control_protocol.h).
struct PackSpec {
  std::string ref;
  std::string dir;                   // the pack directory the host loads
  std::vector<std::string> sensors;  // refs
  std::string version;               // should cover `config`
  bool python = false;  // some of `sensors` are Python ones: the host starts its Python child
  // For Python sensors' add_trigger(): the enabled rules (of any pack) on this pack's trigger
  // types, [{rule, type, parameters}].
  Json rule_triggers = Json::array();
  // The pack's config as the node resolved it (packs.configs_path): the host gets it on its
  // control channel, for its .so and Python sensors alike.
  Json config = Json::object();
};

struct HostState {
  std::string pack;
  std::string state;  // starting, running, backoff, failed, stopped
  pid_t pid = 0;
  int restarts = 0;
  std::string last_error;
};

struct SupervisorOptions {
  std::string gale_binary;  // path of `gale`, exec'ed as `gale sensor-host ...`
  std::string brokers;
  // The node's librdkafka properties (config::Config::bus_properties): secret ones reach the
  // host in its environment (kBusPasswordEnv), the others on its command line.
  std::map<std::string, std::string> bus_properties;
  // The deployment's bus signing key (raw bytes); reaches the host in kBusSigningKeyEnv.
  std::string bus_signing_key;
  std::string topic_prefix = "gale.";
  std::string node;
  config::SensorsConfig policy;
  // The unprivileged user (name or uid) hosts run as when the node runs as root; empty: the
  // node's user. As root, hosts also get new PID, mount and IPC namespaces and no capabilities.
  std::string user;
  // The StackStorm shim's directory (Node's python_shim_), for hosts of packs with Python
  // sensors; their interpreter is the pack's virtualenv's, else /usr/bin/python3.
  std::string python_shim;
  // The datastore key: sensors' get with decrypt and set with encrypt (absent: those fail).
  std::optional<store::KeyCipher> cipher;
};

class Supervisor {
 public:
  Supervisor(SupervisorOptions options, store::Store* store);
  ~Supervisor();  // stops every host

  // Makes the supervised set equal `packs`: new packs start, removed ones stop, packs whose
  // version (which covers the set of sensors) changed restart. Hosts that stop have exited
  // (TERM, KILL after 5 s) when Apply returns. A running host whose rule triggers alone changed
  // is sent the add/update/remove_trigger calls that take it to the new set.
  void Apply(const std::vector<PackSpec>& packs);
  void Start();
  void Stop();  // TERM to every host, KILL after a grace period; returns when all are reaped
  std::vector<HostState> States() const;
  // The pack directories running hosts were started from (a host kept across a change of rule
  // triggers alone runs from an older copy than its spec names).
  std::set<std::string> RunningDirs() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Host {
    PackSpec spec;
    pid_t pid = 0;
    std::string state = "starting";
    Clock::time_point started{};
    Clock::time_point next_start{};
    std::chrono::milliseconds backoff{0};
    std::vector<Clock::time_point> crashes;  // within the failure window
    int restarts = 0;
    std::string last_error;
    bool stopping = false;
    int control = -1;         // the node's end of its control channel (control_protocol.h)
    std::string running_dir;  // the spec's dir when it was started
  };

  void Loop();
  void StopHosts();  // TERM, KILL after a grace period; on the thread that started them
  void StartHost(Host& host);
  Result<pid_t> SpawnHost(Host& host, const std::vector<std::string>& argv);
  // Sends a control message; false (logged) when the host cannot take it.
  bool SendControl(Host& host, const Json& message);
  void CloseControl(Host& host);
  // Tells a running host the rule trigger changes from its spec's set to `triggers`.
  void UpdateTriggers(Host& host, const Json& triggers);
  void Reap(Host& host, int status);
  void Terminate(Host& host, std::chrono::milliseconds grace);
  void Record(const Host& host);

  SupervisorOptions options_;
  store::Store* store_;
  datastore::DatastoreBroker broker_;
  mutable std::mutex mutex_;
  std::map<std::string, Host> hosts_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace gale::sensors

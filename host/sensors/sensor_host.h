// `gale sensor-host`: one subprocess per pack. Loads exactly one pack library, runs its sensors
// (polling ones on host-owned timers, passive ones on their own threads) and produces what they
// dispatch. A crash here takes down only this pack's sensors; the supervisor restarts it. The
// pack's Python sensors run in one Python child of this host, which relays for them
// (python_sensors.h).
// The pack's code is not trusted: the host never opens the store (the node's datastore broker
// answers for it, broker_protocol.h) and runs under a seccomp filter (sensor_host_filter.h)
// loaded before the pack's library.
#pragma once

#include <string>
#include <vector>

namespace gale::sensors {

// The environment variable that carries the bus's sasl.password from the node to a sensor host
// (never its command line, which every local user can read in /proc).
inline constexpr char kBusPasswordEnv[] = "GALE_BUS_SASL_PASSWORD";
// Likewise the bus signing key (hex) the host signs its trigger instances with: without it,
// the rules engine drops them.
inline constexpr char kBusSigningKeyEnv[] = "GALE_BUS_SIGNING_KEY";

struct SensorHostOptions {
  std::string pack_dir;
  std::string brokers;
  // librdkafka properties ("key=value", --bus-property); sasl.password comes from
  // $GALE_BUS_SASL_PASSWORD, which the host removes from its environment once read.
  std::vector<std::string> bus_properties;
  std::string topic_prefix = "gale.";
  int broker_fd = -1;  // the node's datastore broker (broker_protocol.h); -1: no datastore
  // The node's control channel (control_protocol.h): the pack's resolved config and its rule
  // triggers at start, rule trigger changes later. -1: none; the pack's own config.yaml (with
  // its schema's defaults) and --rule-trigger are used, and rules never change.
  int control_fd = -1;
  std::string node = "node-1";
  std::vector<std::string> sensors;  // sensor refs to run; empty: every enabled sensor
  double setup_timeout = 30;         // seconds; a setup() still running then exits the host
  int memory_mb = 0;                 // RLIMIT_DATA of this process; 0: unlimited
  // Python sensors (python_sensors.h): the interpreter and the shim directory. Empty python: the
  // pack's Python sensors are not run (the supervisor passes both when it gives the host one).
  std::string python;
  std::string python_shim;
  // The enabled rules of any pack on this pack's trigger types ({rule, type, parameters} as
  // JSON): Python sensors get them through add_trigger(). This pack's own rules are used
  // instead when none is given. Ignored with a control channel, which carries them.
  std::vector<std::string> rule_triggers;
};

// Runs until SIGTERM/SIGINT, then stops every sensor (cleanup(), producer flushed) and returns
// the exit code: 0 after a clean stop, 2 when the pack cannot be loaded (or the filter, or the
// broker or control descriptor is not one, or the node sent no start message), 3 when a setup()
// hung, 4 when its Python child died.
int RunSensorHost(const SensorHostOptions& options);

}  // namespace gale::sensors

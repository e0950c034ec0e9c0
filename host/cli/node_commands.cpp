#include "host/cli/node_commands.h"

#include <spdlog/spdlog.h>

#include <iostream>

#include "host/cli/paths.h"
#include "host/config/config.h"
#include "host/node/node.h"
#include "host/runner/http_client.h"
#include "host/runner/native_exec.h"
#include "host/sensors/sensor_host.h"

namespace gale::cli {

void AddNodeCommands(CLI::App& app) {
  auto* up = app.add_subcommand(
      "up",
      "Start a node: supervisor, sensors, rules, runner and API (embedded bus and store "
      "when none are configured)");
  auto overrides = std::make_shared<config::Overrides>();
  up->add_option("--config", overrides->config_file, "gale.yaml (default: $GALE_HOME/gale.yaml)")
      ->check(CLI::ExistingFile);
  up->add_option("--home", overrides->home, "State directory (default: $GALE_HOME or ~/.gale)");
  up->add_option("--node-name", overrides->node_name, "This node's name (default: the hostname)");
  up->add_option("--packs", overrides->packs_paths,
                 "Directory holding pack directories (repeatable; default: packs.paths, else " +
                     DefaultPacksDir() + ")");
  up->callback([overrides] {
    overrides->default_packs_dir = DefaultPacksDir();
    auto config = config::Load(*overrides);
    if (!config.ok()) {
      std::cerr << "gale up: " << config.message() << '\n';
      throw CLI::RuntimeError(2);
    }
    throw CLI::RuntimeError(node::RunNode(*config, GaleBinary()));
  });

  auto* host = app.add_subcommand(
      "sensor-host", "Internal: run one pack's sensors (started by `gale up`, one per pack)");
  auto o = std::make_shared<sensors::SensorHostOptions>();
  host->add_option("--pack", o->pack_dir, "Pack directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  host->add_option("--brokers", o->brokers, "Kafka bootstrap servers")->required();
  host->add_option("--bus-property", o->bus_properties,
                   "librdkafka property key=value (repeatable; sasl.password comes from $" +
                       std::string(sensors::kBusPasswordEnv) + ")");
  host->add_option("--topic-prefix", o->topic_prefix, "Topic prefix")->capture_default_str();
  host->add_option("--broker-fd", o->broker_fd,
                   "Descriptor of the node's datastore broker (default: no datastore)");
  host->add_option("--control-fd", o->control_fd,
                   "Descriptor of the node's control channel: the resolved pack config and rule "
                   "trigger changes (default: none; the pack's own config.yaml)");
  host->add_option("--node", o->node, "Node name recorded on trigger instances")
      ->capture_default_str();
  host->add_option("--sensor", o->sensors, "Sensor ref to run (repeatable; default: all enabled)");
  host->add_option("--setup-timeout", o->setup_timeout, "Seconds a setup() may take")
      ->capture_default_str();
  host->add_option("--memory-mb", o->memory_mb, "Data-segment limit of this process (0: none)")
      ->capture_default_str();
  host->add_option("--python", o->python,
                   "Interpreter of the pack's Python sensors (default: they do not run)");
  host->add_option("--python-shim", o->python_shim,
                   "Directory of the StackStorm shim (st2reactor, gale_shim)");
  host->add_option("--rule-trigger", o->rule_triggers,
                   "A rule on one of the pack's trigger types, {rule, type, parameters} as JSON, "
                   "for Python sensors' add_trigger (repeatable)");
  host->callback([o] { throw CLI::RuntimeError(sensors::RunSensorHost(*o)); });

  auto* exec = app.add_subcommand(
      "exec", "Internal: the sandboxed child of the native and http-request runners");
  exec->require_subcommand(1);
  auto* native = exec->add_subcommand(
      "native",
      "Load a pack library and run one native action: {parameters, config} on stdin, "
      "{status, result} on stdout");
  auto library = std::make_shared<std::string>();
  auto entry_point = std::make_shared<std::string>();
  native->add_option("library", *library, "The pack's .so")->required();
  native->add_option("entry_point", *entry_point, "The action's entry_point")->required();
  native->callback([library, entry_point] {
    throw CLI::RuntimeError(runner::RunNativeAction(*library, *entry_point));
  });
  auto* http = exec->add_subcommand(
      "http", "Send one HTTP request: core.http parameters on stdin, {status, result} on stdout");
  http->callback([] { throw CLI::RuntimeError(runner::RunHttpExec()); });
}

}  // namespace gale::cli

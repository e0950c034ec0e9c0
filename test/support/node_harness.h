// Runs a real `gale up` for tests: its own GALE_HOME and gale.yaml, the embedded bus or the
// broker named by GALE_KAFKA_BROKERS, and helpers to read what it produced.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "host/bus/bus.h"
#include "host/common/json.h"
#include "host/store/store.h"
#include "test/support/pack_dir.h"

namespace gale::testing {

enum class Backend { kEmbedded, kRealKafka };
std::string BackendName(Backend b);
// The real broker's address, or "" (then real-broker tests print SKIPPED).
std::string RealBrokers();

struct NodeOptions {
  Backend backend = Backend::kEmbedded;
  std::vector<std::string> packs_paths;
  std::string extra_yaml;        // appended to gale.yaml (e.g. a sensors: section)
  std::vector<std::string> env;  // "NAME=value" set in the node's environment
  std::string node_name = "test-node";
  std::string roles;  // e.g. "[rules, api]"; empty: every role
  // A free port by default, so that nodes of tests running side by side never collide.
  std::string api_listen = "127.0.0.1:0";
  double api_request_timeout = 30;
  std::string api_yaml;  // more entries of gale.yaml's api: section, flow style ("a: 1, b: 2")
  // Another node of the same deployment: this one uses its bus, topic prefix and store.
  const class NodeProcess* join = nullptr;
  // Or these, when set (a node restarted after the one it joined is gone).
  std::string brokers;
  std::string topic_prefix;
  std::string store_url;
  // Whether Start waits for the node to report ready (a test of a node that cannot start, e.g.
  // its store is unreachable, reads the log instead).
  bool wait_ready = true;
  // gale.yaml's bus.security as a YAML flow mapping ("{protocol: ...}"); when set, `brokers`
  // is used as it is (GALE_KAFKA_BROKERS is not passed to the node).
  std::string bus_security;
  // gale.yaml's bus.signing_key_file. Unset: one key file shared by every node this test
  // process starts (nodes of one deployment share their bus key); "": the node's default,
  // $GALE_HOME/keys/bus.key.
  std::optional<std::string> signing_key_file;
  // The node's open files limit, soft and hard (`ulimit -n`); 0: this process's.
  int open_files_limit = 0;
};

// The bus key file shared by the nodes this process starts (NodeOptions::signing_key_file).
std::string SharedBusKeyFile();

class NodeProcess {
 public:
  // Starts the node and waits until it reports ready; fails the test otherwise.
  static std::unique_ptr<NodeProcess> Start(const NodeOptions& options);
  ~NodeProcess();

  const std::string& home() const { return home_path_; }
  const std::string& brokers() const { return brokers_; }
  const std::string& topic_prefix() const { return prefix_; }
  const std::string& store_url() const { return store_url_; }
  // The API's URL as the node wrote it to $GALE_HOME/api.addr ("" without the api role).
  std::string api_url() const;
  // The node's admin token as it wrote it to $GALE_HOME/api.token ("" without the api role).
  std::string api_token() const;
  pid_t pid() const { return pid_; }
  std::string Log() const;
  bool Alive() const;
  // SIGTERM, then waits; returns the exit code (or 128 + signal).
  int Stop(std::chrono::seconds grace = std::chrono::seconds(30));
  store::StorePtr OpenStore() const;  // the deployment's store (shared with joined nodes)

 private:
  TempDir home_;
  std::string home_path_ = home_.str();
  std::string brokers_;
  std::string prefix_;
  std::string store_url_;
  pid_t pid_ = -1;
  mutable int status_ = -1;
};

// Reads `topic` from the beginning until `done(messages so far)` or the deadline, with
// `properties` as extra librdkafka settings (e.g. SASL).
std::vector<bus::Message> ReadTopic(
    const std::string& brokers, const std::string& topic,
    const std::function<bool(const std::vector<bus::Message>&)>& done,
    std::chrono::milliseconds deadline, const std::map<std::string, std::string>& properties = {});

// Waits until `condition()` holds or the deadline passes; returns the last value.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds deadline);

// How many times `needle` occurs in `text` (a log line, a file's lines), overlaps counted.
size_t Count(const std::string& text, const std::string& needle);

// Whether a live (not zombie) process has `needle` on its command line.
bool AnyProcessWith(const std::string& needle);

}  // namespace gale::testing

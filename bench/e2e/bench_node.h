// A `gale up` process started by a benchmark: its own GALE_HOME and gale.yaml, the embedded bus
// (or the given brokers), stopped with SIGTERM when destroyed.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "host/common/result.h"

namespace gale::bench {

// A new directory under the temporary directory (gale-bench-XXXXXX).
Result<std::string> MakeTempDir();

struct NodeSpec {
  std::string gale_binary;  // path to `gale`
  std::string name = "bench";
  std::string roles;  // "" = every role
  std::vector<std::string> packs_paths;
  std::string brokers;       // "" = this node starts the embedded bus
  std::string topic_prefix;  // required
  std::string store_url;     // required
  // Nodes of one deployment sign the bus with one key (bus.signing_key_file): without it each
  // node drops the others' messages as forged. "" = the node's own key.
  std::string bus_key_file;
  std::string extra_yaml;  // appended to gale.yaml
};

class BenchNode {
 public:
  // Starts the node and waits (60 s) until it logs that it is up.
  static Result<std::unique_ptr<BenchNode>> Start(const NodeSpec& spec);
  ~BenchNode();
  BenchNode(const BenchNode&) = delete;
  BenchNode& operator=(const BenchNode&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& home() const { return home_; }
  // The bus this node uses: the given brokers, or its embedded bus's address.
  const std::string& brokers() const { return brokers_; }
  std::string Log() const;
  void Stop();

 private:
  BenchNode() = default;
  bool Alive();
  std::string home_;
  std::string brokers_;
  pid_t pid_ = -1;
};

// Memory of a process, from /proc: resident set and proportional set (shared pages divided among
// the processes sharing them), in KiB.
struct Memory {
  long rss_kib = 0;
  long pss_kib = 0;
};
Memory MemoryOf(pid_t pid);
// The process's peak resident set since it started (VmHWM), in KiB; 0 if it is gone.
long PeakRssKib(pid_t pid);
// The process's descendants (children, grandchildren, ...), from /proc/*/stat.
std::vector<pid_t> Descendants(pid_t pid);
// The process's command line, word by word (empty if the process is gone).
std::vector<std::string> CommandLine(pid_t pid);

}  // namespace gale::bench

#include "bench/e2e/bench_node.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "host/common/read_file.h"

namespace gale::bench {
namespace fs = std::filesystem;

Result<std::string> MakeTempDir() {
  std::string tmpl = (fs::temp_directory_path() / "gale-bench-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return Status::Error("mkdtemp failed");
  return tmpl;
}

Result<std::unique_ptr<BenchNode>> BenchNode::Start(const NodeSpec& spec) {
  std::unique_ptr<BenchNode> node(new BenchNode());
  auto home = MakeTempDir();
  if (!home.ok()) return home.status();
  node->home_ = *home;
  std::ostringstream yaml;
  yaml << "node: {name: " << spec.name << (spec.roles.empty() ? "" : ", roles: " + spec.roles)
       << "}\n"
       << "bus: {topic_prefix: \"" << spec.topic_prefix << "\""
       << (spec.brokers.empty() ? "" : ", brokers: \"" + spec.brokers + "\"")
       << (spec.bus_key_file.empty() ? "" : ", signing_key_file: \"" + spec.bus_key_file + "\"")
       << "}\n"
       << "store: {url: \"" << spec.store_url << "\"}\n"
       << "api: {listen: \"127.0.0.1:0\"}\n"
       << "packs:\n  paths:\n";
  for (const auto& p : spec.packs_paths) yaml << "    - " << p << "\n";
  yaml << spec.extra_yaml;
  std::ofstream(fs::path(node->home_) / "gale.yaml") << yaml.str();

  const std::string log = node->home_ + "/node.log";
  std::fflush(stdout);  // else the child's freopen writes our unflushed output a second time
  node->pid_ = fork();
  if (node->pid_ < 0) return Status::Error("fork failed");
  if (node->pid_ == 0) {
    setpgid(0, 0);
    // A benchmark killed (or timed out) must not leave nodes running that load later runs.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    // The config names the bus and the store; the test environment's overrides must not.
    unsetenv("GALE_KAFKA_BROKERS");
    unsetenv("GALE_MONGODB_URL");
    if (freopen(log.c_str(), "w", stdout) == nullptr || dup2(1, 2) < 0) _exit(126);
    execl(spec.gale_binary.c_str(), "gale", "up", "--home", node->home_.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (node->Log().find(" up: bus ") == std::string::npos) {
    if (!node->Alive() || std::chrono::steady_clock::now() > deadline) {
      return Status::Error("gale up did not start:\n" + node->Log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  node->brokers_ = spec.brokers;
  if (node->brokers_.empty()) {
    std::ifstream in(fs::path(node->home_) / "bus.addr");
    std::getline(in, node->brokers_);
  }
  return node;
}

BenchNode::~BenchNode() {
  Stop();
  std::error_code ec;
  if (!home_.empty()) fs::remove_all(home_, ec);
}

std::string BenchNode::Log() const {
  return ReadFileOrEmpty(fs::path(home_) / "node.log");
}

bool BenchNode::Alive() {
  if (pid_ <= 0) return false;
  int status;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

void BenchNode::Stop() {
  if (!Alive()) return;
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (Alive() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (Alive()) {
    kill(-pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

Memory MemoryOf(pid_t pid) {
  Memory m;
  // "Rss:   1234 kB" lines, after a first line naming the [rollup] mapping.
  std::istringstream in(ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/smaps_rollup"));
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string key;
    long value = 0;
    if (!(fields >> key >> value)) continue;
    if (key == "Rss:") m.rss_kib = value;
    if (key == "Pss:") m.pss_kib = value;
  }
  return m;
}

long PeakRssKib(pid_t pid) {
  // "VmHWM:     1234 kB"
  std::istringstream in(ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string key;
    long value = 0;
    if (fields >> key >> value && key == "VmHWM:") return value;
  }
  return 0;
}

std::vector<pid_t> Descendants(pid_t root) {
  std::vector<std::pair<pid_t, pid_t>> parent_of;  // (pid, ppid)
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = ReadFileOrEmpty(entry.path() / "stat");
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so parse after the last ')'.
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    parent_of.emplace_back(std::stoi(name), ppid);
  }
  std::vector<pid_t> out;
  std::vector<pid_t> frontier = {root};
  while (!frontier.empty()) {
    const pid_t p = frontier.back();
    frontier.pop_back();
    for (const auto& [pid, ppid] : parent_of) {
      if (ppid == p) {
        out.push_back(pid);
        frontier.push_back(pid);
      }
    }
  }
  return out;
}

std::vector<std::string> CommandLine(pid_t pid) {
  std::istringstream in(ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/cmdline"));
  std::vector<std::string> words;
  for (std::string w; std::getline(in, w, '\0');) words.push_back(w);
  return words;
}

}  // namespace gale::bench

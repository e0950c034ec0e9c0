#include "test/support/node_harness.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "host/common/uuid.h"
#include "host/store/open.h"

namespace gale::testing {
namespace fs = std::filesystem;

std::string BackendName(Backend b) {
  return b == Backend::kEmbedded ? "Embedded" : "RealKafka";
}

std::string RealBrokers() {
  const char* v = std::getenv("GALE_KAFKA_BROKERS");
  return v ? v : "";
}

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

bool AnyProcessWith(const std::string& needle) {
  std::error_code ec;
  for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    // Through operator<<, which turns a read error into failbit: a process that exits while its
    // cmdline is read makes read() fail with ESRCH, which an istreambuf_iterator throws.
    std::ifstream in(it->path() / "cmdline", std::ios::binary);
    std::stringstream read;
    read << in.rdbuf();
    const std::string cmdline = read.str();
    std::ifstream stat(it->path() / "stat");
    std::string line;
    std::getline(stat, line);
    const auto paren = line.rfind(')');
    const bool zombie =
        paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
    if (!zombie && cmdline.find(needle) != std::string::npos) return true;
  }
  return false;
}

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds deadline) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

std::string SharedBusKeyFile() {
  static TempDir dir;  // removed when the test process exits
  return dir.str() + "/bus.key";
}

std::unique_ptr<NodeProcess> NodeProcess::Start(const NodeOptions& options) {
  std::unique_ptr<NodeProcess> node(new NodeProcess());
  node->prefix_ = "gale-test-" + UuidV4().substr(0, 8) + ".";
  const std::string home = node->home_path_;
  node->store_url_ = "sqlite://" + home + "/gale.db";
  std::string brokers;
  if (options.join != nullptr) {
    node->prefix_ = options.join->prefix_;
    node->store_url_ = options.join->store_url_;
    brokers = options.join->brokers_;
  }
  if (!options.topic_prefix.empty()) node->prefix_ = options.topic_prefix;
  if (!options.store_url.empty()) node->store_url_ = options.store_url;
  if (!options.brokers.empty()) brokers = options.brokers;
  const std::string signing_key_file = options.signing_key_file.value_or(SharedBusKeyFile());
  std::ostringstream yaml;
  yaml << "node: {name: " << options.node_name
       << (options.roles.empty() ? "" : ", roles: " + options.roles) << "}\n"
       << "bus: {topic_prefix: \"" << node->prefix_ << "\""
       << (brokers.empty() ? "" : ", brokers: \"" + brokers + "\"")
       << (options.bus_security.empty() ? "" : ", security: " + options.bus_security)
       << (signing_key_file.empty() ? "" : ", signing_key_file: \"" + signing_key_file + "\"")
       << "}\n"
       << "store: {url: \"" << node->store_url_ << "\"}\n"
       << "api: {listen: \"" << options.api_listen
       << "\", request_timeout: " << options.api_request_timeout
       << (options.api_yaml.empty() ? "" : ", " + options.api_yaml) << "}\n"
       << "packs:\n  paths:\n";
  for (const auto& p : options.packs_paths) yaml << "    - " << p << "\n";
  yaml << options.extra_yaml;
  std::ofstream(fs::path(home) / "gale.yaml") << yaml.str();

  // The node's store is always its own SQLite file (the tests read it); the bus follows the
  // backend under test.
  std::string env = "env -u GALE_MONGODB_URL ";
  if (options.backend == Backend::kEmbedded || !options.bus_security.empty()) {
    env += "-u GALE_KAFKA_BROKERS ";
  }
  for (const auto& e : options.env) env += "'" + e + "' ";
  std::string cmd = "exec " + env + std::string(GALE_BINARY_DIR) + "/bin/gale up --home " + home +
                    " >" + home + "/node.log 2>&1";
  if (options.open_files_limit > 0) {
    cmd = "ulimit -n " + std::to_string(options.open_files_limit) + " && " + cmd;
  }
  node->pid_ = fork();
  if (node->pid_ == 0) {
    setpgid(0, 0);
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  if (!options.wait_ready) return node;
  const bool ready =
      WaitFor([&] { return node->Log().find(" up: bus ") != std::string::npos || !node->Alive(); },
              std::chrono::seconds(60));
  EXPECT_TRUE(ready && node->Alive()) << "gale up did not become ready:\n" << node->Log();
  if (!brokers.empty()) {
    node->brokers_ = brokers;
  } else if (options.backend == Backend::kEmbedded) {
    std::ifstream in(fs::path(home) / "bus.addr");
    std::getline(in, node->brokers_);
  } else {
    node->brokers_ = RealBrokers();
  }
  return node;
}

std::string NodeProcess::api_url() const {
  std::ifstream in(fs::path(home_path_) / "api.addr");
  std::string url;
  std::getline(in, url);
  return url;
}

std::string NodeProcess::api_token() const {
  std::ifstream in(fs::path(home_path_) / "api.token");
  std::string token;
  std::getline(in, token);
  return token;
}

NodeProcess::~NodeProcess() {
  // A node of a several-node test may take a session timeout (10 s) to leave its groups.
  if (Alive()) Stop(std::chrono::seconds(30));
}

std::string NodeProcess::Log() const {
  std::ifstream in(fs::path(home_path_) / "node.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool NodeProcess::Alive() const {
  if (pid_ <= 0 || status_ != -1) return false;
  int status;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    status_ = status;
    return false;
  }
  return true;
}

int NodeProcess::Stop(std::chrono::seconds grace) {
  if (Alive()) {
    kill(pid_, SIGTERM);
    const bool stopped = WaitFor([&] { return !Alive(); }, grace);
    if (!stopped) {
      ADD_FAILURE() << "gale up ignored SIGTERM for " << grace.count() << "s; killing it\n"
                    << Log();
      kill(-pid_, SIGKILL);
      waitpid(pid_, &status_, 0);
    }
  }
  if (status_ == -1) return -1;
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
}

store::StorePtr NodeProcess::OpenStore() const {
  auto s = store::OpenStore(store_url_);
  EXPECT_TRUE(s.ok()) << s.message();
  return s.ok() ? std::move(s).value() : nullptr;
}

std::vector<bus::Message> ReadTopic(
    const std::string& brokers, const std::string& topic,
    const std::function<bool(const std::vector<bus::Message>&)>& done,
    std::chrono::milliseconds deadline, const std::map<std::string, std::string>& properties) {
  std::vector<bus::Message> messages;
  bus::BusConfig config;
  config.brokers = brokers;
  config.properties = properties;
  auto tailer = bus::Tailer::Create(config, topic, /*from_beginning=*/true);
  EXPECT_TRUE(tailer.ok()) << tailer.message();
  if (!tailer.ok()) return messages;
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!done(messages) && std::chrono::steady_clock::now() < end) {
    auto m = (*tailer)->Next(std::chrono::milliseconds(200));
    if (!m.ok()) {
      ADD_FAILURE() << m.message();
      break;
    }
    if (m->has_value()) messages.push_back(std::move(**m));
  }
  return messages;
}

}  // namespace gale::testing

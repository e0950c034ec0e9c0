#include "test/support/api_fixture.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <thread>

namespace gale::testing {
namespace fs = std::filesystem;

std::unique_ptr<TempDir> ApiNodeTest::packs_;
std::unique_ptr<NodeProcess> ApiNodeTest::node_;

void WriteApiPacks(const fs::path& root) {
  fs::copy(fs::path(GALE_BINARY_DIR) / "packs/core", root / "core", fs::copy_options::recursive);
  fs::create_directories(root / "hooks/rules");
  std::ofstream(root / "hooks/pack.yaml")
      << "---\nref: hooks\nname: hooks\ndescription: webhook rules for the API tests\n"
         "version: 0.1.0\nauthor: tests\n";
  std::ofstream(root / "hooks/rules/on_deploy.yaml")
      << "---\nname: on_deploy\npack: hooks\ntrigger:\n  type: core.st2.webhook\n"
         "  parameters: {url: deploy}\n"
         "action:\n  ref: core.local\n  parameters:\n"
         "    cmd: \"echo deploying {{ trigger.body.service }}; sleep 0.3; echo done\"\n";
}

void ApiNodeTest::SetUpTestSuite() {
  packs_ = std::make_unique<TempDir>();
  WriteApiPacks(packs_->path());
  NodeOptions options;
  options.packs_paths = {packs_->str()};
  options.api_request_timeout = 2;  // the slow-client case waits this long
  node_ = NodeProcess::Start(options);
}

void ApiNodeTest::TearDownTestSuite() {
  if (node_) {
    EXPECT_EQ(node_->Stop(), 0) << node_->Log();
  }
  node_.reset();
  packs_.reset();
}

cli::ApiClient ApiNodeTest::Api(const std::string& key) {
  return cli::ApiClient(ApiFlagsOf(*node_, key));
}

std::string RunGale(const std::string& home, const std::string& args, int* code) {
  const std::string cmd = "env -u GALE_MONGODB_URL -u GALE_KAFKA_BROKERS " +
                          (home.empty() ? std::string() : "GALE_HOME=" + home + " ") +
                          std::string(GALE_BINARY_DIR) + "/bin/gale " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return out;
}

cli::ApiFlags ApiFlagsOf(const NodeProcess& node, const std::string& key) {
  cli::ApiFlags flags;
  flags.url = node.api_url();
  flags.key = key.empty() ? node.api_token() : key;
  return flags;
}

std::string HostOf(const std::string& url) {
  return url.substr(url.find("//") + 2);
}

std::string RawExchange(const std::string& url, const std::string& bytes,
                        std::chrono::milliseconds timeout) {
  std::string rest = url.substr(url.find("//") + 2);
  const std::string host = rest.substr(0, rest.rfind(':'));
  const std::string port = rest.substr(rest.rfind(':') + 1);
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) return "";
  const int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const bool connected = connect(fd, res->ai_addr, res->ai_addrlen) == 0;
  freeaddrinfo(res);
  std::string out;
  if (connected) {
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;  // the server may answer (413) and close before it read everything
      sent += static_cast<size_t>(n);
    }
    char buf[65536];
    while (true) {
      const ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return out;
}

int StatusOf(const std::string& response) {
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return 0;
  return std::atoi(response.substr(9, 3).c_str());
}

Json WaitFinal(cli::ApiClient& api, const std::string& id, std::chrono::seconds timeout) {
  Json last;
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    auto r = api.Call("GET", "/v1/executions/" + id);
    if (r.ok() && r->status == 200) {
      last = r->json();
      const std::string s = last.value("status", "");
      if (s == "succeeded" || s == "failed" || s == "timeout" || s == "abandoned" ||
          s == "canceled") {
        return last;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return last;
}

}  // namespace gale::testing

// MongoDB faults: a connection cut under a running store (a TCP proxy between the store and
// the server) fails writes with a retryable error and writes nothing; the store recovers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "test/store/store_fixture.h"

namespace gale::store::testing {
namespace {

// Forwards 127.0.0.1:port() to a target; while cut, it drops every connection.
class Proxy {
 public:
  Proxy(const std::string& host, int port) {
    target_.sin_family = AF_INET;
    target_.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, host.c_str(), &target_.sin_addr);
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(listen_fd_, 64) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~Proxy() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (auto& [a, b] : pairs_) {
      close(a);
      close(b);
    }
    close(listen_fd_);
  }
  int port() const { return port_; }
  void Cut(bool cut) { cut_ = cut; }

 private:
  void Loop() {
    while (!stop_) {
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      for (auto& [a, b] : pairs_) {
        fds.push_back({a, POLLIN, 0});
        fds.push_back({b, POLLIN, 0});
      }
      if (poll(fds.data(), fds.size(), 20) < 0) continue;
      if (cut_) {
        for (auto& [a, b] : pairs_) {
          close(a);
          close(b);
        }
        pairs_.clear();
      }
      if (fds[0].revents & POLLIN) {
        int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client >= 0 && cut_) {
          close(client);
        } else if (client >= 0) {
          int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
          if (connect(server, reinterpret_cast<sockaddr*>(&target_), sizeof(target_)) == 0) {
            pairs_.emplace_back(client, server);
          } else {
            close(client);
            close(server);
          }
        }
        continue;  // the pair list changed: poll again
      }
      if (cut_) continue;
      std::vector<size_t> dead;
      for (size_t i = 0; i < pairs_.size(); ++i) {
        for (int side = 0; side < 2; ++side) {
          const pollfd& p = fds[1 + 2 * i + side];
          if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
          char buf[65536];
          ssize_t n = read(p.fd, buf, sizeof(buf));
          int to = side == 0 ? pairs_[i].second : pairs_[i].first;
          if (n <= 0 || write(to, buf, static_cast<size_t>(n)) != n) dead.push_back(i);
        }
      }
      for (auto it = dead.rbegin(); it != dead.rend(); ++it) {
        if (*it >= pairs_.size()) continue;
        close(pairs_[*it].first);
        close(pairs_[*it].second);
        pairs_.erase(pairs_.begin() + static_cast<long>(*it));
      }
    }
  }

  sockaddr_in target_{};
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false}, cut_{false};
  std::vector<std::pair<int, int>> pairs_;
  std::thread thread_;
};

TEST(MongoFaultsTest, ACutConnectionFailsWritesRetryablyAndWritesNothing) {
  const char* base = std::getenv("GALE_MONGODB_URL");
  if (base == nullptr || *base == '\0') {
    GTEST_SKIP() << "SKIPPED: GALE_MONGODB_URL is not set (run scripts/services up)";
  }
  // host:port of a single, unauthenticated server (what scripts/services gives).
  std::string url = base;
  size_t start = url.find("://") + 3;
  size_t end = url.find_first_of("/?", start);
  std::string hostport = url.substr(start, end == std::string::npos ? end : end - start);
  size_t colon = hostport.rfind(':');
  if (hostport.find_first_of(",@") != std::string::npos || colon == std::string::npos) {
    GTEST_SKIP() << "SKIPPED: GALE_MONGODB_URL is not a single host:port";
  }
  std::string host = hostport.substr(0, colon);
  if (host == "localhost") host = "127.0.0.1";
  Proxy proxy(host, std::stoi(hostport.substr(colon + 1)));
  ASSERT_NE(proxy.port(), 0);

  std::string db = "gale_test_" + RandomSuffix();
  std::string via_proxy = "mongodb://127.0.0.1:" + std::to_string(proxy.port()) + "/" + db;
  StoreOptions options = TestOptions();
  options.server_timeout = std::chrono::milliseconds(1500);
  auto store = OpenStore(via_proxy, options);
  ASSERT_TRUE(store.ok()) << store.message();
  Execution e;
  e.id = "ex-1";
  e.action = "core.noop";
  ASSERT_TRUE(*(*store)->CreateExecution(e));

  proxy.Cut(true);
  e.id = "ex-2";
  auto failed = (*store)->CreateExecution(e);
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(failed.status().retryable()) << failed.message();
  EXPECT_NE(failed.message().find(via_proxy), std::string::npos) << failed.message();
  EXPECT_NE(failed.message().find("ex-2"), std::string::npos) << failed.message();
  auto claim = (*store)->ClaimExecution("ex-1", "node-a", 5000, 1000);
  ASSERT_FALSE(claim.ok());
  EXPECT_TRUE(claim.status().retryable()) << claim.message();

  proxy.Cut(false);
  auto direct = OpenStore(WithDatabase(base, db), TestOptions());
  ASSERT_TRUE(direct.ok()) << direct.message();
  auto absent = (*direct)->GetExecution("ex-2");
  ASSERT_TRUE(absent.ok()) << absent.message();
  EXPECT_FALSE(absent->has_value()) << "a write that failed must not have happened";
  auto ex1 = (*direct)->GetExecution("ex-1");
  ASSERT_TRUE(ex1.ok() && ex1->has_value());
  EXPECT_EQ((*ex1)->status, ExecStatus::kRequested);
  // The store recovers by itself once the server is reachable again.
  Result<bool> again = Status::Error("not tried");
  for (int i = 0; i < 50 && !again.ok(); ++i) {
    again = (*store)->CreateExecution(e);
    if (!again.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_TRUE(*again);
  store = Result<StorePtr>(Status::Error("closed"));
  direct = Result<StorePtr>(Status::Error("closed"));
  DropMongoDatabase(WithDatabase(base, db));
}

}  // namespace
}  // namespace gale::store::testing

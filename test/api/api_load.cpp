// Load generator for the API test (a second process, as a real client would be): CONNECTIONS
// keep-alive connections each sending GET TARGET back to back for SECONDS, then one JSON line:
// {"requests": n, "errors": n, "connections": n, "first_error": "..."}.
// Usage: GALE_API_KEY=KEY gale_api_load HOST PORT TARGET CONNECTIONS SECONDS
// Boost.Asio 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct Totals {
  std::atomic<long> requests{0}, errors{0};
  std::mutex mu;
  std::string first_error;
  void Error(const std::string& what) {
    errors++;
    std::lock_guard lock(mu);
    if (first_error.empty()) first_error = what;
  }
};

class Poller : public std::enable_shared_from_this<Poller> {
 public:
  Poller(net::io_context& io, tcp::endpoint ep, std::string target, Totals& totals,
         std::chrono::steady_clock::time_point end)
      : stream_(io), ep_(ep), target_(std::move(target)), totals_(totals), end_(end) {}
  void Start() {
    stream_.async_connect(ep_, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->totals_.Error("connect: " + ec.message());
      self->Send();
    });
  }

 private:
  void Send() {
    if (std::chrono::steady_clock::now() >= end_) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      return;
    }
    req_ = {http::verb::get, target_, 11};
    req_.set(http::field::host, ep_.address().to_string() + ":" + std::to_string(ep_.port()));
    if (const char* key = std::getenv("GALE_API_KEY")) req_.set("St2-Api-Key", key);
    req_.keep_alive(true);
    http::async_write(stream_, req_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->totals_.Error("write: " + ec.message());
      self->res_ = {};
      http::async_read(
          self->stream_, self->buffer_, self->res_, [self](beast::error_code ec, size_t) {
            if (ec) return self->totals_.Error("read: " + ec.message());
            if (self->res_.result_int() != 200) {
              return self->totals_.Error("HTTP " + std::to_string(self->res_.result_int()));
            }
            self->totals_.requests++;
            if (!self->res_.keep_alive()) {
              return self->totals_.Error("server closed a keep-alive connection");
            }
            self->Send();
          });
    });
  }

  beast::tcp_stream stream_;
  tcp::endpoint ep_;
  std::string target_;
  Totals& totals_;
  std::chrono::steady_clock::time_point end_;
  beast::flat_buffer buffer_;
  http::request<http::empty_body> req_;
  http::response<http::string_body> res_;
};

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s HOST PORT TARGET CONNECTIONS SECONDS\n", argv[0]);
    return 2;
  }
  net::io_context io;
  tcp::endpoint ep(net::ip::make_address(argv[1]), static_cast<unsigned short>(std::stoi(argv[2])));
  const int connections = std::stoi(argv[4]);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(std::stoi(argv[5]));
  Totals totals;
  for (int i = 0; i < connections; ++i) {
    std::make_shared<Poller>(io, ep, argv[3], totals, end)->Start();
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) threads.emplace_back([&] { io.run(); });
  for (auto& t : threads) t.join();
  std::string error = totals.first_error;
  for (auto& c : error) {
    if (c == '"' || c == '\\') c = '\'';
  }
  std::printf(
      "{\"requests\": %ld, \"errors\": %ld, \"connections\": %d, \"first_error\": \"%s\"}\n",
      totals.requests.load(), totals.errors.load(), connections, error.c_str());
  return 0;
}

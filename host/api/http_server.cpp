#include "host/api/http_server.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "host/api/beast_request.h"

namespace gale::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  ServerOptions options;
  Handler handler;
  net::io_context io;
  // The acceptor and its back-off timer are used on one strand (accept handlers, Stop()).
  net::strand<net::io_context::executor_type> accept_strand = net::make_strand(io);
  tcp::acceptor acceptor{accept_strand};
  net::steady_timer accept_timer{accept_strand};
  std::chrono::milliseconds accept_backoff{0};
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  std::atomic<size_t> connections{0};

  std::mutex streams_mu;
  std::condition_variable streams_done;
  size_t streams = 0;
  std::map<std::string, size_t> client_streams;  // remote address -> open streams

  // Live sessions' sockets, so that Stop() can close idle keep-alive connections.
  std::mutex sessions_mu;
  std::vector<std::weak_ptr<void>> sessions;

  void Accept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  void Admit(tcp::socket socket);

  // 0 when `client` may open one more stream (then ReleaseStream(client) when it ends), else
  // the status to answer: 503 (every stream in use, or stopping) or 429 (this client's share).
  int TakeStream(const std::string& client) {
    std::lock_guard lock(streams_mu);
    if (streams >= options.max_streams || stopping) return 503;
    size_t& mine = client_streams[client];
    if (mine >= options.max_streams_per_client) {
      if (mine == 0) client_streams.erase(client);
      return 429;
    }
    ++mine;
    ++streams;
    return 0;
  }
  void ReleaseStream(const std::string& client) {
    std::lock_guard lock(streams_mu);
    --streams;
    auto it = client_streams.find(client);
    if (it != client_streams.end() && --it->second == 0) client_streams.erase(it);
    streams_done.notify_all();
  }
};

namespace {

// Sends a chunked body on a socket owned by a stream thread: blocking sends bounded by
// SO_SNDTIMEO, so a client that stops reading cannot hold the thread forever.
class SocketWriter final : public StreamWriter {
 public:
  SocketWriter(int fd, const std::atomic<bool>& stopping) : fd_(fd), stopping_(stopping) {}
  bool Write(std::string_view data) override {
    if (data.empty()) return Open();
    char size[32];
    const int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    return Send(std::string_view(size, static_cast<size_t>(n))) && Send(data) && Send("\r\n");
  }
  bool Open() const override {
    if (failed_ || stopping_) return false;
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) > 0) {
      if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return false;
      char c;
      if (::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0) return false;
    }
    return true;
  }
  bool Send(std::string_view data) {
    while (!data.empty() && !failed_) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        failed_ = true;
        break;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return !failed_;
  }

 private:
  int fd_;
  const std::atomic<bool>& stopping_;
  bool failed_ = false;
};

const char* Reason(int status) {
  return http::obsolete_reason(static_cast<http::status>(status)).data();
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<HttpServer::Impl> server)
      : stream_(std::move(socket)), server_(std::move(server)) {
    boost::system::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) {
      address_ = ep.address().to_string();
      peer_ = address_ + ":" + std::to_string(ep.port());
    }
  }
  ~Session() { server_->connections--; }

  void Run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
  }
  void Close() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      boost::system::error_code ec;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      self->stream_.close();
    });
  }

 private:
  void Read() {
    if (server_->stopping) return;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_->options.header_limit));
    parser_->body_limit(server_->options.body_limit);
    stream_.expires_after(server_->options.request_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset ||
        ec == net::error::eof || server_->stopping) {
      return Shutdown();
    }
    if (ec == http::error::body_limit) {
      return Reply(
          HttpResponse::Error(413, "request body larger than " +
                                       std::to_string(server_->options.body_limit) + " bytes"),
          false);
    }
    if (ec == http::error::header_limit) {
      return Reply(
          HttpResponse::Error(431, "request headers larger than " +
                                       std::to_string(server_->options.header_limit) + " bytes"),
          false);
    }
    if (ec) return Reply(HttpResponse::Error(400, "bad HTTP request: " + ec.message()), false);

    auto& msg = parser_->get();
    const bool keep_alive = msg.keep_alive();
    HttpRequest request = FromBeast(msg, peer_);

    HttpResponse response;
    try {
      response = server_->handler(request);
    } catch (const std::exception& e) {
      response = HttpResponse::Internal(request.method + " " + request.path, e.what());
    }
    if (response.stream) return StartStream(std::move(response));
    Reply(std::move(response), keep_alive);
  }

  void Reply(HttpResponse r, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(static_cast<unsigned>(r.status));
    res->set(http::field::server, "gale");
    res->set(http::field::content_type, r.content_type);
    for (const auto& [name, value] : r.headers) res->set(name, value);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive);
    res->prepare_payload();
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
                        if (ec || !keep_alive) return self->Shutdown();
                        self->Read();
                      });
  }

  void StartStream(HttpResponse r) {
    if (const int refused = server_->TakeStream(address_)) {
      if (refused == 429) {
        return Reply(
            HttpResponse::Error(429, "too many open streams from " + address_ + " (at most " +
                                         std::to_string(server_->options.max_streams_per_client) +
                                         "); close one and try again"),
            false);
      }
      return Reply(HttpResponse::Error(503, "too many open streams; try again later"), false);
    }
    stream_.expires_never();
    tcp::socket socket = stream_.release_socket();
    boost::system::error_code ec;
    socket.native_non_blocking(false, ec);
    timeval send_timeout{10, 0};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &send_timeout,
                 sizeof send_timeout);
    std::thread([server = server_, client = address_, socket = std::move(socket),
                 r = std::move(r)]() mutable {
      SocketWriter writer(socket.native_handle(), server->stopping);
      std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " + Reason(r.status) +
                         "\r\nServer: gale\r\nContent-Type: " + r.content_type +
                         "\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n"
                         "Connection: close\r\n";
      for (const auto& [name, value] : r.headers) head += name + ": " + value + "\r\n";
      head += "\r\n";
      if (writer.Send(head)) {
        try {
          r.stream(writer);
        } catch (const std::exception& e) {
          ClientLogLimit().Log(spdlog::level::err, "stream failed", "api: stream failed: {}",
                               e.what());
        }
        writer.Send("0\r\n\r\n");
      }
      boost::system::error_code ignored;
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
      server->ReleaseStream(client);
    }).detach();
  }

  void Shutdown() {
    boost::system::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpServer::Impl> server_;
  std::string address_;  // the remote address, "127.0.0.1"
  std::string peer_;     // and port, "127.0.0.1:50312"
};

// Errors of one connection that went away before it was accepted: the next accept may succeed.
bool PeerGone(const beast::error_code& ec) {
  return ec == net::error::connection_aborted || ec == net::error::connection_reset ||
         ec == beast::error_code(EPROTO, beast::system_category()) ||
         ec == beast::error_code(EPERM, beast::system_category());
}

Result<tcp::endpoint> ParseListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return Status::Error("api.listen '" + listen + "': expected host:port");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port_text = listen.substr(colon + 1);
  int port = -1;
  try {
    size_t used = 0;
    port = std::stoi(port_text, &used);
    if (used != port_text.size()) port = -1;
  } catch (const std::exception&) {
  }
  if (port < 0 || port > 65535) {
    return Status::Error("api.listen '" + listen + "': bad port '" + port_text + "'");
  }
  boost::system::error_code ec;
  auto address = net::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  if (ec) {
    return Status::Error("api.listen '" + listen + "': '" + host +
                         "' is not an IP address (use 127.0.0.1, 0.0.0.0 or an interface's "
                         "address)");
  }
  return tcp::endpoint(address, static_cast<unsigned short>(port));
}

}  // namespace

size_t DefaultMaxConnections() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 4096;
  constexpr rlim_t kMost = rlim_t{1} << 20;
  const rlim_t soft = rl.rlim_cur == RLIM_INFINITY ? kMost : std::min(rl.rlim_cur, kMost);
  return std::max<size_t>(16, soft / 2 > 64 ? static_cast<size_t>(soft / 2 - 64) : 0);
}

void HttpServer::Impl::Accept() {
  acceptor.async_accept(
      net::make_strand(io),
      net::bind_executor(accept_strand,
                         [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                           self->OnAccept(ec, std::move(socket));
                         }));
}

void HttpServer::Impl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (stopping || ec == net::error::operation_aborted) return;
  if (!ec) {
    accept_backoff = std::chrono::milliseconds(0);
    Admit(std::move(socket));
    return Accept();
  }
  if (PeerGone(ec)) return Accept();
  // Out of descriptors (EMFILE, ENFILE) or kernel memory (ENOBUFS, ENOMEM), or anything else:
  // the next accept would fail the same way at once, and a loop of them would spin a thread
  // and (logged) fill the disk. Wait, longer each time, until one succeeds.
  accept_backoff = std::clamp(2 * accept_backoff, std::chrono::milliseconds(10),
                              std::chrono::milliseconds(1000));
  ClientLogLimit().Log(
      spdlog::level::warn, "accept",
      "api: accept failed: {}; waiting {} ms before the next ({} connections open, at "
      "most {})",
      ec.message(), accept_backoff.count(), connections.load(), options.max_connections);
  accept_timer.expires_after(accept_backoff);
  accept_timer.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
    if (wait_ec || self->stopping) return;
    self->Accept();
  });
}

void HttpServer::Impl::Admit(tcp::socket socket) {
  if (connections.load() >= options.max_connections) {
    // Closed at once: its descriptor is back before the next accept, so a flood of connections
    // costs the node none beyond the cap.
    boost::system::error_code ignored;
    socket.close(ignored);
    ClientLogLimit().Log(spdlog::level::warn, "over cap",
                         "api: closed a new connection: {} are open, api.max_connections",
                         options.max_connections);
    return;
  }
  connections++;
  auto session = std::make_shared<Session>(std::move(socket), shared_from_this());
  {
    std::lock_guard lock(sessions_mu);
    // Forget sessions that ended, now and then, so the list stays small.
    if (sessions.size() > 2 * connections.load() + 64) {
      std::erase_if(sessions, [](const auto& w) { return w.expired(); });
    }
    sessions.push_back(session);
  }
  session->Run();
}

HttpServer::HttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  Stop();
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const ServerOptions& options,
                                                      Handler handler) {
  GALE_ASSIGN_OR_RETURN(auto endpoint, ParseListen(options.listen));
  auto impl = std::make_shared<Impl>();
  impl->options = options;
  if (impl->options.max_connections == 0) impl->options.max_connections = DefaultMaxConnections();
  spdlog::info("api: at most {} connections, {} streams ({} per client address)",
               impl->options.max_connections, impl->options.max_streams,
               impl->options.max_streams_per_client);
  impl->handler = std::move(handler);
  boost::system::error_code ec;
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Status::Error("cannot listen on " + options.listen + ": " + ec.message());
  impl->Accept();
  for (int i = 0; i < std::max(1, options.threads); ++i) {
    impl->threads.emplace_back([io = &impl->io] { io->run(); });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

std::string HttpServer::address() const {
  boost::system::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  if (ec) return impl_->options.listen;
  const std::string host = ep.address().to_string();
  return (ep.address().is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(ep.port());
}

void HttpServer::Stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  net::post(impl_->accept_strand, [impl = impl_] {
    boost::system::error_code ec;
    impl->acceptor.close(ec);
    impl->accept_timer.cancel();
  });
  {
    std::lock_guard lock(impl_->sessions_mu);
    for (auto& w : impl_->sessions) {
      if (auto s = std::static_pointer_cast<Session>(w.lock())) s->Close();
    }
    impl_->sessions.clear();
  }
  {
    std::unique_lock lock(impl_->streams_mu);
    impl_->streams_done.wait_for(lock, std::chrono::seconds(15),
                                 [&] { return impl_->streams == 0; });
  }
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  // Pending handlers hold the Impl (and through the handler, the API's producer): run them out
  // (they see the closed sockets and end) and drop the handler, so nothing outlives Stop().
  impl_->io.restart();
  impl_->io.run_for(std::chrono::milliseconds(500));
  impl_->handler = nullptr;
}

}  // namespace gale::api

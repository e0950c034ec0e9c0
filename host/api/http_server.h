// The API's HTTP/1.1 server (Boost.Beast on Boost.Asio): keep-alive connections served by a few
// I/O threads, every limit enforced before a handler runs, and streamed responses (output
// follow, server-sent events) moved to threads of their own so they never hold an I/O thread.
//
// Limits, each answered without reaching a handler: a request body over body_limit -> 413;
// headers over header_limit -> 431; anything that is not HTTP -> 400; a connection that does not
// send a complete request within request_timeout (idle keep-alive or a slow sender) is closed.
// A handler that throws -> 500. Nothing a client sends can stop the server.
//
// Exhaustion: at most max_connections open connections (more are accepted and closed at once,
// counted in a log line a minute); at most max_streams streamed responses (more -> 503) and
// max_streams_per_client per remote address (more -> 429). When accept itself fails for want
// of descriptors or kernel memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) the server waits before the
// next accept (10 ms, doubling to 1 s, back to 10 ms after one succeeds) instead of spinning,
// and logs that at most once a minute. Every log line a client can make repeat is rate-limited.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "host/api/http.h"
#include "host/common/result.h"

namespace gale::api {

struct ServerOptions {
  std::string listen = "127.0.0.1:9101";  // "host:port"; port 0 picks a free one
  size_t body_limit = 1u << 20;
  size_t header_limit = 16u << 10;
  std::chrono::milliseconds request_timeout{30000};
  int threads = 4;
  // Open connections at most; more are accepted and closed at once. 0: DefaultMaxConnections().
  size_t max_connections = 0;
  size_t max_streams = 256;           // more streamed responses are answered 503
  size_t max_streams_per_client = 8;  // per remote address; more are answered 429
};

// The connection cap when none is configured: max(16, soft RLIMIT_NOFILE / 2 - 64). The other
// half of the descriptors (and 64 more) stay for the node's own: its store, bus sockets, sensor
// hosts, executions' pipes and the streams' bus consumers. So a full API still leaves the node
// descriptors to run, and accept keeps succeeding (over-cap connections are closed, not left in
// the kernel's queue to be retried on EMFILE).
size_t DefaultMaxConnections();

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(HttpRequest&)>;
  // Binds and starts serving; fails with the address and the reason (in use, not local, ...).
  static Result<std::unique_ptr<HttpServer>> Start(const ServerOptions& options, Handler handler);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound address, "host:port" (the real port when 0 was asked).
  std::string address() const;
  // Stops accepting, closes connections, ends streams and joins every thread. Idempotent.
  void Stop();

  struct Impl;

 private:
  explicit HttpServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace gale::api

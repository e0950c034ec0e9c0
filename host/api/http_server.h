// The API's HTTP/1.1 server (Boost.Beast on Boost.Asio): keep-alive connections served by a few
// I/O threads, every limit enforced before a handler runs, and streamed responses (output
// follow, server-sent events) moved to threads of their own so they never hold an I/O thread.
//
// Limits, each answered without reaching a handler: a request body over body_limit -> 413;
// headers over header_limit -> 431; anything that is not HTTP -> 400; a connection that does not
// send a complete request within request_timeout (idle keep-alive or a slow sender) is closed.
// A handler that throws -> 500. Nothing a client sends can stop the server.
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
  size_t max_connections = 4096;  // more are closed at once
  size_t max_streams = 256;       // more streamed responses are answered 503
};

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

// HTTP requests as the API server reads them (host/api/http_server.cpp): Beast's request parser
// with the server's default limits, Gale's conversion (FromBeast: target split, query decoding,
// header names) and its router, with the API's route patterns.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "host/api/beast_request.h"
#include "host/api/http_server.h"
#include "host/api/router.h"

namespace http = boost::beast::http;

namespace {

const gale::api::Router& TheRouter() {
  static const gale::api::Router router = [] {
    gale::api::Router r;
    // The API's patterns (host/api/*_routes.cpp); the handlers only touch what they were given.
    const std::pair<const char*, const char*> routes[] = {
        {"GET", "/v1/packs"},
        {"GET", "/v1/actions"},
        {"GET", "/v1/rules"},
        {"GET", "/v1/sensors"},
        {"GET", "/v1/nodes"},
        {"PUT", "/v1/rules/{ref}"},
        {"POST", "/v1/packs/reload"},
        {"POST", "/v1/executions"},
        {"GET", "/v1/executions"},
        {"GET", "/v1/executions/{id}"},
        {"GET", "/v1/executions/{id}/output"},
        {"DELETE", "/v1/executions/{id}"},
        {"POST", "/v1/executions/{id}/re_run"},
        {"GET", "/v1/keys"},
        {"GET", "/v1/keys/{name}"},
        {"PUT", "/v1/keys/{name}"},
        {"DELETE", "/v1/keys/{name}"},
        {"GET", "/metrics"},
        {"GET", "/healthz"},
        {"GET", "/v1/stream"},
        {"POST", "/v1/webhooks/st2"},
        {"POST", "/v1/webhooks/{name}"},
    };
    for (const auto& [method, pattern] : routes) {
      r.Add(method, pattern, [](gale::api::HttpRequest& request) {
        gale::Json params = request.params;
        return gale::api::HttpResponse::Json(200, {{"params", params},
                                                   {"limit", request.Query("limit", "10")},
                                                   {"decrypt", request.QueryFlag("decrypt")},
                                                   {"key", request.Header("st2-api-key")}});
      });
    }
    return r;
  }();
  return router;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const gale::api::ServerOptions defaults;
  std::optional<http::request_parser<http::string_body>> parser;
  parser.emplace();
  parser->header_limit(static_cast<std::uint32_t>(defaults.header_limit));
  parser->body_limit(defaults.body_limit);
  parser->eager(true);
  boost::asio::const_buffer in(data, size);
  boost::beast::error_code ec;
  // Fed as a socket would: as much as the parser takes, until it is done, fails or needs more.
  while (in.size() > 0 && !parser->is_done()) {
    const size_t used = parser->put(in, ec);
    in += used;
    if (ec == http::error::need_more) {
      ec = {};
      if (used == 0) break;
    } else if (ec) {
      return 0;
    }
  }
  if (!parser->is_done()) {
    parser->put_eof(ec);
    if (ec || !parser->is_done()) return 0;
  }
  auto& msg = parser->get();
  msg.keep_alive();
  gale::api::HttpRequest request = gale::api::FromBeast(msg, "127.0.0.1:40000");
  TheRouter().Dispatch(request);
  return 0;
}

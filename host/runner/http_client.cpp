#include "host/runner/http_client.h"
#include "host/common/input_limits.h"

#include <openssl/ssl.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>

namespace gale::runner {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr size_t kMaxResponseBytes = 16u << 20;

struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;
};

std::optional<Url> ParseUrl(const std::string& text, std::string* why) {
  Url u;
  std::string rest;
  if (text.rfind("http://", 0) == 0) {
    rest = text.substr(7);
  } else if (text.rfind("https://", 0) == 0) {
    u.tls = true;
    rest = text.substr(8);
  } else {
    *why = "url must start with http:// or https://";
    return std::nullopt;
  }
  const size_t slash = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (u.target[0] != '/') u.target = "/" + u.target;
  if (auto hash = u.target.find('#'); hash != std::string::npos) u.target.resize(hash);
  if (authority.find('@') != std::string::npos) {
    *why = "credentials in the url are not supported; use an Authorization header";
    return std::nullopt;
  }
  if (!authority.empty() && authority[0] == '[') {  // [v6]:port
    const size_t close = authority.find(']');
    if (close == std::string::npos) {
      *why = "unterminated IPv6 address in url";
      return std::nullopt;
    }
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') {
      u.port = authority.substr(close + 2);
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string::npos) {
    u.host = authority.substr(0, colon);
    u.port = authority.substr(colon + 1);
  } else {
    u.host = authority;
  }
  if (u.host.empty()) {
    *why = "url has no host";
    return std::nullopt;
  }
  if (u.port.empty()) u.port = u.tls ? "443" : "80";
  return u;
}

// 1, 2.5: no trailing zeros.
std::string SecondsText(double s) {
  std::string t = std::to_string(s);
  t.erase(t.find_last_not_of('0') + 1);
  if (!t.empty() && t.back() == '.') t.pop_back();
  return t;
}

Json Failed(const std::string& status, const std::string& error) {
  return {{"status", status}, {"result", {{"error", error}}}};
}

template <class Stream>
Json Exchange(Stream& stream, const http::request<http::string_body>& req) {
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBytes);
  if (req.method() == http::verb::head) parser.skip(true);
  http::read(stream, buffer, parser);
  const auto& res = parser.get();
  Json headers = Json::object();
  for (const auto& field : res) {
    headers[std::string(field.name_string())] = std::string(field.value());
  }
  Json result = {{"status_code", res.result_int()}, {"headers", headers}, {"parsed", false}};
  const std::string& body = res.body();
  // A remote server's answer: parsed only within the input limits, else kept as text.
  Json parsed = CheckJsonText(body).ok() ? Json::parse(body, nullptr, /*allow_exceptions=*/false)
                                         : Json(Json::value_t::discarded);
  const std::string type(res[http::field::content_type]);
  if (type.find("json") != std::string::npos && !parsed.is_discarded()) {
    result["body"] = parsed;
    result["parsed"] = true;
  } else {
    result["body"] = body;
  }
  const unsigned code = res.result_int();
  return {{"status", code >= 200 && code <= 206 ? "succeeded" : "failed"}, {"result", result}};
}

}  // namespace

Json RunHttpRequest(const Json& p) {
  if (!p.is_object() || !p.contains("url") || !p["url"].is_string()) {
    return Failed("failed", "parameter 'url' must be a string");
  }
  std::string why;
  auto url = ParseUrl(p["url"].get<std::string>(), &why);
  if (!url) return Failed("failed", why);
  const std::string method_name = p.value("method", std::string("GET"));
  const http::verb method = http::string_to_verb(method_name);
  if (method == http::verb::unknown)
    return Failed("failed", "unknown method '" + method_name + "'");
  const bool verify = !p.contains("verify_ssl_cert") || p["verify_ssl_cert"] != false;

  http::request<http::string_body> req{method, url->target, 11};
  req.set(http::field::host, url->host);
  req.set(http::field::user_agent, "gale-http-runner/0.1");
  if (p.contains("headers") && p["headers"].is_object()) {
    for (const auto& [name, value] : p["headers"].items()) {
      req.set(name, value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
  if (p.contains("body") && !p["body"].is_null()) {
    req.body() = p["body"].is_string() ? p["body"].get<std::string>() : p["body"].dump();
    req.prepare_payload();
  }

  try {
    asio::io_context io;
    tcp::resolver resolver(io);
    beast::tcp_stream tcp_stream(io);
    auto endpoints = resolver.resolve(url->host, url->port);
    tcp_stream.connect(endpoints);
    if (!url->tls) return Exchange(tcp_stream, req);

    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.set_default_verify_paths();
    ctx.set_verify_mode(verify ? asio::ssl::verify_peer : asio::ssl::verify_none);
    beast::ssl_stream<beast::tcp_stream> tls(std::move(tcp_stream), ctx);
    if (verify) tls.set_verify_callback(asio::ssl::host_name_verification(url->host));
    if (!SSL_set_tlsext_host_name(tls.native_handle(), url->host.c_str())) {
      return Failed("failed", "TLS: cannot set the server name");
    }
    tls.handshake(asio::ssl::stream_base::client);
    return Exchange(tls, req);
  } catch (const beast::system_error& e) {
    return Failed("failed", std::string(p["url"].get<std::string>()) + ": " + e.code().message());
  } catch (const std::exception& e) {
    return Failed("failed", std::string(p["url"].get<std::string>()) + ": " + e.what());
  }
}

namespace {
// Written by the SIGALRM handler: the request's timeout, as a finished document.
std::string g_timeout_doc;
extern "C" void OnAlarm(int) {
  ssize_t ignored = write(STDOUT_FILENO, g_timeout_doc.data(), g_timeout_doc.size());
  (void)ignored;
  _exit(0);
}
}  // namespace

int RunHttpExec() {
  std::string input{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  Json params = Json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (!params.is_object()) {
    std::cout << Failed("failed", "gale exec http: stdin is not a JSON object").dump() << std::endl;
    return 0;
  }
  // Beast's synchronous calls ignore stream timeouts; this process exists for one request, so
  // a real-time timer bounds all of it (resolve, connect, TLS, write, read).
  double timeout_s = 60;
  if (params.contains("timeout") && params["timeout"].is_number()) {
    timeout_s = params["timeout"].get<double>();
  }
  if (timeout_s > 0) {
    g_timeout_doc =
        Failed("timeout", "no response within " + SecondsText(timeout_s) + " s").dump() + "\n";
    struct sigaction sa {};
    sa.sa_handler = OnAlarm;
    sigaction(SIGALRM, &sa, nullptr);
    itimerval timer{};
    const auto usec = static_cast<int64_t>(timeout_s * 1e6);
    timer.it_value.tv_sec = usec / 1'000'000;
    timer.it_value.tv_usec = usec % 1'000'000;
    setitimer(ITIMER_REAL, &timer, nullptr);
  }
  Json doc = RunHttpRequest(params);
  itimerval off{};
  setitimer(ITIMER_REAL, &off, nullptr);
  std::cout << doc.dump(-1, ' ', false, Json::error_handler_t::replace) << std::endl;
  return 0;
}

}  // namespace gale::runner

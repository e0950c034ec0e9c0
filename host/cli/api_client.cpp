#include "host/cli/api_client.h"

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace gale::cli {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string HomeOf(const ApiFlags& flags) {
  std::string home = !flags.home.empty() ? flags.home : Env("GALE_HOME");
  if (home.empty()) home = (std::filesystem::path(Env("HOME")) / ".gale").string();
  return home;
}

// The first word of $GALE_HOME/NAME, or "" (missing, or not ours to read).
std::string ReadHomeFile(const ApiFlags& flags, const char* name) {
  std::ifstream in(std::filesystem::path(HomeOf(flags)) / name);
  std::string word;
  in >> word;
  return word;
}

std::string ResolveUrl(const ApiFlags& flags) {
  if (!flags.url.empty()) return flags.url;
  if (!Env("GALE_API_URL").empty()) return Env("GALE_API_URL");
  const std::string addr = ReadHomeFile(flags, "api.addr");
  return addr.empty() ? "http://127.0.0.1:9101" : addr;
}

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace

std::string ResolveKey(const ApiFlags& flags, const std::string& url, const std::string& host) {
  if (!flags.key.empty()) return flags.key;
  if (!Env("GALE_API_KEY").empty()) return Env("GALE_API_KEY");
  // The node's own token goes only where that node listens: never to another machine.
  if (url != ReadHomeFile(flags, "api.addr") && !IsLoopbackHost(host)) return "";
  return ReadHomeFile(flags, "api.token");
}

namespace {}  // namespace

Json ApiReply::json() const {
  return Json::parse(body, nullptr, false);
}

std::string ApiReply::error() const {
  Json j = json();
  if (j.is_object() && j.contains("faultstring") && j["faultstring"].is_string()) {
    return j["faultstring"].get<std::string>();
  }
  return "HTTP " + std::to_string(status) + (body.empty() ? "" : ": " + body);
}

ApiClient::ApiClient(const ApiFlags& flags) : url_(ResolveUrl(flags)) {
  std::string rest = url_;
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const size_t bracket = rest.find(']');
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos || (bracket != std::string::npos && colon < bracket)) {
    host_ = rest;
    port_ = "80";
  } else {
    host_ = rest.substr(0, colon);
    port_ = rest.substr(colon + 1);
  }
  // The API checks Host against the address it listens on, port included.
  authority_ = host_ + ":" + port_;
  if (host_.size() > 2 && host_.front() == '[') host_ = host_.substr(1, host_.size() - 2);
  key_ = ResolveKey(flags, url_, host_);
}

namespace {

// Connects with a bounded wait; the error names the URL and suggests the usual cause.
Result<beast::tcp_stream> Connect(net::io_context& io, const std::string& url,
                                  const std::string& host, const std::string& port) {
  tcp::resolver resolver(io);
  beast::error_code ec;
  auto endpoints = resolver.resolve(host, port, ec);
  beast::tcp_stream stream(io);
  if (!ec) {
    stream.expires_after(std::chrono::seconds(5));
    stream.connect(endpoints, ec);
  }
  if (ec) {
    return Status::Error("cannot reach the Gale API at " + url + ": " + ec.message() +
                         " (is 'gale up' running?)");
  }
  return stream;
}

}  // namespace

Result<ApiReply> ApiClient::Call(const std::string& method, const std::string& target,
                                 const Json* body) {
  net::io_context io;
  GALE_ASSIGN_OR_RETURN(auto stream, Connect(io, url_, host_, port_));
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  req.set(http::field::host, authority_);
  req.set(http::field::user_agent, "gale-cli");
  if (!key_.empty()) req.set("St2-Api-Key", key_);
  // Every write is JSON, bodyless ones too: the API refuses writes of any other type.
  if (body != nullptr || method != "GET") req.set(http::field::content_type, "application/json");
  if (body != nullptr) req.body() = body->dump();
  req.prepare_payload();
  beast::error_code ec;
  // A socket call without a deadline: tcp_stream's timeouts apply to async operations only.
  http::write(stream.socket(), req, ec);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256u << 20);
  if (!ec) http::read(stream.socket(), buffer, parser, ec);
  if (ec) return Status::Error("Gale API at " + url_ + ": " + ec.message());
  ApiReply reply;
  reply.status = static_cast<int>(parser.get().result_int());
  reply.body = std::move(parser.get().body());
  return reply;
}

Result<int> ApiClient::Stream(const std::string& target,
                              const std::function<bool(const std::string&)>& on_data) {
  net::io_context io;
  GALE_ASSIGN_OR_RETURN(auto stream, Connect(io, url_, host_, port_));
  http::request<http::empty_body> req(http::verb::get, target, 11);
  req.set(http::field::host, authority_);
  if (!key_.empty()) req.set("St2-Api-Key", key_);
  beast::error_code ec;
  http::write(stream.socket(), req, ec);
  if (ec) return Status::Error("Gale API at " + url_ + ": " + ec.message());
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  http::read_header(stream.socket(), buffer, parser, ec);
  if (ec) return Status::Error("Gale API at " + url_ + ": " + ec.message());
  const int status = static_cast<int>(parser.get().result_int());
  char chunk[8192];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    // read_some: hand over each piece as it arrives (read() would wait to fill the buffer).
    http::read_some(stream.socket(), buffer, parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) break;
    const size_t n = sizeof chunk - parser.get().body().size;
    if (n > 0 && !on_data(std::string(chunk, n))) break;
  }
  return status;
}

void Fail(const std::string& verb, const std::string& message, int code) {
  std::cerr << "gale " << verb << ": " << message << '\n';
  throw CLI::RuntimeError(code);
}

Json Expect(const std::string& verb, const Result<ApiReply>& reply, int expected) {
  if (!reply.ok()) Fail(verb, reply.message());
  const bool good = expected == 0 ? reply->status / 100 == 2 : reply->status == expected;
  if (!good) Fail(verb, reply->error());
  return reply->json();
}

}  // namespace gale::cli

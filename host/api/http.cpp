#include "host/api/http.h"

#include <spdlog/spdlog.h>

#include <cctype>

#include "host/common/hex.h"
#include "host/common/uuid.h"

namespace gale::api {

std::string HttpRequest::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

std::string HttpRequest::Query(const std::string& name, const std::string& fallback) const {
  auto it = query.find(name);
  return it == query.end() ? fallback : it->second;
}

bool HttpRequest::QueryFlag(const std::string& name) const {
  const std::string v = Query(name);
  return v == "true" || v == "1" || v == "yes";
}

HttpResponse HttpResponse::Json(int status, const gale::Json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, gale::Json::error_handler_t::replace);
  return r;
}

HttpResponse HttpResponse::Error(int status, const std::string& message) {
  return Json(status, gale::Json{{"faultstring", message}});
}

LogLimiter& ClientLogLimit() {
  static LogLimiter* limit = new LogLimiter();  // never destroyed: stream threads may outlive it
  return *limit;
}

HttpResponse HttpResponse::Internal(const std::string& context, const std::string& detail) {
  const std::string id = UuidV4();
  // One line a minute: the request ids of those held back are not in the log.
  ClientLogLimit().Log(spdlog::level::err, "internal error",
                       "api: internal error, request {}: {}: {}", id, context, detail);
  return Json(500, gale::Json{{"error", "internal error"},
                              {"request_id", id},
                              {"faultstring", "internal error (request id " + id + ")"}});
}

std::string UrlDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      const int hi = HexDigitValue(text[i + 1]), lo = HexDigitValue(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += (c == '+' && plus_is_space) ? ' ' : c;
  }
  return out;
}

std::string UrlEncode(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::map<std::string, std::string> ParseQuery(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string name = UrlDecode(pair.substr(0, eq), true);
    std::string value = eq == std::string_view::npos ? "" : UrlDecode(pair.substr(eq + 1), true);
    out[std::move(name)] = std::move(value);
  }
  return out;
}

}  // namespace gale::api

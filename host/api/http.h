// The HTTP vocabulary of the API: a parsed request, a response (whole or streamed), and the
// one-line JSON error every failure answers with.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "host/common/json.h"
#include "host/common/log_limit.h"

namespace gale::api {

// The API's log lines that a client can make repeat (internal errors, store outages, streams
// that fail): one per key a minute, with a count of those held back (log_limit.h).
LogLimiter& ClientLogLimit();

struct HttpRequest {
  std::string method;                          // "GET", "POST", ...
  std::string path;                            // as sent (not decoded), without the query
  std::map<std::string, std::string> query;    // decoded; a repeated name keeps the last value
  std::map<std::string, std::string> params;   // path parameters ("{id}") filled by the router
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string peer;  // "address:port"

  std::string Header(const std::string& lower_name) const;
  // The query value of `name`, or `fallback`.
  std::string Query(const std::string& name, const std::string& fallback = "") const;
  bool QueryFlag(const std::string& name) const;  // "true", "1", "yes"
};

// Writes a streamed response's body. Write() returns false once the client is gone or the
// server is stopping; the handler must then return.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  virtual bool Write(std::string_view data) = 0;
  virtual bool Open() const = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set for a streamed response (chunked, connection closed at the end): runs on a thread of its
  // own, so it may block between writes.
  std::function<void(StreamWriter&)> stream;

  static HttpResponse Json(int status, const gale::Json& body);
  // {"faultstring": message} as StackStorm's API answers errors.
  static HttpResponse Error(int status, const std::string& message);
  // A 500 that tells the client only a request id ({"error": "internal error", "request_id"});
  // the log line has the id, `context` (what was asked) and `detail` (what failed), which may
  // name files, queries or values the client must not see.
  static HttpResponse Internal(const std::string& context, const std::string& detail);
};

// "a%20b" -> "a b"; '+' stays '+' in paths and means ' ' in queries. Invalid escapes stay as they
// are.
std::string UrlDecode(std::string_view text, bool plus_is_space);
std::string UrlEncode(std::string_view text);
// Splits "a=1&b=two" into decoded pairs.
std::map<std::string, std::string> ParseQuery(std::string_view query);

}  // namespace gale::api

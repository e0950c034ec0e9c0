// How CLI verbs reach a node's API: the URL from --api, else GALE_API_URL, else the address
// `gale up` wrote to $GALE_HOME/api.addr, else http://127.0.0.1:9101; the key from --api-key,
// else GALE_API_KEY, else the node's $GALE_HOME/api.token when the URL is the node's (api.addr) or
// loopback (sent as St2-Api-Key). Errors are one line with a hint.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "host/common/json.h"
#include "host/common/result.h"

namespace gale::cli {

struct ApiFlags {
  std::string url;
  std::string key;
  std::string home;
};

struct ApiReply {
  int status = 0;
  std::string body;
  Json json() const;  // the body parsed (discarded when it is not JSON)
  // The API's error text ({"faultstring"}), or the body.
  std::string error() const;
};

class ApiClient {
 public:
  explicit ApiClient(const ApiFlags& flags);
  const std::string& url() const { return url_; }

  // One request; an error only when the API cannot be reached (any HTTP status is a reply).
  Result<ApiReply> Call(const std::string& method, const std::string& target,
                        const Json* body = nullptr);
  // A streamed GET: `on_data` gets each piece of the body as it arrives and returns false to
  // stop. Returns the HTTP status.
  Result<int> Stream(const std::string& target,
                     const std::function<bool(const std::string&)>& on_data);

 private:
  std::string url_, host_, port_, authority_, key_;
};

// The key a client with these flags sends to `url` (whose host is `host`): see above.
std::string ResolveKey(const ApiFlags& flags, const std::string& url, const std::string& host);

// Prints "gale <verb>: <message>" to stderr and exits with `code` (via CLI::RuntimeError).
[[noreturn]] void Fail(const std::string& verb, const std::string& message, int code = 1);
// The reply's JSON when its status is `expected` (or any 2xx when 0); otherwise Fail().
Json Expect(const std::string& verb, const Result<ApiReply>& reply, int expected = 0);

}  // namespace gale::cli

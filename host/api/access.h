// Who may use the API and from where (docs/security.md, "The API"): every request passes these
// doors before its route runs, in this order:
//  1. Host: must name this API (the bound host:port, its loopback names, or api.hostnames), else
//     421, so a DNS-rebinding page cannot reach it under a name of its own;
//  2. Origin: a browser's cross-origin request is refused (403) unless api.cors_origins lists the
//     origin, which then gets CORS headers (and its preflight OPTIONS a 204);
//  3. the caller: the node's api.token (admin) or an API key in the St2-Api-Key header (the
//     `st2-api-key` query parameter on webhook routes only), else 401; anonymous only for
//     /healthz, /metrics on a loopback listen address, and everything with
//     api.anonymous_loopback on loopback;
//  4. the key's scope must cover the request (403);
//  5. a write (POST/PUT/PATCH/DELETE) but a webhook must be `Content-Type: application/json`
//     (415), which a page cannot send cross-origin without a preflight.
// /healthz passes every door: it says only whether the node is up.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "host/api/api_keys.h"
#include "host/api/http.h"

namespace gale::api {

struct AccessPolicy {
  bool loopback = true;  // the listen address is loopback
  bool anonymous_loopback = false;
  std::string node_token;
  std::set<std::string> hosts;  // accepted Host header values, lower-case
  std::set<std::string> cors_origins;
};

// The Host values that name an API bound to `bound` ("127.0.0.1:9101", "[::]:9101"): `bound`
// itself, localhost/127.0.0.1/[::1] with its port when bound to loopback or every address, and
// each of `hostnames` as given and (without a port of its own) with the bound port.
std::set<std::string> AllowedHosts(const std::string& bound,
                                   const std::vector<std::string>& hostnames);

// The scope a request needs: GET needs `read` (`admin` with decrypt=true on /v1/keys); running,
// canceling and re-running executions and firing webhooks need `run`; every other write `admin`.
ApiScope RequiredScope(const HttpRequest& request);

}  // namespace gale::api

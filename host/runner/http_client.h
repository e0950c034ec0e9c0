// The child side of the `http-request` runner (StackStorm's core.http): `gale exec http` reads
// the action parameters from stdin, sends one request with Boost.Beast (TLS through OpenSSL,
// SNI, certificate and host name verification unless verify_ssl_cert is false) and writes
// {"status": ..., "result": {status_code, headers, body, parsed}} on stdout. `body` is the parsed
// document when the response is JSON (then `parsed` is true), else the text. As in StackStorm,
// a status code of 200-206 succeeds and any other fails; redirects are not followed. A request
// that takes longer than `timeout` seconds (default 60) ends with status "timeout".
#pragma once

#include "host/common/json.h"

namespace gale::runner {

// The document described above for parameters {url, method, headers, body, verify_ssl_cert}.
// Blocks without a bound of its own (RunHttpExec bounds it with `timeout`). Never throws.
Json RunHttpRequest(const Json& parameters);

// `gale exec http`: stdin -> RunHttpRequest -> stdout. Returns the exit code (0 once a document
// was written).
int RunHttpExec();

}  // namespace gale::runner

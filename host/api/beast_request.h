// A request Beast parsed, as the API's HttpRequest: the one conversion the server uses, kept
// apart from the socket code so that the fuzz target (test/fuzz/http_request.cpp) runs it too.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>

#include "host/api/http.h"

namespace gale::api {

// Method, path (the target up to '?'), decoded query, lower-cased header names and the body
// (moved out of `msg`); `peer` is "address:port".
HttpRequest FromBeast(boost::beast::http::request<boost::beast::http::string_body>& msg,
                      std::string peer);

}  // namespace gale::api

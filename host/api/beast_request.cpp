#include "host/api/beast_request.h"

#include <cctype>

namespace gale::api {

HttpRequest FromBeast(boost::beast::http::request<boost::beast::http::string_body>& msg,
                      std::string peer) {
  HttpRequest request;
  request.method = std::string(msg.method_string());
  std::string target(msg.target());
  const size_t q = target.find('?');
  request.path = target.substr(0, q);
  if (q != std::string::npos) request.query = ParseQuery(std::string_view(target).substr(q + 1));
  for (const auto& field : msg) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    request.headers[name] = std::string(field.value());
  }
  request.body = std::move(msg.body());
  request.peer = std::move(peer);
  return request;
}

}  // namespace gale::api

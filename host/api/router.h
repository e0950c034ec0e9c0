// Routes "METHOD /v1/executions/{id}" patterns to handlers; 404 for an unknown path, 405 (with
// Allow) for a known path asked with another method.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "host/api/http.h"

namespace gale::api {

class Router {
 public:
  using Handler = std::function<HttpResponse(HttpRequest&)>;
  // `pattern` is a raw path whose "{name}" segments match any one non-empty segment; the
  // segment, URL-decoded, goes into HttpRequest::params[name].
  void Add(const std::string& method, const std::string& pattern, Handler handler);
  HttpResponse Dispatch(HttpRequest& request) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Route> routes_;
};

std::vector<std::string> SplitPath(const std::string& raw_path);

}  // namespace gale::api

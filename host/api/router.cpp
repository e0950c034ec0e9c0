#include "host/api/router.h"

namespace gale::api {

std::vector<std::string> SplitPath(const std::string& raw_path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= raw_path.size()) {
    size_t slash = raw_path.find('/', start);
    if (slash == std::string::npos) slash = raw_path.size();
    if (slash > start) out.push_back(raw_path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

void Router::Add(const std::string& method, const std::string& pattern, Handler handler) {
  routes_.push_back({method, SplitPath(pattern), std::move(handler)});
}

HttpResponse Router::Dispatch(HttpRequest& request) const {
  const std::vector<std::string> segments = SplitPath(request.path);
  std::string allowed;
  for (const Route& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    std::map<std::string, std::string> params;
    bool match = true;
    for (size_t i = 0; i < segments.size() && match; ++i) {
      const std::string& want = route.segments[i];
      if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
        params[want.substr(1, want.size() - 2)] = UrlDecode(segments[i], false);
      } else {
        match = want == segments[i];
      }
    }
    if (!match) continue;
    if (route.method != request.method) {
      if (allowed.find(route.method) == std::string::npos) {
        allowed += (allowed.empty() ? "" : ", ") + route.method;
      }
      continue;
    }
    request.params = std::move(params);
    return route.handler(request);
  }
  if (!allowed.empty()) {
    HttpResponse r = HttpResponse::Error(405, "method " + request.method + " not allowed on " +
                                                  request.path + " (allowed: " + allowed + ")");
    r.headers.emplace_back("Allow", allowed);
    return r;
  }
  return HttpResponse::Error(404, "no route " + request.method + " " + request.path);
}

}  // namespace gale::api

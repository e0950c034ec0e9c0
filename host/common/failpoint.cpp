#include "host/common/failpoint.h"

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace gale {
namespace {

std::vector<std::pair<std::string, std::string>> ParseFailpoints() {
  std::vector<std::pair<std::string, std::string>> points;
  const char* env = std::getenv("GALE_TEST_FAILPOINTS");
  if (env == nullptr) return points;
  std::string_view rest(env);
  while (!rest.empty()) {
    const size_t end = std::min(rest.find(';'), rest.size());
    const std::string_view entry = rest.substr(0, end);
    const size_t eq = entry.find('=');
    if (eq != std::string_view::npos && eq + 1 < entry.size()) {
      points.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
    }
    rest.remove_prefix(std::min(end + 1, rest.size()));
  }
  return points;
}

}  // namespace

bool FailpointHit(std::string_view name, std::string_view subject) {
  static const auto points = ParseFailpoints();
  for (const auto& [point, text] : points) {
    if (point == name && subject.find(text) != std::string_view::npos) return true;
  }
  return false;
}

}  // namespace gale

#include "host/packs/runner_types.h"

#include <array>

namespace gale::packs {
namespace {
constexpr std::array<std::string_view, 5> kRunnerTypes = {"http-request", "local-shell-cmd",
                                                          "local-shell-script", "native", "noop"};
}  // namespace

bool IsKnownRunnerType(std::string_view name) {
  for (auto known : kRunnerTypes) {
    if (known == name) return true;
  }
  return false;
}

std::string KnownRunnerTypes() {
  std::string out;
  for (auto known : kRunnerTypes) {
    if (!out.empty()) out += ", ";
    out += known;
  }
  return out;
}

}  // namespace gale::packs

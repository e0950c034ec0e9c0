#include "bench/e2e/targets.h"

#include <cstdarg>
#include <cstdio>
#include <vector>

namespace gale::bench {

std::string Format(const char* format, ...) {
  va_list args;
  va_start(args, format);
  va_list copy;
  va_copy(copy, args);
  const int n = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  std::vector<char> buf(n > 0 ? n + 1 : 1);
  std::vsnprintf(buf.data(), buf.size(), format, args);
  va_end(args);
  return std::string(buf.data());
}

void PrintTarget(const std::string& id, const std::string& what, const std::string& setup, bool met,
                 const std::string& figures) {
  std::printf("\n```text\ntarget %s %s [%s]: %s: %s\n```\n", id.c_str(), what.c_str(),
              setup.c_str(), met ? "met" : "missed", figures.c_str());
  std::fflush(stdout);
}

}  // namespace gale::bench

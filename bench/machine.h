// The line every benchmark table is printed with: cores, CPU model and kernel, so that figures
// are never read apart from the machine that produced them.
#pragma once

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace gale::bench {

inline std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  }
  return "unknown CPU";
}

// e.g. "2 cores, Intel(R) Xeon(R) ..., Linux 6.18.0"
inline std::string Machine() {
  utsname u{};
  uname(&u);
  return std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " cores, " + CpuModel() + ", " +
         u.sysname + " " + u.release;
}

}  // namespace gale::bench

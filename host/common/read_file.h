// A whole (small) file as a string, "" when it cannot be read. Uses read(2): reading a /proc file
// of a process that exits meanwhile fails with ESRCH, which libstdc++'s filebuf turns into an
// exception when read through an istreambuf_iterator.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <string>

namespace gale {

inline std::string ReadFileOrEmpty(const std::string& path) {
  std::string out;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return n < 0 ? std::string() : out;
}

}  // namespace gale

#include "host/common/key_file.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "host/common/hex.h"

namespace gale {
namespace {

// Writes a fresh key to a private temporary file and links it into place: link() fails when
// the key exists, so nodes starting together (or the roles of one node) all end up with the one
// key that won, and nobody ever reads a half-written file.
Status CreateKeyFile(const std::string& path, const Key256& key, const std::string& what) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(path).parent_path();
  std::error_code ec;
  if (!dir.empty() && !fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    ::chmod(dir.c_str(), 0700);
  }
  std::string tmp = path + ".XXXXXX";
  const int fd = ::mkstemp(tmp.data());  // mode 0600
  if (fd < 0) return Status::Error(path + ": cannot create " + what + ": " + std::strerror(errno));
  const std::string text = HexEncode(key.data(), key.size()) + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  const int linked = written ? ::link(tmp.c_str(), path.c_str()) : -1;
  const int link_errno = errno;
  ::unlink(tmp.c_str());
  if (!written) return Status::Error(path + ": cannot write " + what);
  if (linked != 0 && link_errno != EEXIST) {
    return Status::Error(path + ": cannot create " + what + ": " + std::strerror(link_errno));
  }
  return Status::Ok();
}

// Opens the existing key file without following a link and checks, on what was opened, that it
// is a regular file of ours that nobody else can read.
Result<int> OpenKeyFile(const std::string& path, const std::string& what,
                        const std::string& setting) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0 && errno == ELOOP) {
    return Status::Error(path + ": " + what + " is a symbolic link; point " + setting +
                         " at the file itself");
  }
  if (fd < 0) return Status::Error(path + ": " + std::strerror(errno));
  struct stat st {};
  std::string why;
  if (::fstat(fd, &st) != 0) {
    why = std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    why = what + " is not a regular file";
  } else if (st.st_uid != ::geteuid()) {
    why = what + " is owned by uid " + std::to_string(st.st_uid) + ", not this node's (" +
          std::to_string(::geteuid()) + "); chown it";
  } else if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", st.st_mode & 0777);
    why = what + " may be read by others (mode " + mode + "); chmod 600 it";
  }
  if (!why.empty()) {
    ::close(fd);
    return Status::Error(path + ": " + why);
  }
  return fd;
}

}  // namespace

Result<Key256> LoadOrCreateKeyFile(const std::string& path, const std::string& what,
                                   const std::string& setting) {
  Key256 key{};
  struct stat lst {};
  if (::lstat(path.c_str(), &lst) != 0 && errno == ENOENT) {
    if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) {
      return Status::Error("cannot generate " + what + ": no randomness");
    }
    GALE_TRY(CreateKeyFile(path, key, what));
    // Read back: another process may have created it first.
  }
  GALE_ASSIGN_OR_RETURN(auto fd, OpenKeyFile(path, what, setting));
  char buf[130];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  std::string_view text(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  std::string raw;
  if (text.size() != 64 || !HexDecode(text, &raw)) {
    return Status::Error(path + ": not " + what + " (expected 64 hex digits)");
  }
  std::memcpy(key.data(), raw.data(), key.size());
  return key;
}

}  // namespace gale

#include "host/common/user.h"

#include <pwd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <vector>

namespace gale {

Result<Credentials> ResolveUser(const std::string& user) {
  if (user.empty()) return Status::Error("no user given");
  const bool numeric =
      std::all_of(user.begin(), user.end(), [](unsigned char c) { return std::isdigit(c); });
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  int rc;
  if (numeric) {
    const unsigned long uid = user.size() <= 10 ? std::stoul(user) : ~0UL;
    if (uid >= static_cast<uid_t>(-1)) return Status::Error("invalid uid '" + user + "'");
    rc = getpwuid_r(static_cast<uid_t>(uid), &pw, buf.data(), buf.size(), &found);
  } else {
    rc = getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
  }
  if (found == nullptr) {
    return Status::Error("unknown user '" + user + "'" +
                         (rc != 0 ? std::string(" (") + std::strerror(rc) + ")" : ""));
  }
  return Credentials{pw.pw_uid, pw.pw_gid};
}

}  // namespace gale

#include "host/node/machine.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "host/node/pack_snapshots.h"

namespace gale::node {
namespace fs = std::filesystem;
namespace {

// Gale's dedicated action user (StackStorm's is `stanley`), created by scripts/setup.
constexpr std::string_view kActionUser = "gale-action";
constexpr const char* kSnapshotBase = "/var/lib/gale/snapshots";

// FNV-1a of a path, hex: a stable directory name per GALE_HOME.
std::string PathDigest(const std::string& path) {
  std::uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : path) h = (h ^ c) * 1099511628211ULL;
  return fmt::format("{:016x}", h);
}

// Whether `user` may reach and execute `path`: search permission on every directory above it.
bool ExecutableBy(const fs::path& path, const ActionUser& user) {
  auto allows = [&](const struct stat& st, mode_t owner, mode_t group, mode_t other) {
    if (st.st_uid == user.uid) return (st.st_mode & owner) != 0;
    if (st.st_gid == user.gid) return (st.st_mode & group) != 0;
    return (st.st_mode & other) != 0;
  };
  struct stat st {};
  for (fs::path dir = path.parent_path(); !dir.empty(); dir = dir.parent_path()) {
    if (stat(dir.c_str(), &st) != 0 || !allows(st, S_IXUSR, S_IXGRP, S_IXOTH)) return false;
    if (dir == dir.root_path()) break;
  }
  return stat(path.c_str(), &st) == 0 && allows(st, S_IXUSR, S_IXGRP, S_IXOTH) &&
         allows(st, S_IRUSR, S_IRGRP, S_IROTH);
}

}  // namespace

// Writes `text` to `path` atomically (readers never see half a file).
Status WriteFileAtomic(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text << '\n';
    if (!out) return Status::Error(tmp.string() + ": cannot write");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Status::Error(path.string() + ": " + ec.message());
  return Status::Ok();
}

// Every execution's sandbox starts from these: gale.yaml's `sandbox:` over the built-in
// defaults, with runner.default_timeout unless `sandbox:` sets its own timeout (either capped by
// sandbox.max_timeout). A root node runs actions as the dedicated action user unless
// `sandbox.user` names another unprivileged one.
sandbox::Settings NodeSandbox(const config::Config& config) {
  sandbox::Settings base;
  base.timeout = std::chrono::milliseconds(static_cast<int64_t>(config.default_timeout * 1000));
  auto settings = sandbox::SettingsFromNodeConfig(config.sandbox, base);
  sandbox::Settings s = settings.ok() ? *settings : base;  // checked when the config was loaded
  if (s.user.empty() && geteuid() == 0) s.user = std::string(kActionUser);
  return s;
}

// The action user's ids, or why actions cannot run as it. Never root, never the node's own uid:
// actions must not be able to read the node's files or signal it.
Result<ActionUser> ResolveActionUser(const sandbox::Settings& sandbox) {
  if (sandbox.user.empty()) return ActionUser{getuid(), getgid()};  // an unprivileged node
  auto user = ResolveUser(sandbox.user);
  if (!user.ok()) {
    return Status::Error(
        "the action user '" + sandbox.user +
        "' does not exist: run scripts/setup (or `useradd --system --user-group --create-home "
        "--home-dir /var/lib/gale-action gale-action`), or set sandbox.user in gale.yaml");
  }
  if (user->uid == 0 || user->uid == geteuid()) {
    return Status::Error("sandbox.user '" + sandbox.user +
                         "' is root or the node's own user: actions must run unprivileged");
  }
  return user;
}

// What this node cannot give its executions, in one line each (docs/security.md).
void SayWhatIsolationIsMissing(const sandbox::IsolationReport& isolation) {
  if (!isolation.root) {
    spdlog::warn(
        "running as uid {}, not root: actions run as this uid (no dedicated action user, no "
        "namespaces), so they can read this node's files and see its processes",
        getuid());
  } else if (!isolation.namespaces) {
    spdlog::warn(
        "cannot create namespaces ({}): executions run without a PID namespace of their own and "
        "can see each other's processes",
        isolation.namespaces_error);
  }
}

// The `gale` that sandboxed children (native actions, http requests, sensor hosts) execute as
// the action user. A checkout under a private directory (root's 0700 home) is out of their
// reach: then a copy in /var/lib/gale/bin, made once per build of the binary.
std::string GaleForActions(const std::string& gale_binary, const ActionUser& user) {
  if (geteuid() != 0 || ExecutableBy(gale_binary, user)) return gale_binary;
  struct stat st {};
  if (stat(gale_binary.c_str(), &st) != 0) return gale_binary;
  const fs::path dir = fs::path(kSnapshotBase).parent_path() / "bin";
  const fs::path copy = dir / fmt::format("gale-{}-{}-{}", PathDigest(gale_binary), st.st_size,
                                          static_cast<long long>(st.st_mtime));
  std::error_code ec;
  if (!fs::exists(copy, ec)) {
    fs::create_directories(dir, ec);
    chmod(dir.parent_path().c_str(), 0711);
    chmod(dir.c_str(), 0711);
    const fs::path tmp = copy.string() + ".tmp" + std::to_string(getpid());
    fs::copy_file(gale_binary, tmp, fs::copy_options::overwrite_existing, ec);
    if (!ec) chmod(tmp.c_str(), 0755);
    if (!ec) fs::rename(tmp, copy, ec);
    if (ec) {
      spdlog::warn("{} is out of the action user's reach and cannot be copied to {}: {}",
                   gale_binary, copy.string(), ec.message());
      return gale_binary;
    }
  }
  return copy.string();
}

std::string PythonShimForActions(const std::string& gale_binary) {
  std::error_code ec;
  const fs::path shim = fs::weakly_canonical(
      fs::path(gale_binary).parent_path() / ".." / "share" / "gale" / "python", ec);
  if (ec || !fs::is_directory(shim / "gale_shim", ec)) {
    spdlog::warn("no Python shim at {} (python-script actions and Python sensors cannot run)",
                 shim.string());
    return "";
  }
  if (geteuid() != 0) return shim.string();
  // A root node's checkout is usually out of the action user's reach (/root, 0700): the copy
  // is world-readable, like the shim in any installed Python, and named by its content so that
  // nodes of different versions never share one.
  const fs::path copy =
      fs::path(kSnapshotBase).parent_path() / "python" / TreeDigest(shim.string());
  if (!fs::exists(copy / "gale_shim", ec)) {
    const fs::path tmp = copy.string() + ".tmp" + std::to_string(getpid());
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp.parent_path(), ec);
    for (const fs::path& dir : {copy.parent_path().parent_path(), copy.parent_path()}) {
      chmod(dir.c_str(), 0711);
    }
    fs::copy(shim, tmp, fs::copy_options::recursive, ec);
    if (!ec) {
      chmod(tmp.c_str(), 0755);
      for (fs::recursive_directory_iterator it(tmp, ec), end; !ec && it != end; it.increment(ec)) {
        chmod(it->path().c_str(), it->is_directory() ? 0755 : 0644);
      }
    }
    if (!ec) fs::rename(tmp, copy, ec);
    if (ec && !fs::exists(copy / "gale_shim")) {
      spdlog::warn("cannot copy the Python shim to {}: {}", copy.string(), ec.message());
      fs::remove_all(tmp, ec);
      return shim.string();
    }
    fs::remove_all(tmp, ec);
  }
  return copy.string();
}

// Where the pack copies that actions and sensor hosts read live. A root node keeps them out of
// GALE_HOME, which stays private (0700, possibly under root's own 0700 home): under
// /var/lib/gale/snapshots/<digest of GALE_HOME>, which only root can create, readable by the
// action user's group only. An unprivileged node keeps them in $GALE_HOME/run/packs.
std::string SnapshotRoot(const config::Config& config) {
  if (geteuid() != 0) return (fs::path(config.home) / "run" / "packs").string();
  const fs::path base = kSnapshotBase;
  std::error_code ec;
  // Copies of nodes whose GALE_HOME is gone (test nodes, removed deployments) go.
  for (fs::directory_iterator it(base, ec), end; !ec && it != end; it.increment(ec)) {
    std::ifstream owner(it->path() / "home");
    std::string home;
    std::getline(owner, home);
    std::error_code e2;
    if (!home.empty() && !fs::exists(home, e2)) fs::remove_all(it->path(), e2);
  }
  const fs::path root = base / PathDigest(config.home);
  fs::create_directories(root, ec);
  for (const fs::path& dir : {base.parent_path(), base}) chmod(dir.c_str(), 0711);
  std::ofstream(root / "home") << config.home << '\n';
  return (root / "packs").string();
}

// Raises the soft RLIMIT_NOFILE to the hard limit (at most 2^20), as servers do: the default
// soft limit (often 1024) is far below what a node with many API clients, bus sockets and
// executions needs. The API's connection cap (api.max_connections) follows the raised limit.
// Executions get their own open-files limit from the sandbox (sandbox.limits).
void RaiseDescriptorLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  constexpr rlim_t kMost = rlim_t{1} << 20;
  const rlim_t want = rl.rlim_max == RLIM_INFINITY ? kMost : std::min(rl.rlim_max, kMost);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
    const rlim_t was = rl.rlim_cur;
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
      spdlog::warn("cannot raise the open files limit from {}: {}", was, std::strerror(errno));
      return;
    }
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    spdlog::info("open files limit: {}",
                 rl.rlim_cur == RLIM_INFINITY ? -1 : static_cast<int64_t>(rl.rlim_cur));
  }
}

}  // namespace gale::node

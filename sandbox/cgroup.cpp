#include "sandbox/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

namespace gale::sandbox {
namespace {

constexpr const char* kPrefix = "gale-sbx-";

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep)) parts.push_back(part);
  return parts;
}

struct Mount {
  std::string root;
  std::string point;
};

// cgroup2 mount and the cgroup v1 mount carrying the pids controller, from mountinfo.
void FindMounts(std::optional<Mount>& v2, std::optional<Mount>& v1_pids) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    auto fields = Split(line, ' ');
    std::size_t dash = 0;
    while (dash < fields.size() && fields[dash] != "-") ++dash;
    if (dash < 5 || dash + 1 >= fields.size()) continue;
    const std::string& fstype = fields[dash + 1];
    Mount m{fields[3], fields[4]};
    if (fstype == "cgroup2" && !v2) {
      v2 = m;
    } else if (fstype == "cgroup" && !v1_pids && dash + 3 < fields.size()) {
      for (const auto& opt : Split(fields[dash + 3], ',')) {
        if (opt == "pids") v1_pids = m;
      }
    }
  }
}

std::string Under(const Mount& m, const std::string& path) {
  std::string rel = path;
  if (m.root != "/" && rel.compare(0, m.root.size(), m.root) == 0) rel = rel.substr(m.root.size());
  if (rel == "/") rel.clear();
  return m.point + rel;
}

bool Exists(const std::string& path) {
  return access(path.c_str(), F_OK) == 0;
}

bool WriteFile(const std::string& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  close(fd);
  return ok;
}

std::mutex g_pending_mu;
std::vector<std::string> g_pending;  // directories to remove once empty

void KillProcsIn(const std::string& dir) {
  for (int round = 0; round < 10; ++round) {
    std::ifstream in(dir + "/cgroup.procs");
    pid_t pid = 0;
    bool any = false;
    while (in >> pid) {
      if (pid > 0) kill(pid, SIGKILL);
      any = true;
    }
    if (!any) return;
  }
}

void RetryPending() {
  std::lock_guard<std::mutex> lock(g_pending_mu);
  std::vector<std::string> still;
  for (const auto& dir : g_pending) {
    if (rmdir(dir.c_str()) != 0 && errno == EBUSY) still.push_back(dir);
  }
  g_pending.swap(still);
}

// Removes gale-sbx-<pid>-* directories whose node process is gone.
void SweepStale(const std::string& base) {
  DIR* d = opendir(base.c_str());
  if (d == nullptr) return;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.compare(0, std::strlen(kPrefix), kPrefix) != 0) continue;
    long pid = std::strtol(name.c_str() + std::strlen(kPrefix), nullptr, 10);
    if (pid <= 0 || pid == getpid() || kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) {
      continue;
    }
    std::string dir = base + "/" + name;
    KillProcsIn(dir);
    rmdir(dir.c_str());
  }
  closedir(d);
}

CgroupSupport Detect() {
  CgroupSupport s;
  std::optional<Mount> v2, v1;
  FindMounts(v2, v1);
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    auto first = line.find(':');
    auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (line.compare(0, first, "0") == 0 && controllers.empty() && v2) {
      s.v2_dir = Under(*v2, path);
    } else if (v1) {
      for (const auto& c : Split(controllers, ',')) {
        if (c == "pids") s.v1_pids_dir = Under(*v1, path);
      }
    }
  }
  // Usable only if writable: try it.
  for (std::string* dir : {&s.v2_dir, &s.v1_pids_dir}) {
    if (dir->empty()) continue;
    std::string probe = *dir + "/" + kPrefix + std::to_string(getpid()) + "-probe";
    if (mkdir(probe.c_str(), 0755) != 0 && errno != EEXIST) {
      dir->clear();
      continue;
    }
    rmdir(probe.c_str());
    SweepStale(*dir);
  }
  return s;
}

std::atomic<std::uint64_t> g_sequence{0};

// A cgroup made ahead of time and never used yet: making one (mkdir, opening its files) is
// ~60 us of the path to an execution's start, so it is done after the previous execution's
// outcome instead. Each is used by one execution only (pids.peak and the like stay its own).
struct FreshCgroup {
  std::string dir;
  int procs_fd = -1;
  int kill_fd = -1;
};
constexpr std::size_t kStockPerBase = 2;
std::mutex g_stock_mu;
std::map<std::string, std::vector<FreshCgroup>> g_stock;  // by parent directory

bool MakeCgroup(const std::string& base, bool v2, FreshCgroup& out, std::string& failure) {
  std::string dir =
      base + "/" + kPrefix + std::to_string(getpid()) + "-" + std::to_string(++g_sequence);
  if (mkdir(dir.c_str(), 0755) != 0) {
    failure = "mkdir " + dir + ": " + std::strerror(errno);
    return false;
  }
  out.dir = dir;
  out.procs_fd = open((dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  if (out.procs_fd < 0) {
    failure = "open " + dir + "/cgroup.procs: " + std::strerror(errno);
    rmdir(dir.c_str());
    return false;
  }
  out.kill_fd = v2 ? open((dir + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC) : -1;
  return true;
}

bool TakeOrMake(const std::string& base, bool v2, FreshCgroup& out, std::string& failure) {
  {
    std::lock_guard<std::mutex> lock(g_stock_mu);
    auto it = g_stock.find(base);
    if (it != g_stock.end() && !it->second.empty()) {
      out = std::move(it->second.back());
      it->second.pop_back();
      return true;
    }
  }
  return MakeCgroup(base, v2, out, failure);
}

pid_t g_stock_owner = 0;

// At exit: the stock is empty directories only. Not in a forked copy of the node that exits.
void DropStock() {
  if (getpid() != g_stock_owner) return;
  std::lock_guard<std::mutex> lock(g_stock_mu);
  for (auto& [base, list] : g_stock) {
    for (auto& fresh : list) {
      close(fresh.procs_fd);
      if (fresh.kill_fd >= 0) close(fresh.kill_fd);
      rmdir(fresh.dir.c_str());
    }
  }
  g_stock.clear();
}

std::string V2Base(const std::string& cgroup_parent) {
  return cgroup_parent.empty() ? DetectCgroupSupport().v2_dir : cgroup_parent;
}

}  // namespace

const CgroupSupport& DetectCgroupSupport() {
  static const CgroupSupport support = Detect();
  return support;
}

Result<std::unique_ptr<ExecutionCgroup>> ExecutionCgroup::Create(const Settings& settings) {
  if (settings.cgroup == CgroupMode::kOff) return std::unique_ptr<ExecutionCgroup>();
  const CgroupSupport& support = DetectCgroupSupport();
  const std::string v2_base = V2Base(settings.cgroup_parent);

  std::unique_ptr<ExecutionCgroup> cg(new ExecutionCgroup());
  std::string failure;
  const Limits& limits = settings.limits;
  // Sets up one cgroup; on failure records why and leaves nothing of it in use.
  auto add = [&](const std::string& base, bool v2) {
    if (base.empty()) return;
    FreshCgroup fresh;
    if (!TakeOrMake(base, v2, fresh, failure)) return;
    const std::string& dir = fresh.dir;
    cg->dirs_.push_back(dir);  // removed by the destructor whatever happens next
    auto fail = [&](const std::string& what) {
      failure = what + ": " + std::strerror(errno);
      close(fresh.procs_fd);
      if (fresh.kill_fd >= 0) close(fresh.kill_fd);
    };
    if (limits.processes && Exists(dir + "/pids.max") &&
        !WriteFile(dir + "/pids.max", std::to_string(*limits.processes))) {
      return fail("writing " + dir + "/pids.max");
    }
    if (v2 && limits.memory_bytes && Exists(dir + "/memory.max") &&
        !WriteFile(dir + "/memory.max", std::to_string(*limits.memory_bytes))) {
      return fail("writing " + dir + "/memory.max");
    }
    cg->procs_fds_.push_back(fresh.procs_fd);
    if (v2) cg->kill_fd_ = fresh.kill_fd;
    cg->kind_ += std::string(cg->kind_.empty() ? "" : "+") + (v2 ? "v2" : "v1-pids");
  };
  add(v2_base, true);
  add(support.v1_pids_dir, false);

  if (settings.cgroup == CgroupMode::kRequire) {
    if (!failure.empty()) return Status::Error("cgroup required: " + failure);
    if (cg->procs_fds_.empty()) {
      return Status::Error("cgroup required but none is writable by this process");
    }
  }
  // kAuto: whatever could be set up completely.
  if (cg->procs_fds_.empty()) return std::unique_ptr<ExecutionCgroup>();
  return cg;
}

void ExecutionCgroup::Refill(const std::string& cgroup_parent) {
  static const bool registered = (g_stock_owner = getpid(), std::atexit(DropStock) == 0);
  (void)registered;
  RetryPending();
  const CgroupSupport& support = DetectCgroupSupport();
  for (const auto& [base, v2] :
       {std::pair{V2Base(cgroup_parent), true}, std::pair{support.v1_pids_dir, false}}) {
    if (base.empty()) continue;
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(g_stock_mu);
        if (g_stock[base].size() >= kStockPerBase) break;
      }
      FreshCgroup fresh;
      std::string failure;
      if (!MakeCgroup(base, v2, fresh, failure)) break;
      std::lock_guard<std::mutex> lock(g_stock_mu);
      g_stock[base].push_back(std::move(fresh));
    }
  }
}

void ExecutionCgroup::CloseProcsFds() {
  for (int fd : procs_fds_) close(fd);
  procs_fds_.clear();
}

void ExecutionCgroup::KillAll() {
  if (kill_fd_ >= 0) (void)!write(kill_fd_, "1", 1);
  for (const auto& dir : dirs_) KillProcsIn(dir);
}

std::optional<std::int64_t> ExecutionCgroup::PeakProcesses() const {
  for (const auto& dir : dirs_) {
    std::ifstream in(dir + "/pids.peak");
    std::int64_t peak = 0;
    if (in >> peak) return peak;
  }
  return std::nullopt;
}

ExecutionCgroup::~ExecutionCgroup() {
  CloseProcsFds();
  for (const auto& dir : dirs_) {
    if (rmdir(dir.c_str()) == 0 || errno != EBUSY) continue;
    KillAll();
    if (rmdir(dir.c_str()) != 0 && errno == EBUSY) {
      std::lock_guard<std::mutex> lock(g_pending_mu);
      g_pending.push_back(dir);
    }
  }
  if (kill_fd_ >= 0) close(kill_fd_);
}

}  // namespace gale::sandbox

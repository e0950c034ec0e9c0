// What the node and its keepers say to each other (child.h): stage names and the plan's wire
// form. Compiled into both the node's sandbox library and gale-keeper.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <type_traits>

#include "sandbox/child.h"

namespace gale::sandbox::internal {

std::string_view StageName(Stage stage) {
  switch (stage) {
    case Stage::kNone:
      return "none";
    case Stage::kKeeper:
      return "keeper";
    case Stage::kFork:
      return "fork";
    case Stage::kSession:
      return "session";
    case Stage::kCgroup:
      return "cgroup";
    case Stage::kRlimit:
      return "rlimit";
    case Stage::kFds:
      return "fds";
    case Stage::kSignals:
      return "signals";
    case Stage::kNoNewPrivs:
      return "no_new_privs";
    case Stage::kDropPrivileges:
      return "drop_privileges";
    case Stage::kChdir:
      return "chdir";
    case Stage::kSeccomp:
      return "seccomp";
    case Stage::kSeccompNotify:
      return "seccomp_notify";
    case Stage::kExec:
      return "exec";
    case Stage::kNamespaces:
      return "namespaces";
    case Stage::kCapabilities:
      return "capabilities";
  }
  return "unknown";
}

namespace {

// "GKP" + version. Bump the version whenever ChildPlan or the layout below changes.
constexpr std::uint32_t kPlanMagic = 0x02504b47;

class Writer {
 public:
  template <class T>
  void Put(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char*>(&value), sizeof(value));
  }
  void PutString(const char* s) {
    std::uint32_t size = s == nullptr ? 0 : static_cast<std::uint32_t>(std::strlen(s));
    Put(size);
    out_.append(s == nullptr ? "" : s, size);
  }
  void PutStrings(const std::vector<const char*>& list) {
    Put(static_cast<std::uint32_t>(list.size()));
    for (const char* s : list) PutString(s);
  }
  void PutProgram(const sock_fprog& program) {
    Put(static_cast<std::uint32_t>(program.len));
    out_.append(reinterpret_cast<const char*>(program.filter), program.len * sizeof(sock_filter));
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <class T>
  bool Get(T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (in_.size() < sizeof(T)) return false;
    std::memcpy(&value, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return true;
  }
  bool GetString(std::string& s) {
    std::uint32_t size = 0;
    if (!Get(size) || in_.size() < size) return false;
    s.assign(in_.data(), size);
    in_.remove_prefix(size);
    return true;
  }
  bool GetStrings(std::vector<std::string>& list) {
    std::uint32_t count = 0;
    // Each string takes at least its 4-byte size: a count beyond that is garbage, not a reason
    // to reserve gigabytes.
    if (!Get(count) || count > in_.size() / sizeof(std::uint32_t)) return false;
    list.resize(count);
    for (auto& s : list) {
      if (!GetString(s)) return false;
    }
    return true;
  }
  bool GetProgram(std::vector<sock_filter>& insns) {
    std::uint32_t len = 0;
    // sock_fprog::len is 16 bits; the kernel takes at most BPF_MAXINSNS.
    if (!Get(len) || len > BPF_MAXINSNS || in_.size() < len * sizeof(sock_filter)) return false;
    insns.resize(len);
    if (len > 0) std::memcpy(insns.data(), in_.data(), len * sizeof(sock_filter));
    in_.remove_prefix(len * sizeof(sock_filter));
    return true;
  }
  bool AtEnd() const { return in_.empty(); }

 private:
  std::string_view in_;
};

sock_fprog ProgramOf(std::vector<sock_filter>& insns) {
  return sock_fprog{static_cast<unsigned short>(insns.size()),
                    insns.empty() ? nullptr : insns.data()};
}

std::vector<char*> PointersTo(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (auto& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

std::vector<const char*> ListOf(char* const* array) {
  std::vector<const char*> list;
  for (; array != nullptr && *array != nullptr; ++array) list.push_back(*array);
  return list;
}

}  // namespace

std::string EncodePlan(const ChildPlan& plan) {
  Writer w;
  w.Put(kPlanMagic);
  for (int fd : {plan.control_fd, plan.report_fd, plan.cgroup_kill_fd, plan.stdin_fd,
                 plan.stdout_fd, plan.stderr_fd}) {
    w.Put(fd);
  }
  w.Put(static_cast<std::uint32_t>(plan.cgroup_procs_fds.size()));
  for (int fd : plan.cgroup_procs_fds) w.Put(fd);
  w.Put(static_cast<std::uint32_t>(plan.rlimits.size()));
  for (const auto& limit : plan.rlimits) {
    w.Put(limit.resource);
    w.Put(limit.value.rlim_cur);
    w.Put(limit.value.rlim_max);
  }
  w.Put(static_cast<std::uint8_t>(plan.drop_privileges));
  w.Put(plan.uid);
  w.Put(plan.gid);
  w.Put(plan.namespaces);
  w.Put(static_cast<std::uint8_t>(plan.working_dir != nullptr));
  w.PutString(plan.working_dir);
  w.PutProgram(plan.notify_program);
  w.PutProgram(plan.fallback_program);
  w.Put(plan.notif_size);
  w.Put(plan.notif_resp_size);
  w.Put(static_cast<std::uint8_t>(plan.kill_on_violation));
  w.PutStrings(plan.exec_paths);
  w.PutStrings(ListOf(plan.argv));
  w.PutStrings(ListOf(plan.envp));
  return w.Take();
}

bool DecodePlan(std::string_view bytes, DecodedPlan& out) {
  Reader r(bytes);
  ChildPlan& plan = out.plan;
  std::uint32_t magic = 0;
  if (!r.Get(magic) || magic != kPlanMagic) return false;
  for (int* fd : {&plan.control_fd, &plan.report_fd, &plan.cgroup_kill_fd, &plan.stdin_fd,
                  &plan.stdout_fd, &plan.stderr_fd}) {
    if (!r.Get(*fd)) return false;
  }
  std::uint32_t count = 0;
  if (!r.Get(count) || count > 64) return false;
  plan.cgroup_procs_fds.resize(count);
  for (int& fd : plan.cgroup_procs_fds) {
    if (!r.Get(fd)) return false;
  }
  if (!r.Get(count) || count > 64) return false;
  plan.rlimits.resize(count);
  for (auto& limit : plan.rlimits) {
    if (!r.Get(limit.resource) || !r.Get(limit.value.rlim_cur) || !r.Get(limit.value.rlim_max)) {
      return false;
    }
  }
  std::uint8_t drop = 0, has_dir = 0, kill = 0;
  if (!r.Get(drop) || !r.Get(plan.uid) || !r.Get(plan.gid) || !r.Get(plan.namespaces)) {
    return false;
  }
  if (!r.Get(has_dir) || !r.GetString(out.working_dir)) return false;
  if (!r.GetProgram(out.notify_filter) || !r.GetProgram(out.fallback_filter)) return false;
  if (!r.Get(plan.notif_size) || !r.Get(plan.notif_resp_size) || !r.Get(kill)) return false;
  if (!r.GetStrings(out.exec_paths) || !r.GetStrings(out.argv) || !r.GetStrings(out.envp)) {
    return false;
  }
  if (!r.AtEnd() || out.argv.empty()) return false;

  plan.drop_privileges = drop != 0;
  plan.kill_on_violation = kill != 0;
  plan.working_dir = has_dir != 0 ? out.working_dir.c_str() : nullptr;
  plan.notify_program = ProgramOf(out.notify_filter);
  plan.fallback_program = ProgramOf(out.fallback_filter);
  plan.exec_paths.clear();
  for (const auto& path : out.exec_paths) plan.exec_paths.push_back(path.c_str());
  out.argv_ptrs = PointersTo(out.argv);
  out.envp_ptrs = PointersTo(out.envp);
  plan.argv = out.argv_ptrs.data();
  plan.envp = out.envp_ptrs.data();
  return true;
}

bool ReadPlanFile(int fd, std::string& bytes) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || st.st_size < 0 || st.st_size > (64 << 20)) return false;
  bytes.resize(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = pread(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace gale::sandbox::internal

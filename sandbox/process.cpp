#include "sandbox/process.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "host/common/sanitizers.h"
#include "host/common/subprocess.h"
#include "sandbox/cgroup.h"
#include "sandbox/child.h"
#include "sandbox/seccomp_profile.h"
#include "sandbox/spawner.h"

extern char** environ;

namespace gale::sandbox {

namespace asio = boost::asio;
using internal::Record;
using internal::RecordType;
using internal::Stage;

namespace {

using Clock = std::chrono::steady_clock;

// After the keeper is gone, how long the output pipes may stay open (data still buffered is read
// well before; only a write end leaked to an unrelated process keeps them open longer).
constexpr std::chrono::milliseconds kDrainDeadline{2000};
// After the KILL request, how long the keeper gets to report before it is killed itself.
constexpr std::chrono::milliseconds kKeeperDeadline{3000};
// How long Spawn waits for the spawner's answer (it forks at once; only a wedged one is slower).
constexpr std::chrono::milliseconds kSpawnerDeadline{10000};
constexpr std::size_t kReadChunk = 256 * 1024;
constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

bool AllDigits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// Tasks (threads included) whose owner is `uid`: what RLIMIT_NPROC counts. Cached for a second:
// it only needs to be roughly right, and scanning /proc costs about a millisecond.
std::uint64_t TasksOf(uid_t uid) {
  static std::mutex mu;
  static Clock::time_point at;
  static std::uint64_t cached = 0;
  static uid_t cached_uid = static_cast<uid_t>(-1);
  std::lock_guard<std::mutex> lock(mu);
  if (cached_uid == uid && Clock::now() - at < std::chrono::seconds(1)) return cached;
  std::uint64_t count = 0;
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      struct stat st {};
      if (fstatat(dirfd(d), e->d_name, &st, 0) != 0 || st.st_uid != uid) continue;
      std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
      std::string line;
      std::getline(in, line);
      auto paren = line.rfind(')');
      std::istringstream fields(paren == std::string::npos ? "" : line.substr(paren + 2));
      std::string field;
      std::uint64_t threads = 1;
      for (int i = 0; i < 18 && fields >> field; ++i) {  // num_threads is field 20 of stat
        if (i == 17) threads = std::strtoull(field.c_str(), nullptr, 10);
      }
      count += threads > 0 ? threads : 1;
    }
    closedir(d);
  }
  cached = count;
  cached_uid = uid;
  at = Clock::now();
  return count;
}

bool WriteAll(int fd, const std::string& data) {
  for (std::size_t done = 0; done < data.size();) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// gale-keeper: beside this program (the build tree's bin/), else in ../libexec/gale (an install).
// Looked up once; a keeper missing at start stays missing for the life of the process.
struct KeeperProgram {
  std::string path;  // empty: not found
  std::string looked_for;
};

const KeeperProgram& Keeper() {
  static const KeeperProgram program = [] {
    KeeperProgram found;
    std::error_code ec;
    std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    std::filesystem::path dir = ec ? std::filesystem::path(".") : self.parent_path();
    for (const auto& candidate :
         {dir / "gale-keeper", dir / ".." / "libexec" / "gale" / "gale-keeper"}) {
      std::string path = candidate.lexically_normal().string();
      if (access(path.c_str(), X_OK) == 0) {
        found.path = path;
        return found;
      }
      found.looked_for += (found.looked_for.empty() ? "" : " or ") + path;
    }
    return found;
  }();
  return program;
}

std::int64_t Millis(const timeval& tv) {
  return static_cast<std::int64_t>(tv.tv_sec) * 1000 + tv.tv_usec / 1000;
}

// What the keeper's creator needs, prepared before clone: it shares the node's memory until it
// execs, so it only makes raw system calls on this data.
struct KeeperLaunch {
  const char* path = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const int* pass = nullptr;  // descriptors inherited at their numbers
  std::size_t pass_count = 0;
  int exec_error = 0;  // set by the child when execve fails (shared memory)
};

// posix_spawn's technique (CLONE_VM|CLONE_VFORK: the node's pages are never copied), plus the
// namespace flags posix_spawn cannot pass. Every signal arrives blocked (the parent blocked them
// around clone; the keeper reads SIGCHLD from a signalfd) and every disposition goes back to
// default (the node ignores SIGPIPE), with raw rt_sigaction for glibc's internal signals.
__attribute__((no_sanitize("address", "undefined", "thread"))) int KeeperEntry(void* arg) {
  auto* k = static_cast<KeeperLaunch*>(arg);
  for (std::size_t i = 0; i < k->pass_count; ++i) {
    syscall(SYS_fcntl, k->pass[i], F_SETFD, 0);  // clears close-on-exec in this process only
  }
  struct {
    unsigned long handler, flags, restorer, mask;
  } dfl{};
  for (int sig = 1; sig <= 64; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) syscall(SYS_rt_sigaction, sig, &dfl, nullptr, 8);
  }
  syscall(SYS_execve, k->path, k->argv, k->envp);
  k->exec_error = errno;
  syscall(SYS_exit, 127);
  return 127;
}

#if defined(GALE_TSAN_BUILD)
// TSan's clone interceptor (clang 14) takes every clone for a fork and aborts on CLONE_VM in the
// child. glibc's own clone, found past the interceptor: the child runs only KeeperEntry (raw
// syscalls, uninstrumented) while this thread waits (CLONE_VFORK), so TSan has nothing to see.
using CloneFn = int (*)(int (*)(void*), void*, int, void*, ...);
CloneFn RealClone() {
  static const auto fn = reinterpret_cast<CloneFn>(dlsym(RTLD_NEXT, "clone"));
  return fn;
}
#define GALE_CLONE RealClone()
#else
#define GALE_CLONE clone
#endif

// Starts the keeper in new namespaces (`flags`, CLONE_NEW*); returns its pid or -errno.
pid_t StartKeeper(KeeperLaunch& launch, std::uint32_t flags) {
  constexpr std::size_t kStack = 64 * 1024;
  void* stack =
      mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return -errno;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = GALE_CLONE(KeeperEntry, static_cast<char*>(stack) + kStack,
                         static_cast<int>(CLONE_VM | CLONE_VFORK | flags | SIGCHLD), &launch);
  int error = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  munmap(stack, kStack);
  if (pid < 0) return -error;
  if (launch.exec_error != 0) {  // CLONE_VFORK: the child has exec'd or exited by now
    waitpid(pid, nullptr, 0);
    return -launch.exec_error;
  }
  return pid;
}

// The namespaces an execution gets: none unless the node is root (without CAP_SYS_ADMIN they
// cannot be created) and the settings ask for them.
std::uint32_t NamespaceFlags(const Settings& settings) {
  if (!settings.namespaces || geteuid() != 0) return 0;
  std::uint32_t flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC;
  if (settings.profile == SeccompProfile::kNoNetwork ||
      settings.profile == SeccompProfile::kStrict) {
    flags |= CLONE_NEWNET;
  }
  return flags;
}

// The node's spawner (spawner.h): started on first use, restarted when it has died. Requests from
// any thread; each is one datagram, sent under a lock.
class SpawnerClient {
 public:
  static SpawnerClient& Get() {
    static SpawnerClient* client = new SpawnerClient;  // never destroyed: used until exit
    return *client;
  }

  // Sends one request with `fds`; 0 or an errno.
  int Send(const internal::SpawnerRequest& header, std::string_view plan,
           const std::vector<int>& fds) {
    std::lock_guard<std::mutex> lock(mu_);
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (socket_ < 0) {
        if (int e = StartLocked(); e != 0) return e;
      }
      int e = SendLocked(header, plan, fds);
      if (e != EPIPE && e != ECONNRESET && e != ENOTCONN) return e;
      // The spawner is gone (killed by someone): reap it and start another.
      close(socket_);
      socket_ = -1;
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    return EPIPE;
  }

  // SIGKILL to a keeper that does not answer: the spawner, its parent, knows whether that pid
  // is still its unreaped child, so a recycled pid is never hit.
  void KillKeeper(pid_t keeper) {
    internal::SpawnerRequest header;
    header.op = internal::SpawnerOp::kKillKeeper;
    header.keeper_pid = keeper;
    std::lock_guard<std::mutex> lock(mu_);
    if (socket_ >= 0) SendLocked(header, {}, {});
  }

 private:
  int SendLocked(const internal::SpawnerRequest& header, std::string_view plan,
                 const std::vector<int>& fds) {
    iovec iov[2] = {{const_cast<internal::SpawnerRequest*>(&header), sizeof(header)},
                    {const_cast<char*>(plan.data()), plan.size()}};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * internal::kMaxRequestFds)];
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = plan.empty() ? 1 : 2;
    if (!fds.empty()) {
      if (fds.size() > static_cast<std::size_t>(internal::kMaxRequestFds)) return EMFILE;
      std::memset(control, 0, sizeof(control));
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    for (;;) {
      if (sendmsg(socket_, &msg, MSG_NOSIGNAL) >= 0) return 0;
      if (errno != EINTR) return errno;
    }
  }

  int StartLocked() {
    const KeeperProgram& program = Keeper();
    if (program.path.empty()) return ENOENT;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return errno;
    std::string fd_arg = std::to_string(sv[1]);
    char* argv[] = {const_cast<char*>("gale-keeper"), const_cast<char*>("--spawner"), fd_arg.data(),
                    nullptr};
    char* envp[] = {nullptr};
    const int pass[] = {sv[1]};
    KeeperLaunch launch{program.path.c_str(), argv, envp, pass, 1};
    pid_t pid = StartKeeper(launch, 0);
    close(sv[1]);
    if (pid < 0) {
      close(sv[0]);
      return -pid;
    }
    socket_ = sv[0];
    pid_ = pid;
    return 0;
  }

  std::mutex mu_;
  int socket_ = -1;
  pid_t pid_ = 0;
};

}  // namespace

IsolationReport ProbeIsolation() {
  IsolationReport report;
  report.root = geteuid() == 0;
  if (!report.root) return report;
  Settings probe;
  probe.profile = SeccompProfile::kNoNetwork;
  const std::uint32_t flags = NamespaceFlags(probe);
  // A child that exits at once: creating the namespaces is what is being tried.
  pid_t pid = static_cast<pid_t>(syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0));
  if (pid == 0) syscall(SYS_exit, 0);
  if (pid < 0) {
    report.namespaces_error = std::strerror(errno);
    return report;
  }
  waitpid(pid, nullptr, 0);
  report.namespaces = true;
  return report;
}

struct Process::Impl : std::enable_shared_from_this<Process::Impl> {
  struct Output {
    Output(asio::io_context& io, Stream s) : sd(io), which(s) {}
    asio::posix::stream_descriptor sd;
    Stream which;
    // Allocated after the spawn and never zero-filled: a fresh, untouched buffer costs no page
    // faults until data actually arrives.
    std::unique_ptr<char[]> buf;
    StreamCapture capture;
    bool open = false;
  };

  enum class Ending { kNone, kTimeout, kCancel };

  Impl(asio::io_context& io_context, Command cmd, Settings s, OutputCallback output,
       CompletionHandler done)
      : io(io_context),
        strand(asio::make_strand(io_context)),
        command(std::move(cmd)),
        settings(std::move(s)),
        on_output(std::move(output)),
        on_done(std::move(done)),
        out(io_context, Stream::kStdout),
        err(io_context, Stream::kStderr),
        report(io_context),
        timeout_timer(io_context),
        grace_timer(io_context),
        drain_timer(io_context),
        start(Clock::now()) {}

  ~Impl();

  // --- Spawn (caller's thread, before any handler exists) ---
  void Launch();
  bool Prepare();
  // Prepare's steps, in its order.
  bool CheckCommand();
  bool LoadSeccompProfile();
  bool ResolveUser();
  bool ResolveGroup(gid_t& gid);
  std::map<std::string, std::string> PlanEnvironment();
  void PlanExec(const std::map<std::string, std::string>& env);
  void PlanResourceLimits();
  bool CreateCgroup();
  void PlanConfinement();
  void FailBeforeSpawn(const std::string& stage, int error, const std::string& detail);

  // --- On the strand ---
  void ReadOutput(Output& o);
  void OnOutput(Output& o, std::size_t n);
  void ReadReport();
  void HandleRecord(const Record& r);
  bool AwaitKeeper(int report_fd);
  void OnKeeperGone();
  void Terminate(Ending why);
  void SendControl(char c);
  void KillEverythingDirectly();
  void MaybeFinish();
  void Finish();
  Outcome BuildOutcome();

  asio::io_context& io;
  asio::strand<asio::io_context::executor_type> strand;
  Command command;
  Settings settings;
  OutputCallback on_output;
  CompletionHandler on_done;

  // Prepared for the keeper (encoded for it at spawn).
  internal::ChildPlan plan;
  const CompiledProfile* profile = nullptr;
  std::vector<std::string> env_strings;
  std::vector<char*> argv_ptrs;
  std::vector<char*> envp_ptrs;
  std::vector<std::string> exec_paths;
  std::unique_ptr<ExecutionCgroup> cgroup;
  std::string user_description;

  Output out;
  Output err;
  asio::posix::stream_descriptor report;
  std::array<char, sizeof(Record) * 4> report_buf;
  std::string report_pending;
  bool report_open = false;
  UniqueFd control;
  asio::steady_timer timeout_timer;
  asio::steady_timer grace_timer;
  asio::steady_timer drain_timer;

  std::atomic<pid_t> keeper{0};
  bool keeper_reaped = false;  // the spawner reaped it (kKeeperExit), or the report pipe closed
  bool keeper_exit_seen = false;
  bool keeper_status_known = false;
  int keeper_status = 0;
  rusage keeper_usage{};
  pid_t main_pid = 0;
  std::optional<Record> setup_error;
  std::optional<Record> final_record;
  bool notify_unavailable = false;
  Ending ending = Ending::kNone;
  bool drain_started = false;
  bool completed = false;
  bool containment_failed = false;
  std::string note;
  Clock::time_point start;
};

// ---------------------------------------------------------------------------------------------
// Preparation and spawn

void Process::Impl::FailBeforeSpawn(const std::string& stage, int error,
                                    const std::string& detail) {
  completed = true;
  cgroup.reset();
  Outcome o;
  o.kind = OutcomeKind::kNotStarted;
  o.setup_error = SetupError{stage, error, detail};
  o.usage.wall_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  asio::post(strand, [done = std::move(on_done), o = std::move(o)] {
    if (done) done(o);
  });
}

// The settings the rest of preparation takes for granted.
bool Process::Impl::CheckCommand() {
  if (command.argv.empty() || command.argv[0].empty()) {
    FailBeforeSpawn("settings", EINVAL, "empty command");
    return false;
  }
  const Limits& limits = settings.limits;
  if (limits.open_files && *limits.open_files < 16) {
    FailBeforeSpawn("settings", EINVAL, "open_files must be at least 16");
    return false;
  }
  return true;
}

bool Process::Impl::LoadSeccompProfile() {
  auto compiled = GetCompiledProfile(settings.profile, settings.on_violation);
  if (!compiled) {
    FailBeforeSpawn("seccomp", 0, compiled.message());
    return false;
  }
  profile = *compiled;
  return true;
}

// A group name or number; false (after failing the spawn) when there is no such group.
bool Process::Impl::ResolveGroup(gid_t& gid) {
  if (AllDigits(settings.group)) {
    gid = static_cast<gid_t>(std::stoul(settings.group));
    return true;
  }
  group gr{};
  group* found = nullptr;
  std::vector<char> buf(16384);
  int rc = getgrnam_r(settings.group.c_str(), &gr, buf.data(), buf.size(), &found);
  if (found == nullptr) {
    FailBeforeSpawn("resolve_user", rc, "unknown group '" + settings.group + "'");
    return false;
  }
  gid = gr.gr_gid;
  return true;
}

// User and group, resolved here: the child cannot use NSS. Root drops to them in the child; any
// other node can only run as itself.
bool Process::Impl::ResolveUser() {
  if (settings.user.empty()) return true;
  uid_t uid = 0;
  gid_t gid = 0;
  bool have_gid = false;
  if (AllDigits(settings.user)) {
    uid = static_cast<uid_t>(std::stoul(settings.user));
  } else {
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(16384);
    int rc = getpwnam_r(settings.user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (found == nullptr) {
      FailBeforeSpawn("resolve_user", rc, "unknown user '" + settings.user + "'");
      return false;
    }
    uid = pw.pw_uid;
    gid = pw.pw_gid;
    have_gid = true;
  }
  if (!settings.group.empty()) {
    if (!ResolveGroup(gid)) return false;
    have_gid = true;
  }
  if (!have_gid) {
    FailBeforeSpawn("resolve_user", EINVAL,
                    "numeric user " + settings.user + " needs an explicit group");
    return false;
  }
  user_description = settings.user;
  if (geteuid() == 0) {
    plan.drop_privileges = true;
    plan.uid = uid;
    plan.gid = gid;
  } else if (uid != getuid() || gid != getgid()) {
    FailBeforeSpawn("drop_privileges", EPERM,
                    "to user '" + settings.user + "' (the node does not run as root)");
    return false;
  }
  return true;
}

// Environment: allowed inherited variables, then explicit ones. Returns it as a map (for PATH)
// and keeps the child's envp and argv.
std::map<std::string, std::string> Process::Impl::PlanEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    std::string name = entry.substr(0, eq);
    if (EnvNameAllowed(name, settings.env_allow)) env[name] = entry.substr(eq + 1);
  }
  for (const auto& [k, v] : settings.env) env[k] = v;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  for (auto& s : env_strings) envp_ptrs.push_back(s.data());
  envp_ptrs.push_back(nullptr);
  for (auto& a : command.argv) argv_ptrs.push_back(a.data());
  argv_ptrs.push_back(nullptr);
  plan.argv = argv_ptrs.data();
  plan.envp = envp_ptrs.data();
  return env;
}

// Program candidates, like execvp but decided here; and where the child starts.
void Process::Impl::PlanExec(const std::map<std::string, std::string>& env) {
  const std::string& program = command.argv[0];
  if (program.find('/') != std::string::npos) {
    exec_paths.push_back(program);
  } else {
    auto it = env.find("PATH");
    std::string path = it != env.end() ? it->second : kDefaultPath;
    std::size_t begin = 0;
    for (;;) {
      std::size_t end = path.find(':', begin);
      std::string dir = path.substr(begin, end == std::string::npos ? end : end - begin);
      exec_paths.push_back((dir.empty() ? "." : dir) + "/" + program);
      if (end == std::string::npos) break;
      begin = end + 1;
    }
  }
  for (const auto& p : exec_paths) plan.exec_paths.push_back(p.c_str());
  plan.working_dir = settings.working_dir.empty() ? nullptr : settings.working_dir.c_str();
}

// Resource limits; without root they cannot exceed the node's hard limits.
void Process::Impl::PlanResourceLimits() {
  const Limits& limits = settings.limits;
  auto add_limit = [&](int resource, std::optional<std::uint64_t> value, std::uint64_t extra) {
    if (!value) return;
    rlimit current{};
    getrlimit(static_cast<__rlimit_resource_t>(resource), &current);
    rlimit rl{static_cast<rlim_t>(*value), static_cast<rlim_t>(*value + extra)};
    if (geteuid() != 0 && current.rlim_max != RLIM_INFINITY) {
      rl.rlim_max = std::min(rl.rlim_max, current.rlim_max);
      rl.rlim_cur = std::min(rl.rlim_cur, rl.rlim_max);
    }
    plan.rlimits.push_back({resource, rl});
  };
  add_limit(RLIMIT_CPU, limits.cpu_seconds, 1);  // SIGXCPU, then SIGKILL a second later
  add_limit(RLIMIT_AS, limits.address_space_bytes, 0);
  add_limit(RLIMIT_NOFILE, limits.open_files, 0);
  // RLIMIT_NPROC counts every task of the real uid, machine-wide: the action user's other
  // executions and sensor hosts (with their threads), or, for a non-root node that cannot drop,
  // the node itself and the rest of that user's session. An absolute limit would make forks fail
  // whenever enough other executions run, so it is relative to what that uid already runs: about
  // `processes` more for this execution. (The cgroup's pids.max, when there is one, is the exact
  // per-execution bound; for root RLIMIT_NPROC is not enforced at all.)
  std::optional<std::uint64_t> nproc = limits.processes;
  if (nproc && plan.drop_privileges) {
    *nproc += TasksOf(plan.uid);
  } else if (nproc && geteuid() != 0) {
    *nproc += TasksOf(getuid());
  }
  add_limit(RLIMIT_NPROC, nproc, 0);
  add_limit(RLIMIT_FSIZE, limits.file_size_bytes, 0);
}

bool Process::Impl::CreateCgroup() {
  auto cg = ExecutionCgroup::Create(settings);
  if (!cg) {
    FailBeforeSpawn("cgroup", 0, cg.message());
    return false;
  }
  cgroup = std::move(*cg);
  return true;
}

// The seccomp programs the child loads (its last setup step, child.h) and the namespaces the
// keeper is created in.
void Process::Impl::PlanConfinement() {
  plan.notify_program = profile->notify.empty() ? sock_fprog{0, nullptr} : profile->notify.fprog();
  plan.fallback_program =
      profile->fallback.empty() ? sock_fprog{0, nullptr} : profile->fallback.fprog();
  plan.notif_size = profile->notif_size;
  plan.notif_resp_size = profile->notif_resp_size;
  plan.kill_on_violation = settings.on_violation == ViolationAction::kKill;
  plan.namespaces = NamespaceFlags(settings);
}

// Everything the children need, decided here before the keeper starts (they cannot use NSS;
// child.h has the order they apply it in). False once FailBeforeSpawn has reported why not.
bool Process::Impl::Prepare() {
  if (!CheckCommand() || !LoadSeccompProfile() || !ResolveUser()) return false;
  PlanExec(PlanEnvironment());
  PlanResourceLimits();
  if (!CreateCgroup()) return false;
  PlanConfinement();
  return true;
}

void Process::Impl::Launch() {
  if (!Prepare()) return;

  auto fail = [&](const char* what) { FailBeforeSpawn("spawn", errno, what); };
  // Every descriptor is close-on-exec: nothing leaks into other programs the node starts.
  UniqueFd stdin_fd;
  if (command.stdin_data) {
    stdin_fd.reset(memfd_create("gale-stdin", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (stdin_fd.get() < 0) return fail("memfd_create");
    if (!WriteAll(stdin_fd.get(), *command.stdin_data)) return fail("writing stdin");
    if (lseek(stdin_fd.get(), 0, SEEK_SET) != 0) return fail("lseek stdin");
    fcntl(stdin_fd.get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
  } else {
    stdin_fd.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (stdin_fd.get() < 0) return fail("open /dev/null");
  }
  int p_out[2], p_err[2], p_report[2], ctl[2];
  if (pipe2(p_out, O_CLOEXEC) != 0) return fail("pipe");
  UniqueFd out_r(p_out[0]), out_w(p_out[1]);
  if (pipe2(p_err, O_CLOEXEC) != 0) return fail("pipe");
  UniqueFd err_r(p_err[0]), err_w(p_err[1]);
  if (pipe2(p_report, O_CLOEXEC) != 0) return fail("pipe");
  UniqueFd report_r(p_report[0]), report_w(p_report[1]);
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) != 0) return fail("socketpair");
  UniqueFd ctl_parent(ctl[0]), ctl_child(ctl[1]);
  // Bigger pipes: fewer wake-ups for chatty programs (best effort).
  fcntl(out_r.get(), F_SETPIPE_SZ, 1 << 20);
  fcntl(err_r.get(), F_SETPIPE_SZ, 1 << 20);

  const KeeperProgram& program = Keeper();
  if (program.path.empty()) {
    return FailBeforeSpawn("keeper", ENOENT, "not found at " + program.looked_for);
  }
  // The descriptors travel to the spawner in one message; the plan names them by index.
  std::vector<int> pass;
  auto index_of = [&pass](int fd) {
    if (fd < 0) return -1;
    pass.push_back(fd);
    return static_cast<int>(pass.size()) - 1;
  };
  plan.control_fd = index_of(ctl_child.get());
  plan.report_fd = index_of(report_w.get());
  plan.stdin_fd = index_of(stdin_fd.get());
  plan.stdout_fd = index_of(out_w.get());
  plan.stderr_fd = index_of(err_w.get());
  if (cgroup) {
    plan.cgroup_kill_fd = index_of(cgroup->kill_fd());
    for (int fd : cgroup->procs_fds()) plan.cgroup_procs_fds.push_back(index_of(fd));
  }
  const std::string wire = internal::EncodePlan(plan);
  internal::SpawnerRequest request;
  std::string_view inline_plan = wire;
  UniqueFd plan_fd;
  if (wire.size() > internal::kMaxInlinePlan) {  // a huge argv or environment
    plan_fd.reset(memfd_create("gale-plan", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (plan_fd.get() < 0) return fail("memfd_create");
    if (!WriteAll(plan_fd.get(), wire)) return fail("writing the plan");
    fcntl(plan_fd.get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
    pass.push_back(plan_fd.get());
    request.flags = internal::kPlanInMemfd;
    inline_plan = {};
  }
  request.plan_size = static_cast<std::uint32_t>(inline_plan.size());
  if (int e = SpawnerClient::Get().Send(request, inline_plan, pass); e != 0) {
    return FailBeforeSpawn("keeper", e, "could not reach the sandbox spawner " + program.path);
  }

  // The children's ends.
  plan_fd.reset();
  stdin_fd.reset();
  out_w.reset();
  err_w.reset();
  report_w.reset();
  ctl_child.reset();
  if (cgroup) cgroup->CloseProcsFds();
  if (!AwaitKeeper(report_r.get())) return;

  control = std::move(ctl_parent);
  out.sd.assign(out_r.release());
  err.sd.assign(err_r.release());
  report.assign(report_r.release());
  out.open = err.open = report_open = true;
  out.buf.reset(new char[kReadChunk]);
  err.buf.reset(new char[kReadChunk]);

  // Started on the strand: with an io_context run by several threads, a quick execution's
  // handlers could otherwise finish it on another thread while this one still arms the timer
  // (which would then hold the io_context for the whole timeout).
  asio::post(strand, [self = shared_from_this()] {
    if (self->settings.timeout.count() > 0) {
      self->timeout_timer.expires_after(self->settings.timeout);
      self->timeout_timer.async_wait(
          asio::bind_executor(self->strand, [self](const boost::system::error_code& ec) {
            if (!ec) self->Terminate(Ending::kTimeout);
          }));
    }
    self->ReadOutput(self->out);
    self->ReadOutput(self->err);
    self->ReadReport();
  });
}

// ---------------------------------------------------------------------------------------------
// Output and report

void Process::Impl::ReadOutput(Output& o) {
  o.sd.async_read_some(
      asio::buffer(o.buf.get(), kReadChunk),
      asio::bind_executor(strand, [self = shared_from_this(), &o](
                                      const boost::system::error_code& ec, std::size_t n) {
        if (n > 0) self->OnOutput(o, n);
        if (ec) {  // EOF, or closed after the drain deadline
          o.open = false;
          boost::system::error_code ignored;
          o.sd.close(ignored);
          self->MaybeFinish();
          return;
        }
        self->ReadOutput(o);
      }));
}

void Process::Impl::OnOutput(Output& o, std::size_t n) {
  o.capture.bytes += n;
  std::size_t kept = o.capture.data.size();
  std::size_t room = settings.output_cap_bytes > kept
                         ? static_cast<std::size_t>(settings.output_cap_bytes - kept)
                         : 0;
  std::size_t take = std::min(room, n);
  if (take > 0) {
    o.capture.data.append(o.buf.get(), take);
    if (on_output) on_output(o.which, std::string_view(o.buf.get(), take));
  }
  if (take < n) o.capture.truncated = true;
}

void Process::Impl::ReadReport() {
  report.async_read_some(
      asio::buffer(report_buf),
      asio::bind_executor(
          strand, [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
            if (n > 0) {
              self->report_pending.append(self->report_buf.data(), n);
              while (self->report_pending.size() >= sizeof(Record)) {
                Record r;
                std::memcpy(&r, self->report_pending.data(), sizeof(r));
                self->report_pending.erase(0, sizeof(r));
                self->HandleRecord(r);
              }
            }
            if (ec) {
              self->report_open = false;
              boost::system::error_code ignored;
              self->report.close(ignored);
              // EOF: the spawner reaped the keeper (kKeeperExit came first), or the spawner is
              // gone and the keeper exited too (both held the pipe).
              if (!self->keeper_exit_seen) {
                self->note = "the sandbox spawner ended before the supervisor; its exit is unknown";
              }
            }
            if (self->keeper_exit_seen || ec) {
              if (!self->keeper_reaped) {
                self->keeper_reaped = true;
                self->OnKeeperGone();
              }
              if (ec) return self->MaybeFinish();
            }
            self->ReadReport();
          }));
}

void Process::Impl::HandleRecord(const Record& r) {
  if (r.magic != internal::kRecordMagic) return;
  switch (r.type) {
    case RecordType::kSetupError:
      if (!setup_error) setup_error = r;
      break;
    case RecordType::kStarted:
      main_pid = r.main_pid;
      break;
    case RecordType::kNote:
      if (r.notify_unavailable) notify_unavailable = true;
      break;
    case RecordType::kFinal:
      final_record = r;
      if (main_pid == 0) main_pid = r.main_pid;
      break;
    case RecordType::kKeeperExit:
      keeper_exit_seen = true;
      keeper_status_known = true;
      keeper_status = r.keeper_status;
      keeper_usage.ru_utime.tv_sec = r.cpu_user_us / 1000000;
      keeper_usage.ru_utime.tv_usec = r.cpu_user_us % 1000000;
      keeper_usage.ru_stime.tv_sec = r.cpu_system_us / 1000000;
      keeper_usage.ru_stime.tv_usec = r.cpu_system_us % 1000000;
      keeper_usage.ru_maxrss = r.max_rss_kib;
      break;
    case RecordType::kSpawned:
    case RecordType::kSpawnFailed:
      break;  // taken by AwaitKeeper
  }
}

// The spawner's answer, read before anything asynchronous starts: the keeper's pid, or why it
// could not be created (then the spawn fails here). Records the keeper sent meanwhile are kept.
bool Process::Impl::AwaitKeeper(int fd) {
  const auto deadline = Clock::now() + kSpawnerDeadline;
  std::string bytes;
  for (;;) {
    while (bytes.size() >= sizeof(Record)) {
      Record r;
      std::memcpy(&r, bytes.data(), sizeof(r));
      bytes.erase(0, sizeof(r));
      if (r.magic == internal::kRecordMagic && r.type == RecordType::kSpawned) {
        keeper = r.keeper_pid;
        while (bytes.size() >= sizeof(Record)) {
          std::memcpy(&r, bytes.data(), sizeof(r));
          bytes.erase(0, sizeof(r));
          HandleRecord(r);
        }
        report_pending = std::move(bytes);
        return true;
      }
      if (r.magic == internal::kRecordMagic && r.type == RecordType::kSpawnFailed) {
        FailBeforeSpawn(std::string(internal::StageName(r.stage)), r.error,
                        "could not create the sandbox supervisor");
        return false;
      }
      HandleRecord(r);
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    int ready = left > 0 ? poll(&p, 1, static_cast<int>(left)) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      FailBeforeSpawn("keeper", ETIMEDOUT, "the sandbox spawner did not answer");
      return false;
    }
    char buf[sizeof(Record) * 4];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      FailBeforeSpawn("keeper", EPROTO, "the sandbox spawner refused the request");
      return false;
    }
    bytes.append(buf, static_cast<std::size_t>(n));
  }
}

// ---------------------------------------------------------------------------------------------
// The keeper's exit

void Process::Impl::OnKeeperGone() {
  timeout_timer.cancel();
  grace_timer.cancel();
  control.reset();
  // The keeper only ever ends with _exit(): killed by a signal means someone killed it (the
  // action, if it could signal it, or an administrator) and the tree may still be running.
  if (keeper_status_known && WIFSIGNALED(keeper_status)) {
    KillEverythingDirectly();
    containment_failed = !cgroup && (plan.namespaces & CLONE_NEWPID) == 0;
    note = "the sandbox supervisor was killed by " + SignalName(WTERMSIG(keeper_status)) +
           "; the execution was killed through " +
           ((plan.namespaces & CLONE_NEWPID) != 0 ? "its PID namespace"
            : cgroup                              ? "its cgroup"
                                                  : "its process group only");
  }
  MaybeFinish();
  if (completed || drain_started) return;
  // Normally the pipes reach EOF right away: everything that could write to them is dead. Only
  // a write end leaked to an unrelated process (a fork without exec elsewhere in the node) keeps
  // them open; do not wait for it forever.
  drain_started = true;
  drain_timer.expires_after(kDrainDeadline);
  drain_timer.async_wait(
      asio::bind_executor(strand, [self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || self->completed) return;
        if (self->note.empty()) self->note = "output pipes stayed open after the execution ended";
        boost::system::error_code ignored;
        self->out.sd.close(ignored);
        self->err.sd.close(ignored);
        self->report.close(ignored);
        self->out.open = self->err.open = self->report_open = false;
        self->Finish();
      }));
}

void Process::Impl::KillEverythingDirectly() {
  // In its own PID namespace the tree died with the keeper (its PID 1), and main_pid is a
  // number of that namespace, meaningless here.
  if (main_pid > 0 && (plan.namespaces & CLONE_NEWPID) == 0) kill(-main_pid, SIGKILL);
  if (cgroup) cgroup->KillAll();
}

// ---------------------------------------------------------------------------------------------
// Ending

void Process::Impl::SendControl(char c) {
  if (control.get() >= 0) send(control.get(), &c, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

void Process::Impl::Terminate(Ending why) {
  if (completed || keeper_reaped || ending != Ending::kNone) return;
  ending = why;
  timeout_timer.cancel();
  SendControl('T');
  grace_timer.expires_after(settings.kill_grace);
  grace_timer.async_wait(
      asio::bind_executor(strand, [self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || self->keeper_reaped) return;
        self->SendControl('K');
        self->grace_timer.expires_after(kKeeperDeadline);
        self->grace_timer.async_wait(
            asio::bind_executor(self->strand, [self](const boost::system::error_code& ec2) {
              if (ec2 || self->keeper_reaped) return;
              // The supervisor does not answer (stopped?): take it and the tree down directly.
              SpawnerClient::Get().KillKeeper(self->keeper.load());
              self->KillEverythingDirectly();
            }));
      }));
}

void Process::Impl::MaybeFinish() {
  if (completed || !keeper_reaped || out.open || err.open || report_open) return;
  Finish();
}

Outcome Process::Impl::BuildOutcome() {
  Outcome o;
  o.keeper_pid = keeper.load();
  o.main_pid = main_pid;
  o.pid_namespace = (plan.namespaces & CLONE_NEWPID) != 0;
  o.usage.wall_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  if (keeper_status_known) {
    o.usage.cpu_user_ms = Millis(keeper_usage.ru_utime);
    o.usage.cpu_system_ms = Millis(keeper_usage.ru_stime);
    o.usage.max_rss_kib = keeper_usage.ru_maxrss;
  }
  if (cgroup) {
    o.cgroup = cgroup->kind();
    o.usage.peak_processes = cgroup->PeakProcesses();
  }
  o.out = std::move(out.capture);
  o.err = std::move(err.capture);
  o.containment_failed = containment_failed;
  o.note = note;

  if (setup_error) {
    o.kind = OutcomeKind::kNotStarted;
    auto stage = static_cast<Stage>(setup_error->stage);
    std::string detail;
    if (stage == Stage::kExec) detail = command.argv[0];
    if (stage == Stage::kChdir) detail = settings.working_dir;
    if (stage == Stage::kDropPrivileges) detail = "to user '" + user_description + "'";
    o.setup_error = SetupError{std::string(internal::StageName(stage)), setup_error->error, detail};
    return o;
  }

  if (final_record && final_record->main_reaped) {
    int st = final_record->main_status;
    if (WIFEXITED(st)) {
      o.exit_code = WEXITSTATUS(st);
    } else if (WIFSIGNALED(st)) {
      o.signal = WTERMSIG(st);
      o.core_dumped = WCOREDUMP(st);
    }
    o.leftovers_killed = final_record->leftovers_killed;
    for (int i = 0; i < final_record->denied_count && i < internal::kMaxDenied; ++i) {
      o.denied_syscalls.push_back(SyscallName(final_record->denied[i]));
    }
    if (final_record->denied_overflow) o.denied_syscalls.push_back("...");
  }
  bool filtered = settings.profile != SeccompProfile::kNone;
  o.denied_syscalls_known =
      !filtered || (final_record && final_record->notify_active && !notify_unavailable);

  if (ending == Ending::kTimeout) {
    o.kind = OutcomeKind::kTimedOut;
  } else if (ending == Ending::kCancel) {
    o.kind = OutcomeKind::kCanceled;
  } else if (final_record && final_record->violation_nr >= 0) {
    o.kind = OutcomeKind::kSeccompViolation;
    o.violation_syscall = SyscallName(final_record->violation_nr);
  } else if (filtered && settings.on_violation == ViolationAction::kKill && o.signal == SIGSYS) {
    o.kind = OutcomeKind::kSeccompViolation;  // fallback filter: the kernel does not say which
  } else if (o.exit_code.has_value()) {
    o.kind = OutcomeKind::kExited;
  } else {
    o.kind = OutcomeKind::kKilled;
    if (o.signal == 0 && keeper_status_known && WIFSIGNALED(keeper_status)) {
      o.signal = WTERMSIG(keeper_status);  // the supervisor's fate: the best we know
    }
  }
  return o;
}

void Process::Impl::Finish() {
  if (completed) return;
  completed = true;
  timeout_timer.cancel();
  grace_timer.cancel();
  drain_timer.cancel();
  if (!final_record && !setup_error && note.empty()) {
    note = "no report from the sandbox supervisor";
    KillEverythingDirectly();
  }
  Outcome o = BuildOutcome();
  asio::post(strand, [done = std::move(on_done), o = std::move(o)] {
    if (done) done(o);
  });
  // Removes the directories (everything in them is gone), once the caller has its outcome.
  if (cgroup) {
    asio::post(strand, [cg = std::shared_ptr<ExecutionCgroup>(std::move(cgroup)),
                        parent = settings.cgroup_parent]() mutable {
      cg.reset();
      ExecutionCgroup::Refill(parent);
    });
  }
}

// Reads and drops what `fd` still carries until EOF or `timeout`; true at EOF.
static bool DrainUntilEof(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0) return true;
    if (n > 0 || errno == EINTR) continue;
    if (errno != EAGAIN) return true;  // not readable at all: nothing to wait for
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    poll(&p, 1, static_cast<int>(left));
  }
}

Process::Impl::~Impl() {
  pid_t pid = keeper.load();
  if (pid <= 0 || keeper_reaped || !report.is_open()) return;
  // Destroyed before completion (io_context gone): kill, and wait until the spawner has reaped
  // the keeper (it closes the report pipe then).
  control.reset();  // the keeper kills everything when the control socket closes
  const int fd = report.native_handle();
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  if (!DrainUntilEof(fd, kKeeperDeadline)) {
    SpawnerClient::Get().KillKeeper(pid);
    KillEverythingDirectly();
    DrainUntilEof(fd, kKeeperDeadline);
  }
}

// ---------------------------------------------------------------------------------------------

std::shared_ptr<Process> Process::Spawn(asio::io_context& io, Command command, Settings settings,
                                        OutputCallback on_output, CompletionHandler on_done) {
  auto impl = std::make_shared<Impl>(io, std::move(command), std::move(settings),
                                     std::move(on_output), std::move(on_done));
  impl->Launch();
  return std::make_shared<Process>(std::move(impl));
}

void Process::Cancel() {
  asio::post(impl_->strand, [impl = impl_] { impl->Terminate(Impl::Ending::kCancel); });
}

pid_t Process::keeper_pid() const {
  return impl_->keeper.load();
}

Result<std::string> FindKeeper() {
  const KeeperProgram& program = Keeper();
  if (program.path.empty()) {
    return Status::Error("the sandbox supervisor gale-keeper is not installed: not found at " +
                         program.looked_for);
  }
  return program.path;
}

Outcome RunSandboxed(Command command, const Settings& settings, Process::OutputCallback on_output) {
  asio::io_context io;
  Outcome result;
  Process::Spawn(io, std::move(command), settings, std::move(on_output),
                 [&result](const Outcome& o) { result = o; });
  io.run();
  return result;
}

}  // namespace gale::sandbox

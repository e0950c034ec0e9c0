// The keeper and the action child (see child.h). Async-signal-safe code only: raw system calls,
// static buffers, no allocation.
#include "sandbox/child.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "host/common/credential_drop.h"
#include "sandbox/seccomp_profile.h"

namespace gale::sandbox::internal {

namespace {

// ---------------------------------------------------------------------------------------------
// Helpers

bool WriteAll(int fd, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

void SendRecord(int fd, const Record& record) {
  WriteAll(fd, &record, sizeof(record));
}

char* Append(char* p, const char* s) {
  while (*s != '\0') *p++ = *s++;
  return p;
}

char* Append(char* p, long value) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0);
  while (n > 0) *p++ = digits[--n];
  return p;
}

struct LinuxDirent64 {
  ino64_t d_ino;
  off64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[1];
};

// Calls fn(number) for every numeric entry of the directory `fd`. `buf` is scratch space.
template <class Fn>
void ForEachNumericEntry(int fd, char* buf, std::size_t buf_size, Fn fn) {
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, buf_size);
    if (n <= 0) return;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<LinuxDirent64*>(buf + off);
      off += d->d_reclen;
      long value = 0;
      const char* c = d->d_name;
      if (*c < '0' || *c > '9') continue;
      for (; *c >= '0' && *c <= '9'; ++c) value = value * 10 + (*c - '0');
      if (*c == '\0') fn(value);
    }
  }
}

// close_range(first, ~0U), or /proc/self/fd when the kernel lacks it (< 5.9).
bool CloseFrom(int first) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, first, ~0U, 0) == 0) return true;
#endif
  static char dents[4096];
  int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return false;
    long max = rl.rlim_cur == RLIM_INFINITY ? 65536 : static_cast<long>(rl.rlim_cur);
    for (long fd = first; fd < max; ++fd) close(static_cast<int>(fd));
    return true;
  }
  // Collect first: closing while iterating would disturb the listing.
  static int fds[4096];
  int count = 0;
  ForEachNumericEntry(dir, dents, sizeof(dents), [&](long fd) {
    if (fd >= first && fd != dir && count < 4096) fds[count++] = static_cast<int>(fd);
  });
  close(dir);
  for (int i = 0; i < count; ++i) close(fds[i]);
  return true;
}

// Closes every descriptor not in keep[0..n) (unsorted, may hold -1 and duplicates).
bool CloseAllExcept(int* keep, int n) {
  for (int i = 1; i < n; ++i) {  // insertion sort: n is tiny
    int v = keep[i];
    int j = i - 1;
    for (; j >= 0 && keep[j] > v; --j) keep[j + 1] = keep[j];
    keep[j + 1] = v;
  }
  int next = 0;  // lowest descriptor not yet handled
  for (int i = 0; i < n; ++i) {
    if (keep[i] < next) continue;
    for (int fd = next; fd < keep[i]; ++fd) close(fd);
    next = keep[i] + 1;
  }
  return CloseFrom(next);
}

// ---------------------------------------------------------------------------------------------
// The action child

// Moves the descriptors the action keeps to 0..4 and closes the rest.
void SetUpDescriptors(const ChildPlan& plan, int& report_fd, int notify_fd) {
  int src[5] = {plan.stdin_fd, plan.stdout_fd, plan.stderr_fd, report_fd, notify_fd};
  for (int& fd : src) {
    if (fd >= 0 && fd < 5) {
      int moved = fcntl(fd, F_DUPFD_CLOEXEC, 5);
      if (moved < 0) FailSetup(report_fd, Stage::kFds, errno);
      fd = moved;
    }
  }
  report_fd = src[3];
  for (int i = 0; i < 3; ++i) {
    if (dup2(src[i], i) < 0) FailSetup(report_fd, Stage::kFds, errno);
  }
  if (dup3(src[3], kChildReportFd, O_CLOEXEC) < 0) FailSetup(report_fd, Stage::kFds, errno);
  report_fd = kChildReportFd;
  int first_free = kChildReportFd + 1;
  if (notify_fd >= 0) {
    if (dup3(src[4], kChildNotifyFd, O_CLOEXEC) < 0) FailSetup(report_fd, Stage::kFds, errno);
    first_free = kChildNotifyFd + 1;
  }
  if (!CloseFrom(first_free)) FailSetup(report_fd, Stage::kFds, errno);
}

bool SendFd(int socket_fd, int fd) {
  char byte = 'L';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  std::memset(control, 0, sizeof(control));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  for (;;) {
    ssize_t n = sendmsg(socket_fd, &msg, MSG_NOSIGNAL);
    if (n == 1) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

// The kernel's struct sigaction (x86_64 and arm64 both have sa_restorer), and its signal count.
struct KernelSigaction {
  unsigned long handler;
  unsigned long flags;
  unsigned long restorer;
  unsigned long mask;
};
constexpr int kKernelSignals = 64;
// Beyond any kernel's last capability: the drop stops where the kernel's list ends (EINVAL).
constexpr int kLastCapability = 63;

// Set in the spawner once it has reset every disposition (inherited by its forks).
bool g_dispositions_default = false;

long LoadFilter(unsigned flags, const sock_fprog* program) {
  return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, program);
}

[[noreturn]] void ActionChildMain(const ChildPlan& plan, int notify_fd) {
  int report = plan.report_fd;

  // 1. Own session and process group: the whole group can be signalled at once, and the
  // action has no controlling terminal.
  if (setsid() < 0) FailSetup(report, Stage::kSession, errno);

  // 2. The execution's cgroups ("0" = the writing process).
  for (int fd : plan.cgroup_procs_fds) {
    if (!WriteAll(fd, "0", 1)) FailSetup(report, Stage::kCgroup, errno);
    close(fd);
  }

  // 3. Resource limits.
  for (const auto& limit : plan.rlimits) {
    if (setrlimit(static_cast<__rlimit_resource>(limit.resource), &limit.value) != 0) {
      FailSetup(report, Stage::kRlimit, errno);
    }
  }
  rlimit no_core{0, 0};
  if (setrlimit(RLIMIT_CORE, &no_core) != 0) FailSetup(report, Stage::kRlimit, errno);

  // 4. Descriptors: 0/1/2, the report pipe and the notify socket; nothing else survives.
  SetUpDescriptors(plan, report, notify_fd);
  if (notify_fd >= 0) notify_fd = kChildNotifyFd;

  // 5. Signals: the keeper blocked everything; exec keeps the mask and ignored signals. Raw
  // rt_sigaction: glibc's sigaction() refuses its own internal signals (32 and 33), which
  // posix_spawn leaves ignored. Skipped under the spawner, whose forks have only defaults.
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, nullptr) != 0) FailSetup(report, Stage::kSignals, errno);
  if (!g_dispositions_default) {
    if (int e = ResetSignalDispositions(); e != 0) FailSetup(report, Stage::kSignals, e);
  }

  // The node creates its own files 0600 (umask 077); the action gets the usual umask, so that
  // what one execution writes can be read by the next and by the operator.
  umask(022);

  // 6. no_new_privs: no setuid/file-capability gain across exec; required for seccomp as non-root.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) FailSetup(report, Stage::kNoNewPrivs, errno);

  // 7. Drop privileges: the uid and gid, every capability set emptied, then read back.
  if (plan.drop_privileges) {
    const credentials::DropResult r = credentials::DropToUser(plan.uid, plan.gid, kLastCapability);
    if (!r.ok()) {
      const bool caps = r.step == credentials::DropStep::kBoundingSet ||
                        r.step == credentials::DropStep::kAmbientCaps ||
                        r.step == credentials::DropStep::kClearCaps;
      FailSetup(report, caps ? Stage::kCapabilities : Stage::kDropPrivileges, r.error);
    }
  }

  // 8. Working directory, checked with the final credentials.
  if (plan.working_dir != nullptr && chdir(plan.working_dir) != 0) {
    FailSetup(report, Stage::kChdir, errno);
  }

  // 9. Seccomp, last before exec. With a listener, hand it to the keeper and close every copy:
  // the action must never hold its own listener (it could allow its own denied calls).
  bool loaded = false;
  if (plan.notify_program.len > 0 && notify_fd >= 0) {
    long listener = LoadFilter(SECCOMP_FILTER_FLAG_NEW_LISTENER, &plan.notify_program);
    if (listener >= 0) {
      if (!SendFd(notify_fd, static_cast<int>(listener))) {
        FailSetup(report, Stage::kSeccompNotify, errno);
      }
      close(static_cast<int>(listener));
      loaded = true;
    }
    close(notify_fd);
  }
  if (!loaded && plan.fallback_program.len > 0) {
    if (LoadFilter(0, &plan.fallback_program) != 0) FailSetup(report, Stage::kSeccomp, errno);
    if (plan.notify_program.len > 0) {
      Record note;
      note.type = RecordType::kNote;
      note.notify_unavailable = 1;
      SendRecord(report, note);
    }
  }

  // 10. Exec. Like execvp: EACCES on one candidate is remembered, ENOENT moves on.
  int error = ENOENT;
  for (const char* path : plan.exec_paths) {
    execve(path, plan.argv, plan.envp);
    int e = errno;
    if (e == EACCES) {
      error = e;
    } else if (e != ENOENT && e != ENOTDIR) {
      error = e;
      break;
    }
  }
  FailSetup(report, Stage::kExec, error);
}

struct ActionArgs {
  const ChildPlan* plan;
  int notify_fd;
  int keeper_sigfd;
  int keeper_notify_fd;
};
ActionArgs g_action_args;
alignas(64) char g_action_stack[256 * 1024];

int ActionChildEntry(void* arg) {
  const auto* a = static_cast<const ActionArgs*>(arg);
  // The keeper's own descriptors (closed again by the fds stage; early is tidier).
  close(a->keeper_sigfd);
  close(a->plan->control_fd);
  if (a->plan->cgroup_kill_fd >= 0) close(a->plan->cgroup_kill_fd);
  if (a->keeper_notify_fd >= 0) close(a->keeper_notify_fd);
  ActionChildMain(*a->plan, a->notify_fd);
}

// ---------------------------------------------------------------------------------------------
// The keeper

struct KeeperState {
  const ChildPlan* plan = nullptr;
  pid_t self = 0;
  pid_t main_pid = -1;
  bool killing = false;
  int control = -1;
  int notify_socket = -1;
  int listener = -1;
  Record final;
};

KeeperState g_keeper;
char g_dents[8192];
char g_children[16384];
alignas(8) unsigned char g_notif[4096];
alignas(8) unsigned char g_resp[1024];

struct TreeEntry {
  pid_t pid;
  pid_t parent;
};
TreeEntry g_stack[16384];
char g_stat[512];

void Push(pid_t pid, pid_t parent, int& top) {
  if (top < static_cast<int>(sizeof(g_stack) / sizeof(g_stack[0]))) g_stack[top++] = {pid, parent};
  // Overflow: missed pids are found on the next pass, once re-parented to the keeper.
}

// Pushes the children listed in /proc/<pid>/task/<tid>/children.
void PushChildren(pid_t pid, long tid, int& top) {
  char path[64];
  char* p = Append(path, "/proc/");
  p = Append(p, static_cast<long>(pid));
  p = Append(p, "/task/");
  p = Append(p, tid);
  p = Append(p, "/children");
  *p = '\0';
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  long value = -1;
  for (;;) {
    ssize_t n = read(fd, g_children, sizeof(g_children));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      char c = g_children[i];
      if (c >= '0' && c <= '9') {
        value = (value < 0 ? 0 : value * 10) + (c - '0');
      } else if (value >= 0) {
        Push(static_cast<pid_t>(value), pid, top);
        value = -1;
      }
    }
  }
  if (value >= 0) Push(static_cast<pid_t>(value), pid, top);
  close(fd);
}

// Pushes the children of every thread of `pid`.
void PushAllChildren(pid_t pid, int& top) {
  char path[48];
  char* p = Append(path, "/proc/");
  p = Append(p, static_cast<long>(pid));
  p = Append(p, "/task");
  *p = '\0';
  int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  long tids[64];
  int count = 0;
  ForEachNumericEntry(dir, g_dents, sizeof(g_dents), [&](long tid) {
    if (count < 64) tids[count++] = tid;
  });
  close(dir);
  for (int i = 0; i < count; ++i) PushChildren(pid, tids[i], top);
}

// The parent pid of `pid` from /proc/<pid>/stat, or -1.
pid_t ParentOf(pid_t pid) {
  char path[48];
  char* p = Append(path, "/proc/");
  p = Append(p, static_cast<long>(pid));
  p = Append(p, "/stat");
  *p = '\0';
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, g_stat, sizeof(g_stat) - 1);
  close(fd);
  if (n <= 0) return -1;
  g_stat[n] = '\0';
  // "pid (comm) S ppid ...": comm may contain anything, so look for the last ')'.
  char* end = nullptr;
  for (char* c = g_stat; *c != '\0'; ++c) {
    if (*c == ')') end = c;
  }
  if (end == nullptr || end[1] == '\0' || end[2] == '\0' || end[3] == '\0') return -1;
  long ppid = 0;
  for (char* c = end + 4; *c >= '0' && *c <= '9'; ++c) ppid = ppid * 10 + (*c - '0');
  return static_cast<pid_t>(ppid);
}

// Signals `pid`, a child of `parent`, without ever hitting a recycled pid. The keeper's own
// children cannot be recycled (their pids are held until the keeper reaps them, which does not
// happen during a walk); deeper ones can, if their parent reaps them meanwhile. So: take a pidfd,
// check the process behind the pid is still a child of `parent` (a pid that was recycled by then
// belongs to an unrelated process with another parent, or the pidfd's process is gone and the
// signal fails), and signal through the pidfd.
bool SignalChild(pid_t pid, pid_t parent, int sig) {
  if (parent == g_keeper.self) return kill(pid, sig) == 0;
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) {
    if (errno != ENOSYS) return false;
    return ParentOf(pid) == parent && kill(pid, sig) == 0;  // Linux < 5.3: best effort
  }
  bool ok = ParentOf(pid) == parent && syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0) == 0;
  close(fd);
  return ok;
}

// Sends `sig` to every process of the tree below the keeper; returns how many were signalled.
// Each process is signalled BEFORE its children are listed: with SIGKILL pending it can no longer
// fork (the kernel refuses fork with a fatal signal pending), so one pass sees the whole tree,
// except processes re-parented to the keeper meanwhile, which the next pass finds.
int SignalTree(int sig) {
  const ChildPlan& plan = *g_keeper.plan;
  if (g_keeper.main_pid > 0 && g_keeper.final.main_reaped == 0) {
    kill(-g_keeper.main_pid, sig);  // its process group, atomically
  }
  if (sig == SIGKILL && plan.cgroup_kill_fd >= 0) WriteAll(plan.cgroup_kill_fd, "1", 1);
  int count = 0;
  int top = 0;
  PushChildren(g_keeper.self, g_keeper.self, top);
  while (top > 0) {
    TreeEntry e = g_stack[--top];
    if (!SignalChild(e.pid, e.parent, sig)) continue;  // gone, or not ours any more
    ++count;
    PushAllChildren(e.pid, top);
  }
  return count;
}

void StartKilling() {
  if (!g_keeper.killing) {
    g_keeper.killing = true;
    SignalTree(SIGKILL);
  }
}

// Reaps every exited child; returns true when the keeper has no child left at all.
bool ReapAll() {
  for (;;) {
    int status = 0;
    pid_t pid = wait4(-1, &status, WNOHANG | __WALL, nullptr);
    if (pid > 0) {
      if (pid == g_keeper.main_pid) {
        g_keeper.final.main_reaped = 1;
        g_keeper.final.main_status = status;
        if (!g_keeper.killing) {
          // The execution is over: nothing it started may outlive it.
          g_keeper.killing = true;
          g_keeper.final.leftovers_killed = SignalTree(SIGKILL);
        }
      }
      continue;
    }
    if (pid == 0) return false;
    if (errno == EINTR) continue;
    return errno == ECHILD;
  }
}

void RecordDenied(int nr) {
  Record& f = g_keeper.final;
  for (int i = 0; i < f.denied_count; ++i) {
    if (f.denied[i] == nr) return;
  }
  if (f.denied_count < kMaxDenied) {
    f.denied[f.denied_count++] = nr;
  } else {
    f.denied_overflow = 1;
  }
}

void HandleNotification() {
  const ChildPlan& plan = *g_keeper.plan;
  std::memset(g_notif, 0, sizeof(g_notif));
  if (ioctl(g_keeper.listener, SECCOMP_IOCTL_NOTIF_RECV, g_notif) != 0) return;  // ENOENT: gone
  const auto* req = reinterpret_cast<const seccomp_notif*>(g_notif);
  RecordDenied(req->data.nr);
  if (plan.kill_on_violation && g_keeper.final.violation_nr < 0) {
    g_keeper.final.violation_nr = req->data.nr;
    StartKilling();  // the call never runs: the caller is blocked here until killed
  }
  std::memset(g_resp, 0, sizeof(g_resp));
  auto* resp = reinterpret_cast<seccomp_notif_resp*>(g_resp);
  resp->id = req->id;
  resp->val = 0;
  resp->error = -EPERM;
  resp->flags = 0;
  ioctl(g_keeper.listener, SECCOMP_IOCTL_NOTIF_SEND, g_resp);  // ENOENT: killed meanwhile
}

void ReceiveListener() {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = recvmsg(g_keeper.notify_socket, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    if (cmsg != nullptr && cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
      std::memcpy(&g_keeper.listener, CMSG_DATA(cmsg), sizeof(int));
      g_keeper.final.notify_active = 1;
    }
  }
  // One message at most; nothing (EOF) means the child exec'd or died without a listener.
  close(g_keeper.notify_socket);
  g_keeper.notify_socket = -1;
}

void HandleControl() {
  char buf[16];
  ssize_t n = read(g_keeper.control, buf, sizeof(buf));
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    // The node closed its end or died: take everything down.
    close(g_keeper.control);
    g_keeper.control = -1;
    StartKilling();
    return;
  }
  for (ssize_t i = 0; i < n; ++i) {
    if (buf[i] == 'T' && !g_keeper.killing) SignalTree(SIGTERM);
    if (buf[i] == 'K') StartKilling();
  }
}

// The keeper is PID 1 of the execution's namespaces (process.cpp creates it there). Its mount
// namespace gets a /proc of its own PID namespace, so the action sees only its own processes;
// mounts are made private first so that nothing propagates back to the node's namespace.
void SetUpNamespaces(const ChildPlan& plan, int report) {
  if ((plan.namespaces & CLONE_NEWNS) != 0) {
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
      FailSetup(report, Stage::kNamespaces, errno);
    }
  }
  if ((plan.namespaces & CLONE_NEWNET) != 0) {
    // A new network namespace has only loopback, and it is down.
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) FailSetup(report, Stage::kNamespaces, errno);
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, "lo", 3);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) FailSetup(report, Stage::kNamespaces, errno);
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) FailSetup(report, Stage::kNamespaces, errno);
    close(s);
  }
}

}  // namespace

int ResetSignalDispositions() {
  KernelSigaction dfl{};  // SIG_DFL is 0
  for (int sig = 1; sig <= kKernelSignals; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    if (syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof(dfl.mask)) != 0) return errno;
  }
  return 0;
}

void AssumeDefaultDispositions() {
  g_dispositions_default = true;
}

void FailSetup(int report_fd, Stage stage, int error) {
  Record r;
  r.type = RecordType::kSetupError;
  r.stage = stage;
  r.error = error;
  SendRecord(report_fd, r);
  _exit(127);
}

void KeeperMain(const ChildPlan& plan) {
  g_keeper.plan = &plan;
  g_keeper.self = getpid();
  int report = plan.report_fd;

  // Own session: terminal signals for the node's process group never reach the keeper.
  if (setsid() < 0) FailSetup(report, Stage::kKeeper, errno);
  // Every signal blocked (SIGPIPE included: a dead node gives EPIPE, not death); SIGCHLD is read
  // from a signalfd.
  sigset_t all;
  sigfillset(&all);
  if (sigprocmask(SIG_SETMASK, &all, nullptr) != 0) FailSetup(report, Stage::kKeeper, errno);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  int sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sigfd < 0) FailSetup(report, Stage::kKeeper, errno);
  // Orphans of the tree come back here instead of init. Not dumpable: a same-uid action cannot
  // ptrace it or write its memory through /proc.
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    FailSetup(report, Stage::kKeeper, errno);
  }

  // Only the execution's descriptors survive (the node's sockets, other executions' pipes...).
  int keep[32];
  int n = 0;
  for (int fd : {plan.control_fd, plan.report_fd, plan.cgroup_kill_fd, plan.stdin_fd,
                 plan.stdout_fd, plan.stderr_fd, sigfd}) {
    if (fd >= 0) keep[n++] = fd;
  }
  for (int fd : plan.cgroup_procs_fds) {
    if (n < 32) keep[n++] = fd;
  }
  if (!CloseAllExcept(keep, n)) FailSetup(report, Stage::kKeeper, errno);
  g_keeper.control = plan.control_fd;
  SetUpNamespaces(plan, report);

  int notify_pair[2] = {-1, -1};
  if (plan.notify_program.len > 0 && plan.notif_size <= sizeof(g_notif) &&
      plan.notif_resp_size <= sizeof(g_resp)) {
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, notify_pair) != 0) {
      FailSetup(report, Stage::kKeeper, errno);
    }
  }

  // The action child shares the keeper's memory until it execs (CLONE_VM|CLONE_VFORK, what
  // posix_spawn does): no page tables to copy, and the keeper sleeps meanwhile, so nothing else
  // touches that memory. It runs on its own stack; descriptors, credentials, limits, signal
  // dispositions and seccomp filters are its own (no CLONE_FILES/CLONE_FS/CLONE_SIGHAND/
  // CLONE_THREAD). Everything it does before exec must not wait for the keeper.
  g_action_args = ActionArgs{&plan, notify_pair[1], sigfd, notify_pair[0]};
  pid_t pid = clone(ActionChildEntry, g_action_stack + sizeof(g_action_stack),
                    CLONE_VM | CLONE_VFORK | SIGCHLD, &g_action_args);
  if (pid < 0) FailSetup(report, Stage::kFork, errno);
  g_keeper.main_pid = pid;
  for (int fd : {plan.stdin_fd, plan.stdout_fd, plan.stderr_fd, notify_pair[1]}) {
    if (fd >= 0) close(fd);
  }
  for (int fd : plan.cgroup_procs_fds) close(fd);
  // clone() with CLONE_VFORK returns once the child has exec'd or died: the listener, if any, is
  // already queued (or the socket is at EOF). Take it now, before anything can depend on it.
  g_keeper.notify_socket = notify_pair[0];
  if (g_keeper.notify_socket >= 0) ReceiveListener();

  Record started;
  started.type = RecordType::kStarted;
  started.main_pid = pid;
  SendRecord(report, started);

  g_keeper.final.type = RecordType::kFinal;
  g_keeper.final.main_pid = pid;
  for (;;) {
    if (g_keeper.killing) SignalTree(SIGKILL);
    if (ReapAll() && g_keeper.final.main_reaped) break;

    pollfd fds[3];
    int count = 0;
    int control_i = -1, listener_i = -1;
    fds[count++] = pollfd{sigfd, POLLIN, 0};
    if (g_keeper.control >= 0) {
      control_i = count;
      fds[count++] = pollfd{g_keeper.control, POLLIN, 0};
    }
    if (g_keeper.listener >= 0) {
      listener_i = count;
      fds[count++] = pollfd{g_keeper.listener, POLLIN, 0};
    }
    // While killing, poll briefly: re-parented orphans and children that exit without SIGCHLD
    // (clone with no exit signal) are picked up on the next pass.
    int ready = poll(fds, static_cast<nfds_t>(count), g_keeper.killing ? 10 : -1);
    if (ready <= 0) continue;
    if (fds[0].revents != 0) {
      signalfd_siginfo info;
      while (read(sigfd, &info, sizeof(info)) == sizeof(info)) {
      }
    }
    if (listener_i >= 0 && fds[listener_i].revents != 0) {
      if (fds[listener_i].revents & POLLIN) {
        HandleNotification();
      } else {  // POLLHUP: no process uses the filter any more
        close(g_keeper.listener);
        g_keeper.listener = -1;
      }
    }
    if (control_i >= 0 && fds[control_i].revents != 0) HandleControl();
  }

  SendRecord(report, g_keeper.final);
  _exit(0);
}

}  // namespace gale::sandbox::internal

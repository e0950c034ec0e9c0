// The spawner (spawner.h). Single-threaded: it forks keepers, so it must never hold a lock another
// thread could own, and it stays small so that each fork copies little.
#include "sandbox/spawner.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace gale::sandbox::internal {

namespace {

constexpr std::uint32_t kNamespaceFlags =
    CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS;

struct LiveKeeper {
  pid_t pid;
  int report_fd;  // held until the keeper is reaped: EOF for the node means "reaped"
  int mount_ns;   // the execution's mount namespace, or -1 (see Spawn)
};

struct SpawnerState {
  int socket = -1;
  int sigfd = -1;
  rlimit node_nofile{};  // restored in each keeper: the action inherits the node's, not ours
  std::vector<LiveKeeper> live;
  std::vector<int> idle_closes;  // closed when no request is waiting
  std::vector<char> buffer = std::vector<char>(sizeof(SpawnerRequest) + kMaxInlinePlan);
};

void Send(int fd, const Record& record) {
  const char* p = reinterpret_cast<const char*>(&record);
  std::size_t left = sizeof(record);
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the node closed its end: nobody to tell
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

void CloseAll(const int* fds, int count, int except = -1) {
  for (int i = 0; i < count; ++i) {
    if (fds[i] != except) close(fds[i]);
  }
}

void ReapKeepers(SpawnerState& s) {
  for (;;) {
    int status = 0;
    rusage usage{};
    pid_t pid = wait4(-1, &status, WNOHANG | __WALL, &usage);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) return;
    for (std::size_t i = 0; i < s.live.size(); ++i) {
      if (s.live[i].pid != pid) continue;
      Record r;
      r.type = RecordType::kKeeperExit;
      r.keeper_pid = pid;
      r.keeper_status = status;
      r.cpu_user_us = usage.ru_utime.tv_sec * 1000000LL + usage.ru_utime.tv_usec;
      r.cpu_system_us = usage.ru_stime.tv_sec * 1000000LL + usage.ru_stime.tv_usec;
      r.max_rss_kib = usage.ru_maxrss;
      Send(s.live[i].report_fd, r);
      close(s.live[i].report_fd);
      if (s.live[i].mount_ns >= 0) s.idle_closes.push_back(s.live[i].mount_ns);
      s.live[i] = s.live.back();
      s.live.pop_back();
      break;
    }
  }
}

void Spawn(SpawnerState& s, const SpawnerRequest& header, std::string_view inline_plan, int* fds,
           int count) {
  std::string from_memfd;
  std::string_view bytes = inline_plan;
  if ((header.flags & kPlanInMemfd) != 0) {
    if (count < 1 || !ReadPlanFile(fds[count - 1], from_memfd)) return CloseAll(fds, count);
    close(fds[--count]);
    bytes = from_memfd;
  }
  // Fresh storage per request: the keeper keeps using its copy after fork.
  auto decoded = std::make_unique<DecodedPlan>();
  ChildPlan& plan = decoded->plan;
  if (!DecodePlan(bytes, *decoded) || !ResolvePlanFds(plan, fds, count)) {
    // Without a plan there is no report pipe to answer on: closing everything is the answer
    // (the node sees EOF before any kSpawned).
    return CloseAll(fds, count);
  }
  if ((plan.namespaces & ~kNamespaceFlags) != 0) return CloseAll(fds, count);

  pid_t pid = static_cast<pid_t>(syscall(SYS_clone, plan.namespaces | SIGCHLD, 0, 0, 0, 0));
  if (pid == 0) {
    setrlimit(RLIMIT_NOFILE, &s.node_nofile);
    close(s.socket);
    close(s.sigfd);
    KeeperMain(plan);  // closes every other descriptor of ours first
  }
  if (pid < 0) {
    Record r;
    r.type = RecordType::kSpawnFailed;
    r.stage = plan.namespaces != 0 ? Stage::kNamespaces : Stage::kFork;
    r.error = errno;
    Send(plan.report_fd, r);
    return CloseAll(fds, count);
  }
  Record r;
  r.type = RecordType::kSpawned;
  r.keeper_pid = pid;
  Send(plan.report_fd, r);
  // Tearing a mount namespace down (unmounting every copied mount and the execution's /proc)
  // happens where its last reference goes: in the exiting keeper, between its last report and
  // the reap the node waits for. Holding a reference here moves that work after the node has
  // its outcome. Nobody can enter it: the descriptor never leaves this process.
  int mount_ns = -1;
  if ((plan.namespaces & CLONE_NEWNS) != 0) {
    char path[64];
    std::snprintf(path, sizeof(path), "/proc/%d/ns/mnt", static_cast<int>(pid));
    mount_ns = open(path, O_RDONLY | O_CLOEXEC);
  }
  s.live.push_back({pid, plan.report_fd, mount_ns});
  CloseAll(fds, count, plan.report_fd);
}

// One request; false when the node is gone.
bool HandleRequest(SpawnerState& s) {
  iovec iov{s.buffer.data(), s.buffer.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxRequestFds)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n = recvmsg(s.socket, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  if (n == 0) return false;
  int fds[kMaxRequestFds];
  int count = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int in_this = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < in_this && count < kMaxRequestFds; ++i) {
      std::memcpy(&fds[count++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
  }
  SpawnerRequest header;
  if (static_cast<std::size_t>(n) < sizeof(header) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
    CloseAll(fds, count);
    return true;
  }
  std::memcpy(&header, s.buffer.data(), sizeof(header));
  std::string_view rest(s.buffer.data() + sizeof(header),
                        static_cast<std::size_t>(n) - sizeof(header));
  if (header.magic != kSpawnerMagic || rest.size() != header.plan_size) {
    CloseAll(fds, count);
    return true;
  }
  if (header.op == SpawnerOp::kKillKeeper) {
    CloseAll(fds, count);
    for (const auto& k : s.live) {
      // Only an unreaped child of ours: its pid cannot have been recycled.
      if (k.pid == header.keeper_pid) kill(k.pid, SIGKILL);
    }
    return true;
  }
  if (header.op == SpawnerOp::kSpawn) {
    Spawn(s, header, rest, fds, count);
  } else {
    CloseAll(fds, count);
  }
  return true;
}

}  // namespace

bool ResolvePlanFds(ChildPlan& plan, const int* fds, int count) {
  auto resolve = [&](int& fd) {
    if (fd < 0) return true;
    if (fd >= count) return false;
    fd = fds[fd];
    return true;
  };
  for (int* fd : {&plan.control_fd, &plan.report_fd, &plan.cgroup_kill_fd, &plan.stdin_fd,
                  &plan.stdout_fd, &plan.stderr_fd}) {
    if (!resolve(*fd)) return false;
  }
  for (int& fd : plan.cgroup_procs_fds) {
    if (!resolve(fd)) return false;
  }
  return plan.report_fd >= 0 && plan.control_fd >= 0;
}

void SpawnerMain(int socket_fd) {
  static SpawnerState s;
  s.socket = socket_fd;
  // Own session (terminal signals for the node's group never reach it), every signal blocked
  // (a closed report pipe gives EPIPE, not death), SIGCHLD read from a signalfd.
  setsid();
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  s.sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  if (s.sigfd < 0) _exit(1);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (ResetSignalDispositions() == 0) AssumeDefaultDispositions();
  // It holds one report pipe per running execution.
  getrlimit(RLIMIT_NOFILE, &s.node_nofile);
  rlimit raised = s.node_nofile;
  raised.rlim_cur = raised.rlim_max;
  setrlimit(RLIMIT_NOFILE, &raised);

  for (;;) {
    pollfd p[2] = {{s.socket, POLLIN, 0}, {s.sigfd, POLLIN, 0}};
    int ready = poll(p, 2, s.idle_closes.empty() ? -1 : 0);
    if (ready == 0) {  // nothing waiting: release finished namespaces now
      for (int fd : s.idle_closes) close(fd);
      s.idle_closes.clear();
      continue;
    }
    if (ready < 0) continue;
    if (p[1].revents != 0) {
      signalfd_siginfo info;
      while (read(s.sigfd, &info, sizeof(info)) == sizeof(info)) {
      }
      ReapKeepers(s);
    }
    if (p[0].revents != 0 && !HandleRequest(s)) break;
  }
  // The node is gone. Keepers still running see their control sockets close and end their trees.
  _exit(0);
}

}  // namespace gale::sandbox::internal

#include "host/common/subprocess.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "host/common/sanitizers.h"
#include "host/common/spawn_child.h"

extern char** environ;

namespace gale {
namespace {

using spawn_internal::ChildFailure;
using spawn_internal::ChildPlan;
using spawn_internal::Step;

std::vector<std::string> ChildEnv(const SpawnOptions& options) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    std::string name = entry.substr(0, entry.find('='));
    if (options.env_allow && !EnvNameAllowed(name, *options.env_allow)) continue;
    bool replaced = false;
    for (const auto& x : options.env_extra) replaced |= x.substr(0, x.find('=')) == name;
    if (!replaced) env.push_back(entry);
  }
  env.insert(env.end(), options.env_extra.begin(), options.env_extra.end());
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> p;
  for (auto& s : strings) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

// The kernel's highest capability number (newer than this build's headers, perhaps).
int LastCapability() {
  int last = -1;
  std::ifstream("/proc/sys/kernel/cap_last_cap") >> last;
  return last >= 0 ? last : CAP_LAST_CAP;
}

// fork(), or a clone() that is fork() in new PID, mount and IPC namespaces (no glibc wrapper
// creates namespaces with fork semantics). Returns the child's pid in this namespace.
pid_t ForkChild(bool new_namespaces) {
  if (!new_namespaces) return fork();
  return static_cast<pid_t>(
      syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | SIGCHLD, 0, 0, 0, 0));
}

// What the child reported before exec, if anything (EOF: exec succeeded).
std::optional<ChildFailure> ReadFailure(int fd) {
  ChildFailure failure;
  ssize_t n;
  do {
    n = read(fd, &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  if (n == sizeof failure) return failure;
  return std::nullopt;
}

}  // namespace

std::vector<std::string> HelperEnvAllowList() {
  return {"PATH", "LANG",         "LANGUAGE",      "LC_*",
          "TZ",   "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
}

bool EnvNameAllowed(const std::string& name, const std::vector<std::string>& allow) {
  for (const auto& a : allow) {
    if (!a.empty() && a.back() == '*') {
      if (name.compare(0, a.size() - 1, a, 0, a.size() - 1) == 0) return true;
    } else if (name == a) {
      return true;
    }
  }
  return false;
}

Result<pid_t> Spawn(const std::vector<std::string>& argv_in, const SpawnOptions& options) {
  if (argv_in.empty()) return Status::Error("spawn: empty command");
  const std::string& program = argv_in[0];
  if ((options.drop_to || options.new_namespaces) && geteuid() != 0) {
    return Status::Error("spawn " + program + ": " +
                         (options.drop_to ? "a privilege drop" : "new namespaces") + " needs root");
  }
  // Everything the child needs is prepared before fork.
  std::vector<std::string> argv = argv_in;
  std::vector<std::string> env = ChildEnv(options);
  std::vector<char*> argv_p = Pointers(argv), env_p = Pointers(env);
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    return Status::Error("spawn " + program + ": pipe: " + strerror(errno));
  }
  std::vector<int> scratch(options.keep_fds.size() + 1, -1);
  ChildPlan plan;
  plan.argv = argv_p.data();
  plan.envp = env_p.data();
  plan.report_fd = report[1];
  plan.stdout_fd = options.stdout_fd;
  plan.keep_fds = options.keep_fds.data();
  plan.keep_count = static_cast<int>(options.keep_fds.size());
  plan.scratch = scratch.data();
  plan.scratch_min = std::max({3 + plan.keep_count + 1, report[1] + 1, options.stdout_fd + 1});
  for (int fd : options.keep_fds) plan.scratch_min = std::max(plan.scratch_min, fd + 1);
  plan.new_process_group = options.new_process_group;
  plan.die_with_parent = options.die_with_parent;
  plan.no_new_privs = options.no_new_privs;
  plan.new_namespaces = options.new_namespaces;
#if !defined(GALE_SHADOW_MEMORY_BUILD)
  if (options.address_space_bytes) plan.address_space = *options.address_space_bytes;
#endif
  if (options.drop_to) {
    plan.drop = true;
    plan.uid = options.drop_to->uid;
    plan.gid = options.drop_to->gid;
    plan.cap_last = LastCapability();
  }
  plan.parent = getpid();
  sigemptyset(&plan.mask);
  if (options.new_namespaces) {
    sigaddset(&plan.mask, SIGTERM);
    sigaddset(&plan.mask, SIGINT);
  }

  const pid_t pid = ForkChild(options.new_namespaces);
  if (pid < 0) {
    const int err = errno;
    close(report[0]);
    close(report[1]);
    return Status::Error("spawn " + program + ": " + (options.new_namespaces ? "clone" : "fork") +
                             ": " + strerror(err),
                         true);
  }
  if (pid == 0) spawn_internal::RunChild(plan);
  close(report[1]);
  const std::optional<ChildFailure> failure = ReadFailure(report[0]);
  close(report[0]);
  if (!failure) return pid;
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  const auto step = static_cast<Step>(failure->step);
  if (step == Step::kExec)
    return Status::Error("cannot run " + program + ": " + strerror(failure->err));
  return Status::Error("cannot run " + program + ": " + spawn_internal::StepName(step) + ": " +
                       strerror(failure->err));
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* name = sigabbrev_np(sig);
    return "killed by signal " + std::to_string(sig) + " (SIG" + (name ? name : "?") + ")";
  }
  return "ended with status " + std::to_string(status);
}

Result<Captured> RunCapture(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                            SpawnOptions options) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return Status::Error("pipe: " + std::string(strerror(errno)));
  options.stdout_fd = out[1];
  auto pid = Spawn(argv, options);
  close(out[1]);
  if (!pid.ok()) {
    close(out[0]);
    return pid.status();
  }
  Captured result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[8192];
  bool timed_out = false;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.stdout_text.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  if (timed_out) kill(-*pid, SIGKILL);
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return Status::Error(argv[0] + " did not finish within " + std::to_string(timeout.count()) +
                         " ms");
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace gale

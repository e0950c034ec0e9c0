#include "host/common/spawn_child.h"

#include "host/common/credential_drop.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace gale::spawn_internal {
namespace {

[[noreturn]] void Fail(int report_fd, Step step, int err) {
  ChildFailure failure{static_cast<int>(step), err};
  (void)!write(report_fd, &failure, sizeof failure);
  _exit(127);
}

// close_range(first, ~0U); a loop up to the descriptor limit on kernels without it (< 5.9).
bool CloseFrom(int first) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, first, ~0U, 0) == 0) return true;
#endif
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return false;
  const long max = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1 << 20)
                       ? (1 << 20)
                       : static_cast<long>(rl.rlim_cur);
  for (long fd = first; fd < max; ++fd) close(static_cast<int>(fd));
  return true;
}

// Kept descriptors to 3, 4, ..., the report pipe right after them, everything else closed.
// Every source is first copied above all the numbers involved, so that placing one never
// overwrites another that is still to be placed. Returns the report pipe's new number.
int ArrangeDescriptors(const ChildPlan& plan) {
  int report = plan.report_fd;
  if (plan.stdout_fd >= 0 && dup2(plan.stdout_fd, STDOUT_FILENO) < 0) {
    Fail(report, Step::kDescriptors, errno);
  }
  const int n = plan.keep_count;
  for (int i = 0; i <= n; ++i) {
    const int source = i < n ? plan.keep_fds[i] : report;
    plan.scratch[i] = fcntl(source, F_DUPFD_CLOEXEC, plan.scratch_min);
    if (plan.scratch[i] < 0) Fail(report, Step::kDescriptors, errno);
  }
  report = plan.scratch[n];
  for (int i = 0; i < n; ++i) {
    if (dup2(plan.scratch[i], 3 + i) < 0) Fail(report, Step::kDescriptors, errno);
  }
  if (dup3(plan.scratch[n], 3 + n, O_CLOEXEC) < 0) Fail(report, Step::kDescriptors, errno);
  report = 3 + n;
  if (!CloseFrom(3 + n + 1)) Fail(report, Step::kDescriptors, errno);
  return report;
}

// Own /proc for the new PID namespace; private mounts first, so it never propagates out.
void MountProc(const ChildPlan& plan) {
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    Fail(plan.report_fd, Step::kMountPrivate, errno);
  }
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    Fail(plan.report_fd, Step::kMountProc, errno);
  }
}

// To plan.uid/gid with every capability set empty (host/common/credential_drop.h).
void DropPrivileges(const ChildPlan& plan, int report) {
  const credentials::DropResult r = credentials::DropToUser(plan.uid, plan.gid, plan.cap_last);
  if (r.ok()) return;
  Step step = Step::kVerifyDrop;
  switch (r.step) {
    case credentials::DropStep::kBoundingSet:
      step = Step::kBoundingSet;
      break;
    case credentials::DropStep::kAmbientCaps:
      step = Step::kAmbientCaps;
      break;
    case credentials::DropStep::kSetGroups:
      step = Step::kSetGroups;
      break;
    case credentials::DropStep::kSetGid:
      step = Step::kSetGid;
      break;
    case credentials::DropStep::kSetUid:
      step = Step::kSetUid;
      break;
    case credentials::DropStep::kClearCaps:
      step = Step::kClearCaps;
      break;
    case credentials::DropStep::kVerify:
    case credentials::DropStep::kNone:
      break;
  }
  Fail(report, step, r.error);
}

// PR_SET_PDEATHSIG, set after any credential change (which clears it), then a check that the
// parent did not die before it took effect. Outside a new PID namespace getppid() tells; inside
// it is always 0, so the report pipe tells instead: the parent holds its read end open until
// this process execs, and a pipe without readers polls POLLERR.
void DieWithParent(const ChildPlan& plan, int report) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) {
    Fail(report, Step::kDeathSignal, errno);
  }
  if (plan.new_namespaces) {
    pollfd p{report, POLLOUT, 0};
    if (poll(&p, 1, 0) < 0 || (p.revents & POLLERR) != 0) _exit(127);
  } else if (getppid() != plan.parent) {
    _exit(127);
  }
}

}  // namespace

const char* StepName(Step step) {
  switch (step) {
    case Step::kMountPrivate:
      return "making mounts private";
    case Step::kMountProc:
      return "mounting /proc";
    case Step::kProcessGroup:
      return "setpgid";
    case Step::kDescriptors:
      return "arranging descriptors";
    case Step::kSignals:
      return "signal mask";
    case Step::kNoNewPrivs:
      return "no_new_privs";
    case Step::kBoundingSet:
      return "dropping the capability bounding set";
    case Step::kAmbientCaps:
      return "clearing ambient capabilities";
    case Step::kSetGroups:
      return "setgroups";
    case Step::kSetGid:
      return "setresgid";
    case Step::kSetUid:
      return "setresuid";
    case Step::kClearCaps:
      return "capset";
    case Step::kVerifyDrop:
      return "verifying the privilege drop";
    case Step::kDeathSignal:
      return "PR_SET_PDEATHSIG";
    case Step::kAddressSpace:
      return "setrlimit(RLIMIT_AS)";
    case Step::kExec:
      return "exec";
  }
  return "setup";
}

void RunChild(const ChildPlan& plan) {
  // Mounting needs the privileges dropped below.
  if (plan.new_namespaces) MountProc(plan);
  if (plan.new_process_group && setpgid(0, 0) != 0) {
    Fail(plan.report_fd, Step::kProcessGroup, errno);
  }
  const int report = ArrangeDescriptors(plan);
  if (sigprocmask(SIG_SETMASK, &plan.mask, nullptr) != 0) {
    Fail(report, Step::kSignals, errno);
  }
  if (plan.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    Fail(report, Step::kNoNewPrivs, errno);
  }
  if (plan.drop) {
    DropPrivileges(plan, report);
    // The node's own umask is 077; what a sensor creates (its watched directories) is the usual
    // 022, as for actions.
    umask(022);
  }
  if (plan.die_with_parent) DieWithParent(plan, report);
  if (plan.address_space != RLIM_INFINITY) {
    const rlimit lim{plan.address_space, plan.address_space};
    if (setrlimit(RLIMIT_AS, &lim) != 0) Fail(report, Step::kAddressSpace, errno);
  }
  execve(plan.argv[0], plan.argv, plan.envp);
  Fail(report, Step::kExec, errno);
}

}  // namespace gale::spawn_internal

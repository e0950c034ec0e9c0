#include "sandbox/seccomp_profile.h"

#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <gtest/gtest.h>

namespace gale::sandbox {
namespace {

TEST(SeccompProfile, CompilesEveryProfileInBothModes) {
  for (auto profile :
       {SeccompProfile::kDefault, SeccompProfile::kNoNetwork, SeccompProfile::kStrict}) {
    for (auto action : {ViolationAction::kErrno, ViolationAction::kKill}) {
      auto compiled = GetCompiledProfile(profile, action);
      ASSERT_TRUE(compiled.ok()) << compiled.message();
      EXPECT_FALSE((*compiled)->fallback.empty());
      EXPECT_LT((*compiled)->fallback.insns.size(), 4096u);  // the kernel's BPF limit
      // Cached: the same object every time.
      EXPECT_EQ(*compiled, *GetCompiledProfile(profile, action));
    }
  }
  auto none = GetCompiledProfile(SeccompProfile::kNone, ViolationAction::kErrno);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE((*none)->fallback.empty());
  EXPECT_TRUE((*none)->notify.empty());
}

TEST(SeccompProfile, UserNotificationIsAvailableOnThisKernel) {
  // Not a requirement of the library (it falls back), but the denial reporting tests rely on it.
  auto compiled = GetCompiledProfile(SeccompProfile::kDefault, ViolationAction::kErrno);
  ASSERT_TRUE(compiled.ok());
  EXPECT_FALSE((*compiled)->notify.empty());
  EXPECT_GT((*compiled)->notif_size, 0);
}

TEST(SeccompProfile, ListsWhatTheIssueAsksFor) {
  auto denied = ProfileSyscallNames(SeccompProfile::kDefault);
  for (const char* name : {"ptrace",
                           "process_vm_readv",
                           "process_vm_writev",
                           "mount",
                           "umount2",
                           "pivot_root",
                           "chroot",
                           "kexec_load",
                           "init_module",
                           "finit_module",
                           "bpf",
                           "perf_event_open",
                           "reboot",
                           "swapon",
                           "swapoff",
                           "keyctl",
                           "add_key",
                           "request_key",
                           "userfaultfd",
                           "setns",
                           "unshare",
                           "open_by_handle_at",
                           "iopl",
                           "ioperm",
                           "clock_settime",
                           "settimeofday",
                           "acct"}) {
    EXPECT_NE(std::find(denied.begin(), denied.end(), name), denied.end()) << name;
  }
  auto allowed = ProfileSyscallNames(SeccompProfile::kStrict);
  EXPECT_NE(std::find(allowed.begin(), allowed.end(), "execve"), allowed.end());
  EXPECT_EQ(std::find(allowed.begin(), allowed.end(), "socket"), allowed.end());
}

TEST(SeccompProfile, SyscallNames) {
  EXPECT_EQ(SyscallName(SYS_socket), "socket");
  EXPECT_EQ(SyscallName(SYS_ptrace), "ptrace");
  EXPECT_EQ(SyscallName(99999), "syscall_99999");
}

// Loads a fallback program in a forked child and reports errno of one call through the exit code.
int ErrnoInChild(SeccompProfile profile, long (*call)()) {
  auto compiled = GetCompiledProfile(profile, ViolationAction::kErrno);
  if (!compiled.ok()) return -1;
  sock_fprog prog = (*compiled)->fallback.fprog();
  pid_t pid = fork();
  if (pid == 0) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(200);
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) _exit(201);
    long r = call();
    _exit(r >= 0 ? 0 : errno);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

TEST(SeccompProfile, FallbackProgramsDenyWithEperm) {
  auto inet = [] { return static_cast<long>(socket(AF_INET, SOCK_DGRAM, 0)); };
  auto unix_socket = [] { return static_cast<long>(socket(AF_UNIX, SOCK_DGRAM, 0)); };
  auto unshare_user = [] { return syscall(SYS_unshare, CLONE_NEWUSER); };
  auto getpid_call = [] { return static_cast<long>(getpid()); };
  auto clone3 = [] { return syscall(SYS_clone3, nullptr, 0); };
  EXPECT_EQ(ErrnoInChild(SeccompProfile::kDefault, inet), 0);
  EXPECT_EQ(ErrnoInChild(SeccompProfile::kDefault, unshare_user), EPERM);
  EXPECT_EQ(ErrnoInChild(SeccompProfile::kDefault, clone3), ENOSYS);
  EXPECT_EQ(ErrnoInChild(SeccompProfile::kNoNetwork, inet), EPERM);
  EXPECT_EQ(ErrnoInChild(SeccompProfile::kNoNetwork, unix_socket), 0);
  EXPECT_EQ(ErrnoInChild(SeccompProfile::kStrict, unix_socket), EPERM);
  EXPECT_EQ(ErrnoInChild(SeccompProfile::kStrict, getpid_call), 0);
}

}  // namespace
}  // namespace gale::sandbox

#include "sandbox/seccomp_profile.h"

#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

namespace gale::sandbox {
namespace {

// Denied by `default` and `no-network`, whatever the arguments.
const char* const kDenied[] = {
    // Reading or writing other processes.
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    "process_madvise",
    // Mounts, old and new API; changing root.
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    // Kernel code and the machine.
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "reboot",
    "swapon",
    "swapoff",
    "iopl",
    "ioperm",
    "acct",
    "quotactl",
    "quotactl_fd",
    "lookup_dcookie",
    "vhangup",
    "syslog",
    "uselib",
    // Kernel keyrings.
    "add_key",
    "request_key",
    "keyctl",
    // Page-fault handling from user space (a classic exploitation aid).
    "userfaultfd",
    // Namespaces (clone with CLONE_NEW* is handled below).
    "setns",
    "unshare",
    "sethostname",
    "setdomainname",
    // File handles bypass path permission checks.
    "open_by_handle_at",
    // Setting the clock.
    "clock_settime",
    "clock_adjtime",
    "settimeofday",
    "adjtimex",
    // io_uring runs operations (socket, openat, ...) the filter never sees.
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    // Comparing kernel objects of other processes (pointer leaks, exploit aid).
    "kcmp",
    // File handles: the counterpart of open_by_handle_at, and a source of inode details.
    "name_to_handle_at",
    // NUMA memory policy and page migration: interfere with other processes' memory placement.
    "mbind",
    "move_pages",
    "migrate_pages",
    "set_mempolicy",
    // Watching the whole file system.
    "fanotify_init",
    // Obsolete interfaces with a history of kernel bugs.
    "sysfs",
    "ustat",
};

// Allowed by `strict`, whatever the arguments: enough for /bin/sh -c 'simple command', a
// dynamically linked coreutils binary, pipes and redirections.
const char* const kStrictAllowed[] = {
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "lseek",
    "close",
    "open",
    "openat",
    "stat",
    "fstat",
    "lstat",
    "newfstatat",
    "statx",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "getcwd",
    "getdents64",
    "fcntl",
    "dup",
    "dup2",
    "dup3",
    "pipe",
    "pipe2",
    "mmap",
    "mprotect",
    "munmap",
    "mremap",
    "brk",
    "madvise",
    "arch_prctl",
    "set_tid_address",
    "set_robust_list",
    "rseq",
    "prlimit64",
    "getrlimit",
    "getrandom",
    "futex",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sigaltstack",
    "getpid",
    "getppid",
    "gettid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getgroups",
    "getresuid",
    "getresgid",
    "getpgrp",
    "getpgid",
    "getsid",
    "setpgid",
    "uname",
    "sysinfo",
    "vfork",
    "fork",
    "execve",
    "wait4",
    "waitid",
    "exit",
    "exit_group",
    "tgkill",
    "nanosleep",
    "clock_nanosleep",
    "clock_gettime",
    "clock_getres",
    "gettimeofday",
    "time",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "umask",
    "chdir",
    "fchdir",
    "statfs",
    "fstatfs",
    "fadvise64",
    "sched_yield",
    "sched_getaffinity",
    "getrusage",
    "times",
    "restart_syscall",
};

constexpr std::uint64_t kNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWCGROUP, CLONE_NEWUTS,
                                             CLONE_NEWIPC, CLONE_NEWUSER,   CLONE_NEWPID,
                                             CLONE_NEWNET};
constexpr std::uint64_t kAllNamespaceFlags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS |
                                             CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
                                             CLONE_NEWNET;
constexpr std::uint64_t kLow32 = 0xffffffffULL;

int Resolve(const char* name) {
  return seccomp_syscall_resolve_name(name);
}

// Adds `action` for `name` with the given conditions; syscalls the architecture lacks are skipped.
Status Rule(void* ctx, std::uint32_t action, const char* name,
            std::initializer_list<scmp_arg_cmp> args = {}) {
  int nr = Resolve(name);
  if (nr == __NR_SCMP_ERROR || nr < 0) return Status::Ok();
  int rc = seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(args.size()),
                                  args.size() ? args.begin() : nullptr);
  return Libseccomp(rc, std::string("rule for ") + name);
}

Status AddDenyList(void* ctx, std::uint32_t deny, bool no_network) {
  for (const char* name : kDenied) {
    GALE_TRY(Rule(ctx, deny, name));
  }
  // clone creating namespaces; clone3 hides its flags in memory, so it says ENOSYS and glibc
  // falls back to clone (what container runtimes do). Not reported: it is not an attack.
  for (std::uint64_t flag : kNamespaceFlags) {
    GALE_TRY(Rule(ctx, deny, "clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)}));
  }
  GALE_TRY(Rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3"));
  // Faking terminal input; kill(-1) signals every process the uid may signal.
  for (std::uint64_t req : {std::uint64_t{TIOCSTI}, std::uint64_t{TIOCLINUX}}) {
    GALE_TRY(Rule(ctx, deny, "ioctl", {SCMP_A1(SCMP_CMP_MASKED_EQ, kLow32, req)}));
  }
  GALE_TRY(Rule(ctx, deny, "kill", {SCMP_A0(SCMP_CMP_MASKED_EQ, kLow32, kLow32)}));
  // personality() only to query (0xffffffff) or to ask for PER_LINUX (0): other personalities
  // switch off ASLR (ADDR_NO_RANDOMIZE) or change how the kernel maps memory. libseccomp takes
  // one comparison per argument and rule, so "neither 0 nor all ones" is written as "some bit i
  // is set while bit i+1 (cyclically) is clear": every other 32-bit value has such a pair.
  for (unsigned bit = 0; bit < 32; ++bit) {
    const std::uint64_t set = 1ULL << bit, clear = 1ULL << ((bit + 1) % 32);
    GALE_TRY(Rule(ctx, deny, "personality", {SCMP_A0(SCMP_CMP_MASKED_EQ, set | clear, set)}));
  }
  if (no_network) {
    // Any family but AF_UNIX. A 64-bit comparison: a value that truncates to AF_UNIX but is not
    // exactly AF_UNIX is denied too, never the reverse.
    for (const char* name : {"socket", "socketpair"}) {
      GALE_TRY(Rule(ctx, deny, name, {SCMP_A0(SCMP_CMP_NE, AF_UNIX)}));
    }
  }
  return Status::Ok();
}

Status AddStrictAllowList(void* ctx) {
  for (const char* name : kStrictAllowed) {
    GALE_TRY(Rule(ctx, SCMP_ACT_ALLOW, name));
  }
  // fork-style clone only; clone3 -> ENOSYS (glibc falls back to clone).
  Status st =
      Rule(ctx, SCMP_ACT_ALLOW, "clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, kAllNamespaceFlags, 0)});
  if (!st) return st;
  GALE_TRY(Rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3"));
  // Terminal queries and close-on-exec/non-blocking toggles only.
  for (std::uint64_t req :
       {std::uint64_t{TCGETS}, std::uint64_t{TIOCGWINSZ}, std::uint64_t{TIOCGPGRP},
        std::uint64_t{FIONREAD}, std::uint64_t{FIOCLEX}, std::uint64_t{FIONCLEX},
        std::uint64_t{FIONBIO}}) {
    GALE_TRY(Rule(ctx, SCMP_ACT_ALLOW, "ioctl", {SCMP_A1(SCMP_CMP_MASKED_EQ, kLow32, req)}));
  }
  // Signals to single processes and the own group (0), never to -1 or other groups.
  GALE_TRY(Rule(ctx, SCMP_ACT_ALLOW, "kill", {SCMP_A0(SCMP_CMP_MASKED_EQ, 0x80000000ULL, 0)}));
  // The listener hand-over between loading the filter and execve (child.cpp).
  return Rule(ctx, SCMP_ACT_ALLOW, "sendmsg", {SCMP_A0(SCMP_CMP_EQ, kChildNotifyFd)});
}

Result<SeccompProgram> Export(void* ctx) {
  int fd = memfd_create("gale-seccomp", MFD_CLOEXEC);
  if (fd < 0) return Status::Error(std::string("memfd_create: ") + std::strerror(errno));
  SeccompProgram program;
  Status st = Libseccomp(seccomp_export_bpf(ctx, fd), "export");
  if (st) {
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0 || size % sizeof(sock_filter) != 0 || lseek(fd, 0, SEEK_SET) != 0) {
      st = Status::Error("libseccomp: export produced no program");
    } else {
      program.insns.resize(static_cast<std::size_t>(size) / sizeof(sock_filter));
      if (pread(fd, program.insns.data(), static_cast<std::size_t>(size), 0) != size) {
        st = Status::Error("reading the exported seccomp program failed");
      }
    }
  }
  close(fd);
  if (!st) return st;
  return program;
}

// deny: the action for denied calls. Returns the exported program.
Result<SeccompProgram> Compile(SeccompProfile profile, std::uint32_t deny) {
  bool strict = profile == SeccompProfile::kStrict;
  SeccompCtx ctx(seccomp_init(strict ? deny : SCMP_ACT_ALLOW));
  if (!ctx) return Status::Error("libseccomp: seccomp_init failed");
  // no_new_privs is set by the child itself; the filter must not depend on libseccomp for it.
  GALE_TRY(Libseccomp(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0), "attr nnp"));
  GALE_TRY(Libseccomp(seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS),
                      "attr badarch"));
  // A binary tree over syscall numbers instead of a linear chain. When a filter is loaded the
  // kernel runs it once per syscall number to cache the always-allowed ones, so a chain of ~100
  // comparisons cost ~135 us per execution here; the tree decides in a few steps (and so does
  // every filtered call at run time).
  GALE_TRY(Libseccomp(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2), "attr optimize"));
  GALE_TRY(strict ? AddStrictAllowList(ctx.get())
                  : AddDenyList(ctx.get(), deny, profile == SeccompProfile::kNoNetwork));
  return Export(ctx.get());
}

void QueryNotifSizes(CompiledProfile& out) {
  seccomp_notif_sizes sizes{};
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) return;
  std::uint32_t action = SECCOMP_RET_USER_NOTIF;
  if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) != 0) return;
  out.notif_size = sizes.seccomp_notif;
  out.notif_resp_size = sizes.seccomp_notif_resp;
}

}  // namespace

Result<const CompiledProfile*> GetCompiledProfile(SeccompProfile profile, ViolationAction action) {
  static std::mutex mu;
  static std::map<std::pair<int, int>, std::unique_ptr<CompiledProfile>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto key = std::make_pair(static_cast<int>(profile), static_cast<int>(action));
  if (auto it = cache.find(key); it != cache.end()) return it->second.get();

  auto compiled = std::make_unique<CompiledProfile>();
  compiled->profile = profile;
  compiled->on_violation = action;
  if (profile != SeccompProfile::kNone) {
    std::uint32_t hard =
        action == ViolationAction::kKill ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_ERRNO(EPERM);
    auto fallback = Compile(profile, hard);
    if (!fallback) return fallback.status().WithContext(std::string(ToString(profile)));
    compiled->fallback = std::move(*fallback);
    QueryNotifSizes(*compiled);
    if (compiled->notif_size > 0) {
      // A libseccomp or kernel without SCMP_ACT_NOTIFY fails here: fall back silently.
      auto notify = Compile(profile, SCMP_ACT_NOTIFY);
      if (notify) {
        compiled->notify = std::move(*notify);
      } else {
        compiled->notif_size = compiled->notif_resp_size = 0;
      }
    }
  }
  const CompiledProfile* result = compiled.get();
  cache.emplace(key, std::move(compiled));
  return result;
}

std::vector<std::string> ProfileSyscallNames(SeccompProfile profile) {
  std::vector<std::string> names;
  if (profile == SeccompProfile::kStrict) {
    for (const char* n : kStrictAllowed) names.emplace_back(n);
  } else if (profile != SeccompProfile::kNone) {
    for (const char* n : kDenied) names.emplace_back(n);
  }
  return names;
}

std::string SyscallName(int nr) {
  char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
  if (name == nullptr) return "syscall_" + std::to_string(nr);
  std::string result(name);
  std::free(name);
  return result;
}

void SeccompCtxDeleter::operator()(void* ctx) const {
  seccomp_release(ctx);
}

Status Libseccomp(int rc, const std::string& what) {
  if (rc >= 0) return Status::Ok();
  return Status::Error("libseccomp: " + what + ": " + std::strerror(-rc));
}

}  // namespace gale::sandbox

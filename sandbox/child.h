// The supervisor side of a sandboxed execution: `gale-keeper`, a small static program, and the
// action child it creates. The node starts gale-keeper once as the spawner (spawner.h), which
// forks a keeper for each execution from a ChildPlan the node sends it; the node never forks
// itself: copying a large multi-threaded node for every execution cost more than anything else
// on the execution path, and exec'ing a fresh keeper per execution nearly as much as the bare
// spawn compared against (docs/BENCHMARKS.md). Code that runs in the action child before exec
// shares the keeper's memory (CLONE_VM|CLONE_VFORK), so it only makes async-signal-safe calls
// (raw system calls, no malloc, no locks, no stdio, no exceptions) on data prepared beforehand.
//
// Per execution, below the node's one spawner:
//
//   node (parent, Boost.Asio)            process.cpp
//    └─ spawner gale-keeper --spawner      spawner.cpp, one per node
//        └─ keeper  KeeperMain()           forked (no exec); own session, PR_SET_CHILD_SUBREAPER,
//                                          not dumpable; when the node is root, PID 1 of new
//                                          PID, mount and IPC namespaces (plus network for
//                                          profiles without network), with a /proc of its own
//            └─ action  (created like posix_spawn: CLONE_VM|CLONE_VFORK on its own stack; the
//                        steps below, then execve)
//
// The action child applies the settings in this order (each failure is reported as
// {stage, errno} on the close-on-exec report pipe, then _exit(127)):
//   1. session        setsid(): own session and process group
//   2. cgroup         join the execution's cgroup(s) (write "0" to pre-opened cgroup.procs)
//   3. rlimit         RLIMIT_CPU/AS/NOFILE/NPROC/FSIZE, RLIMIT_CORE = 0
//   4. fds            stdin/stdout/stderr to 0/1/2, report pipe to 3 and notify socket to 4
//                     (both close-on-exec), every other descriptor closed
//   5. signals        empty signal mask, every disposition back to SIG_DFL
//   6. no_new_privs   PR_SET_NO_NEW_PRIVS
//   7. drop_privileges empty the bounding and ambient capability sets, setgroups({gid}),
//                     setresgid, setresuid, then capset() all-zero (only when configured)
//   8. chdir          working directory (after the drop: checked as the target user)
//   9. seccomp        load the filter; with user notification, send the listener over fd 4
//  10. exec           execve over the PATH candidates the parent computed
//
// The keeper is the execution's supervisor: being a child subreaper, every descendant of the
// action that loses its parent (double fork, setsid) is re-parented to it, so the whole tree
// stays reachable through /proc/<pid>/task/<tid>/children and nothing escapes to init. It:
//   - reaps everything (the spawner reaps the keeper; the node never calls waitpid(-1));
//   - answers seccomp user notifications: records the syscall, replies -EPERM (or kills);
//   - on 'T' from the control socket sends SIGTERM to every process of the tree, on 'K' or when
//     the control socket closes (node gone) SIGKILL, repeatedly until none is left;
//   - when the action's main process exits, SIGKILLs what is left of the tree (an execution
//     never leaves processes behind), then reports {status, denials} and exits.
// The spawner's wait4() on the keeper returns the CPU time and max RSS of the whole tree, which
// it reports to the node (kKeeperExit) before closing the report pipe.
#pragma once

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gale::sandbox::internal {

// Where a setup failure happened. Values travel on the wire; only append.
enum class Stage : std::int32_t {
  kNone = 0,
  kKeeper = 1,  // the keeper's own setup (session, signalfd, socketpair)
  kFork = 2,    // the keeper could not fork the action
  kSession = 3,
  kCgroup = 4,
  kRlimit = 5,
  kFds = 6,
  kSignals = 7,
  kNoNewPrivs = 8,
  kDropPrivileges = 9,
  kChdir = 10,
  kSeccomp = 11,
  kSeccompNotify = 12,  // handing the listener to the keeper failed
  kExec = 13,
  kNamespaces = 14,    // the keeper's mounts (/proc) or loopback in its new namespaces
  kCapabilities = 15,  // emptying the action's capability sets
};
std::string_view StageName(Stage stage);

// Fixed-size record on the report pipe (well under PIPE_BUF, so writes are atomic).
inline constexpr std::uint32_t kRecordMagic = 0x454c4147;  // "GALE"
inline constexpr int kMaxDenied = 32;

enum class RecordType : std::uint32_t {
  kSetupError = 1,  // stage, error: the action never ran
  kStarted = 2,     // main_pid: the action child exists
  kNote = 3,        // notify_unavailable: denials will not be itemised
  kFinal = 4,       // the keeper's last word
  // Written by the spawner (spawner.h), not the keeper:
  kSpawned = 5,      // keeper_pid: the keeper exists (before any kKeeperExit)
  kKeeperExit = 6,   // keeper_status and the keeper's rusage (its whole reaped tree)
  kSpawnFailed = 7,  // stage, error: no keeper was created
};

struct Record {
  std::uint32_t magic = kRecordMagic;
  RecordType type = RecordType::kFinal;
  Stage stage = Stage::kNone;
  std::int32_t error = 0;
  std::int32_t main_pid = 0;
  std::int32_t main_status = 0;  // wait status, valid when main_reaped
  std::int32_t main_reaped = 0;
  std::int32_t notify_active = 0;       // the keeper received a listener
  std::int32_t notify_unavailable = 0;  // the child fell back to the EPERM/kill filter
  std::int32_t violation_nr = -1;       // kill mode: the syscall that ended the execution
  std::int32_t leftovers_killed = 0;    // processes still alive when the main process exited
  std::int32_t denied_overflow = 0;     // more distinct denied syscalls than kMaxDenied
  std::int32_t denied_count = 0;
  std::int32_t denied[kMaxDenied] = {};
  // kSpawned, kKeeperExit (the spawner's records).
  std::int32_t keeper_pid = 0;
  std::int32_t keeper_status = 0;  // wait status
  std::int64_t cpu_user_us = 0;
  std::int64_t cpu_system_us = 0;
  std::int64_t max_rss_kib = 0;
};

// Everything the keeper and the action child need. In the node, pointers point into storage owned
// by its Process object; the keeper gets a copy through EncodePlan/DecodePlan.
struct ChildPlan {
  // Keeper side.
  int control_fd = -1;      // SOCK_SEQPACKET: 'T' terminate, 'K' kill, EOF = node gone
  int report_fd = -1;       // write end of the report pipe
  int cgroup_kill_fd = -1;  // cgroup v2 cgroup.kill, or -1
  // Action side.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  std::vector<int> cgroup_procs_fds;
  struct Rlimit {
    int resource;
    rlimit value;
  };
  std::vector<Rlimit> rlimits;
  bool drop_privileges = false;  // also empties every capability set
  uid_t uid = 0;
  gid_t gid = 0;
  // CLONE_NEW* flags the keeper was created with (process.cpp): with CLONE_NEWNS it mounts a
  // /proc of its PID namespace, with CLONE_NEWNET it brings loopback up.
  std::uint32_t namespaces = 0;
  const char* working_dir = nullptr;        // nullptr: inherit
  sock_fprog notify_program{0, nullptr};    // len 0: none
  sock_fprog fallback_program{0, nullptr};  // len 0: no seccomp at all
  std::uint16_t notif_size = 0;
  std::uint16_t notif_resp_size = 0;
  bool kill_on_violation = false;
  std::vector<const char*> exec_paths;  // candidates tried in order
  char* const* argv = nullptr;
  char* const* envp = nullptr;
};

// The plan on the wire, node -> keeper: a fixed-layout byte string, versioned so that a node and a
// keeper from different builds refuse each other instead of misreading.
std::string EncodePlan(const ChildPlan& plan);

// A decoded plan and the storage its pointers point into. Not copyable or movable (the plan
// points into its own members).
struct DecodedPlan {
  DecodedPlan() = default;
  DecodedPlan(const DecodedPlan&) = delete;
  DecodedPlan& operator=(const DecodedPlan&) = delete;

  ChildPlan plan;
  std::string working_dir;
  std::vector<sock_filter> notify_filter;
  std::vector<sock_filter> fallback_filter;
  std::vector<std::string> exec_paths;
  std::vector<std::string> argv;
  std::vector<std::string> envp;
  std::vector<char*> argv_ptrs;
  std::vector<char*> envp_ptrs;
};

// False for bytes EncodePlan of this build did not write (truncated, other version, garbage).
bool DecodePlan(std::string_view bytes, DecodedPlan& out);

// The whole of a plan's file (a sealed memfd) into `bytes`, for DecodePlan; a file larger than
// any execution's argv and environment can be (64 MiB) is refused. False with errno on failure.
bool ReadPlanFile(int fd, std::string& bytes);

// Every signal disposition back to SIG_DFL; 0 or an errno. The spawner does it once at start
// and then calls AssumeDefaultDispositions(): the keepers it forks, and their actions, inherit
// default dispositions, so the action skips the 64 calls.
int ResetSignalDispositions();
void AssumeDefaultDispositions();

// Reports {stage, error} on the report pipe and exits 127.
[[noreturn]] void FailSetup(int report_fd, Stage stage, int error);

// The keeper's body; never returns.
[[noreturn]] void KeeperMain(const ChildPlan& plan);

}  // namespace gale::sandbox::internal

// How a sandboxed execution ended (folly::ProcessReturnCode's idea, plus what a runner records):
// a value type, delivered once to Process's completion handler.
//
// The kinds are exclusive and answer "whose fault, and what to record":
//   kNotStarted        the sandbox could not be set up or the program could not be executed
//                      (setup_error: stage + errno). Never confused with the program failing.
//   kExited            the program ran and exited with exit_code (0 = success).
//   kKilled            the program was killed by `signal` (SIGSEGV, SIGXCPU at the CPU limit,
//                      SIGXFSZ at the file size limit, SIGKILL from outside, SIGSYS from a
//                      fallback kill-mode filter...).
//   kTimedOut          the wall-clock timeout fired (TERM, grace, KILL); exit_code/signal say
//                      how the main process finally ended.
//   kCanceled          Process::Cancel() was called (same TERM, grace, KILL sequence).
//   kSeccompViolation  kill mode: a denied system call ended the execution (violation_syscall).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/common/json.h"

namespace gale::sandbox {

enum class OutcomeKind { kNotStarted, kExited, kKilled, kTimedOut, kCanceled, kSeccompViolation };
std::string_view ToString(OutcomeKind kind);  // "not_started", "exited", ...

enum class Stream { kStdout, kStderr };
std::string_view ToString(Stream stream);  // "stdout", "stderr"

struct SetupError {
  std::string stage;   // "exec", "chdir", "drop_privileges", "rlimit", ... (child.h), or a
                       // parent-side step: "settings", "resolve_user", "cgroup", "spawn"
  int error = 0;       // errno
  std::string detail;  // e.g. the program path for "exec"
  // "exec /x/run.sh: Permission denied"
  std::string Message() const;
};

struct StreamCapture {
  std::string data;         // at most Settings::output_cap_bytes
  std::uint64_t bytes = 0;  // everything the program wrote, kept or not
  bool truncated = false;   // bytes > data.size()
};

struct Usage {
  // From wait4() on the execution's supervisor: the whole process tree's CPU time.
  std::int64_t cpu_user_ms = 0;
  std::int64_t cpu_system_ms = 0;
  // ru_maxrss of the tree: the largest process in it (the small supervisor included).
  std::int64_t max_rss_kib = 0;
  std::int64_t wall_ms = 0;
  // pids.peak of the execution's cgroup, when one was used and the kernel has it.
  std::optional<std::int64_t> peak_processes;
};

struct Outcome {
  OutcomeKind kind = OutcomeKind::kNotStarted;
  SetupError setup_error;  // kNotStarted

  // How the main process ended, when known (all kinds but kNotStarted).
  std::optional<int> exit_code;
  int signal = 0;
  bool core_dumped = false;

  std::string violation_syscall;  // kSeccompViolation ("" if the kernel did not say which)
  // Distinct system calls the filter denied (EPERM), in order of first denial. Only itemised
  // with seccomp user notification; see denied_syscalls_known.
  std::vector<std::string> denied_syscalls;
  bool denied_syscalls_known = false;

  StreamCapture out;
  StreamCapture err;
  Usage usage;

  pid_t main_pid = 0;  // the action's main process (gone by now); see pid_namespace
  // The execution ran in a PID namespace of its own: main_pid is a number of that namespace.
  bool pid_namespace = false;
  pid_t keeper_pid = 0;  // its supervisor (gone by now)
  std::string cgroup;    // containment used: "", "v2", "v1-pids", "v2+v1-pids"
  // Processes of the tree still alive when the main process exited (then killed).
  int leftovers_killed = 0;
  // Something went wrong with containment itself (the supervisor died, output pipes stayed open
  // after everything was killed); `note` explains. Never expected; worth an alert.
  bool containment_failed = false;
  std::string note;

  // kExited with code 0.
  bool Succeeded() const { return kind == OutcomeKind::kExited && exit_code == 0; }
  // One line for logs and execution results: "exited with code 3 (denied: socket)",
  // "killed by SIGSEGV", "timed out after 2000 ms (killed by SIGKILL)",
  // "not started: exec /x/run.sh: Permission denied".
  std::string Describe() const;
  // For execution results; output included (invalid UTF-8 replaced by U+FFFD).
  Json ToJson() const;
};

// Output is bytes; JSON needs UTF-8: `bytes` with every invalid sequence replaced by U+FFFD.
std::string ValidUtf8(const std::string& bytes);

// "SIGSEGV"; "signal 77" for unknown numbers.
std::string SignalName(int signal);

}  // namespace gale::sandbox

// Starting Gale's own helper processes (sensor hosts, `gale pack validate`). Not the action
// sandbox (sandbox/ is); but a helper may load other people's code (a sensor host loads a pack's
// library), so a caller can ask for a privilege drop, an empty capability set, no_new_privs,
// an allow-listed environment and new PID/mount/IPC namespaces. Every child gets only
// descriptors 0-2 and the ones it is explicitly given, whoever the caller.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "host/common/result.h"

namespace gale {

struct Credentials {
  uid_t uid = 0;
  gid_t gid = 0;  // the only group: supplementary groups are cleared
};

struct SpawnOptions {
  std::vector<std::string> env_extra;  // "NAME=value" added to (or replacing in) the environment
  // Unset: the child inherits this process's whole environment. Set: only variables whose name
  // matches an entry (exact, or a prefix ending in '*', e.g. "LC_*"), then env_extra.
  std::optional<std::vector<std::string>> env_allow;
  bool die_with_parent = true;    // PR_SET_PDEATHSIG(SIGKILL): no orphans
  bool new_process_group = true;  // signals to the group reach the child's children too
  int stdout_fd = -1;             // dup2'ed onto stdout when >= 0
  // Descriptors the child keeps, renumbered 3, 4, ... in this order. Everything else above 2 is
  // closed in the child (this process's sockets are not all close-on-exec).
  std::vector<int> keep_fds;
  bool no_new_privs = false;  // no privilege gain through setuid binaries or file capabilities
  // Needs root: setgroups/setresgid/setresuid to these, and every capability set emptied
  // (bounding, ambient, inheritable, permitted, effective). Spawn fails when not root.
  std::optional<Credentials> drop_to;
  // Needs root: the child is PID 1 of new PID, mount and IPC namespaces, with its own /proc, so
  // it cannot see or signal other processes. The pid returned is its pid in this namespace.
  // SIGTERM and SIGINT stay blocked across exec: PID 1 of a namespace drops signals with the
  // default action that come from outside, and the program is expected to take them with
  // sigwait (a blocked signal is queued, so a stop sent before it is ready is not lost).
  bool new_namespaces = false;
  // RLIMIT_AS of the child: a bound on its memory for work on untrusted input (`gale pack
  // validate`). Not applied under AddressSanitizer, whose shadow memory it would count.
  std::optional<uint64_t> address_space_bytes;
};

// The variables a helper process may inherit when the caller filters the environment.
std::vector<std::string> HelperEnvAllowList();

// fork (or clone, for new namespaces) + exec of argv[0] (a path). Only async-signal-safe calls
// run between fork and exec, so this is safe from a multi-threaded process. A failure of any
// step in the child comes back as an error naming the step and errno text.
// Whether an environment variable passes an allow-list of exact names and prefixes ending in
// '*' ("LC_*"). Shared by helper processes and the action sandbox.
bool EnvNameAllowed(const std::string& name, const std::vector<std::string>& allow);

Result<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnOptions& options = {});

// How a child ended, as text for logs: "exited with code 3", "killed by signal 11 (SIGSEGV)".
std::string DescribeWaitStatus(int status);

struct Captured {
  int exit_code = -1;  // 128 + signal when killed
  std::string stdout_text;
};
// Runs argv to completion (killing it after `timeout`) and returns its stdout. `options` as for
// Spawn (its stdout_fd is replaced).
Result<Captured> RunCapture(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                            SpawnOptions options = {});

}  // namespace gale

// Per-execution cgroups: optional containment on top of the keeper's process tree.
//
// When writable (root, or a delegated subtree), each execution gets
//   - a cgroup v2 directory under Settings::cgroup_parent or the node's own v2 cgroup:
//     cgroup.kill (atomic SIGKILL of everything in it, kernel >= 5.14), and pids.max /
//     memory.max when those controllers are enabled there;
//   - a cgroup v1 `pids` directory (hybrid hosts, where the pids controller is bound to v1):
//     pids.max, which limits a fork bomb even when the action runs as root.
// The action child joins them right after setsid() by writing "0" to the cgroup.procs
// descriptors opened here; the keeper stays outside (it must survive cgroup.kill).
// Directory names: gale-sbx-<node pid>-<n>. A few are made ahead (Refill), each for one
// execution. Directories left by a dead node are removed on first use; a directory still busy at
// destruction is retried on the next Refill().
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "host/common/result.h"
#include "sandbox/settings.h"

namespace gale::sandbox {

// Where this process could create execution cgroups (empty: not available). Detected once.
struct CgroupSupport {
  std::string v2_dir;
  std::string v1_pids_dir;
};
const CgroupSupport& DetectCgroupSupport();

class ExecutionCgroup {
 public:
  // kOff: nullptr. kAuto: nullptr when nothing is usable. kRequire: an error then. Takes a
  // cgroup made ahead by Refill when there is one (each is used by one execution only).
  static Result<std::unique_ptr<ExecutionCgroup>> Create(const Settings& settings);
  // Makes a few empty cgroups ahead for the next executions (under `cgroup_parent`, or the
  // node's own, and the v1 pids hierarchy), and retries removing busy ones. Called once an
  // execution's outcome is out, off the path to the next start.
  static void Refill(const std::string& cgroup_parent);
  ~ExecutionCgroup();
  ExecutionCgroup(const ExecutionCgroup&) = delete;
  ExecutionCgroup& operator=(const ExecutionCgroup&) = delete;

  // O_WRONLY|O_CLOEXEC descriptors of each cgroup.procs, for the child to write "0" to.
  const std::vector<int>& procs_fds() const { return procs_fds_; }
  // Closes them (the parent does once the supervisor has them).
  void CloseProcsFds();
  // cgroup v2 cgroup.kill, or -1.
  int kill_fd() const { return kill_fd_; }
  // SIGKILL to every process in the cgroups (the parent's fallback if the keeper died).
  void KillAll();
  // pids.peak, if the kernel has it.
  std::optional<std::int64_t> PeakProcesses() const;
  // "v2", "v1-pids" or "v2+v1-pids".
  const std::string& kind() const { return kind_; }
  const std::vector<std::string>& dirs() const { return dirs_; }

 private:
  ExecutionCgroup() = default;
  std::vector<std::string> dirs_;
  std::vector<int> procs_fds_;
  int kill_fd_ = -1;
  std::string kind_;
};

}  // namespace gale::sandbox

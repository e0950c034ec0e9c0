// What a sandboxed execution is allowed to do: one value type, filled from the node's defaults
// (`sandbox:` in gale.yaml) and then narrowed by an action's `sandbox:` block and the caller's
// parameters. The node operator's policy is the ceiling: a pack or a caller can only narrow it
// (a stricter profile, smaller limits, a shorter timeout), never widen it. The one exception is
// the wall-clock timeout, which an action or a caller may lengthen past the node's default
// `timeout`, but never past the node's `max_timeout` (1 h unless configured): no execution is
// unbounded.
//
// Units: durations are std::chrono::milliseconds; sizes are bytes. In YAML/JSON, `timeout`,
// `kill_grace` and `cpu` are seconds (numbers), `memory` is MiB (integer), `file_size_mb` MiB,
// `output_cap_kb` KiB. See docs/security.md for what each setting protects against.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/common/json.h"
#include "host/common/result.h"

namespace gale::sandbox {

// Seccomp filter compiled in the parent, loaded last in the child (see seccomp_profile.h).
enum class SeccompProfile {
  kNone,       // no filter: only for benchmarks and tests; not accepted from configuration
  kDefault,    // deny-list: ptrace, mount, kexec, modules, bpf, reboot, keyctl, namespaces, ...
  kNoNetwork,  // kDefault plus every socket family except AF_UNIX
  kStrict,     // allow-list sufficient for a static shell command
};

// "default", "no-network", "strict". "none" is refused (it is not a sandbox).
Result<SeccompProfile> ParseSeccompProfile(std::string_view name);
std::string_view ToString(SeccompProfile profile);

// What a denied system call does.
enum class ViolationAction {
  kErrno,  // the call fails with EPERM and the program goes on (reported in denied_syscalls)
  kKill,   // the whole execution is killed; outcome kSeccompViolation with the syscall's name
};

// Resource limits. std::nullopt leaves the limit inherited from the node process. Core dumps are
// always off (RLIMIT_CORE 0).
struct Limits {
  // RLIMIT_CPU (soft; SIGXCPU), hard limit one second later (SIGKILL).
  std::optional<std::uint64_t> cpu_seconds = 600;
  // RLIMIT_AS. Crude (counts virtual reservations; breaks ASan-built or JVM programs), but the
  // only memory limit available without a cgroup.
  std::optional<std::uint64_t> address_space_bytes = 4ULL << 30;
  // memory.max of the execution's cgroup v2, when a memory controller is available there.
  std::optional<std::uint64_t> memory_bytes;
  // RLIMIT_NOFILE. At least 16 (the child needs a few descriptors of its own).
  std::optional<std::uint64_t> open_files = 256;
  // RLIMIT_NPROC (counted per real uid: only effective for a non-root uid) and pids.max of the
  // execution's cgroup (per execution, also effective for root) when one is available.
  std::optional<std::uint64_t> processes = 256;
  // RLIMIT_FSIZE (SIGXFSZ).
  std::optional<std::uint64_t> file_size_bytes = 1ULL << 30;
};

enum class CgroupMode {
  kAuto,     // use a cgroup (v2 for cgroup.kill/pids/memory, v1 pids for pids.max) if writable
  kOff,      // never
  kRequire,  // refuse to start an execution without one
};

struct Settings {
  Limits limits;
  SeccompProfile profile = SeccompProfile::kDefault;
  ViolationAction on_violation = ViolationAction::kErrno;

  // Wall-clock timeout from spawn; zero means none (only possible for Settings built in code:
  // configuration and actions always end up with at most `max_timeout`). When it fires: SIGTERM
  // to every process of the execution, `kill_grace` later SIGKILL.
  std::chrono::milliseconds timeout = std::chrono::seconds(600);
  // The longest `timeout` the node allows: its own `timeout` (0 included), an action's block and
  // a caller's `timeout` parameter are all capped to this.
  std::chrono::milliseconds max_timeout = std::chrono::hours(1);
  std::chrono::milliseconds kill_grace = std::chrono::seconds(5);

  // Bytes kept (and passed to the output callback) per stream; the rest is read and counted but
  // dropped, and the stream is marked truncated.
  std::uint64_t output_cap_bytes = 1ULL << 20;

  // Variables copied from the node's environment: exact names, or prefixes ending in '*'.
  std::vector<std::string> env_allow = {"PATH", "LANG", "LANGUAGE", "LC_*", "TZ"};
  // Set explicitly (win over inherited ones).
  std::map<std::string, std::string> env;

  // Empty: the node's working directory.
  std::string working_dir;

  // User and group (names or numeric ids) to drop to; only possible when the node runs as root.
  // Empty user: no drop. Empty group: the user's primary group. Supplementary groups are cleared.
  std::string user;
  std::string group;

  // Each execution in its own PID, mount and IPC namespaces, with its own /proc: it cannot see,
  // signal, trace or read another execution's processes or the node's. Profiles without network
  // (no-network, strict) also get a network namespace holding only loopback. Needs root (the
  // node says at start when it cannot give it); off only in benchmarks measuring its cost.
  bool namespaces = true;

  CgroupMode cgroup = CgroupMode::kAuto;
  // cgroup v2 directory under which execution cgroups are created (a delegated subtree with the
  // pids/memory controllers enabled). Empty: the node's own cgroup.
  std::string cgroup_parent;
};

// Node defaults from the `sandbox:` section of gale.yaml, applied over `base`. Keys: profile,
// on_violation ("errno"|"kill"), timeout (s), max_timeout (s, > 0, default 3600), kill_grace (s),
// memory (MiB), cpu (s), open_files, processes, file_size_mb, output_cap_kb, env_allow (list),
// user, group, cgroup ("auto"|"off"|"require"), cgroup_parent, working_dir. Unknown keys are
// errors. The resulting `timeout` (from the section or from `base`) is capped to `max_timeout`,
// and a `timeout` of 0 ("none") becomes `max_timeout`.
Result<Settings> SettingsFromNodeConfig(const Json& section, const Settings& base = Settings{});

// The stricter of two profiles: strict < no-network < default (< none).
SeccompProfile Stricter(SeccompProfile a, SeccompProfile b);

// An action's `sandbox:` block (schemas/pack/action.json: profile, timeout, memory, cpu,
// network) over the node defaults. Every key only narrows the node's policy:
//   profile  the stricter of the node's profile and this one (`default` on a `no-network` node
//            stays `no-network`);
//   timeout  seconds (> 0) -> Settings::timeout, capped to the node's max_timeout;
//   memory   MiB (>= 1) -> Limits::address_space_bytes and Limits::memory_bytes, each the
//            minimum of the node's value (if any) and this one;
//   cpu      seconds (> 0, rounded up) -> Limits::cpu_seconds, the minimum of node and action;
//   network  false turns `default` into `no-network` (strict and no-network have none already);
//            true never adds a network the node's profile lacks (it only states a need); it is an
//            error only when the block contradicts itself (`{profile: no-network, network: true}`).
// The node's timeout is capped to max_timeout here too (0 becomes max_timeout), for node defaults
// not built by SettingsFromNodeConfig. The block is re-checked here (types, ranges, unknown keys)
// so a caller that skipped schema validation still gets a clear error.
Result<Settings> SettingsFromSandboxBlock(const Json& block, const Settings& node_defaults);

}  // namespace gale::sandbox

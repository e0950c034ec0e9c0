// The spawner: one long-lived, single-threaded gale-keeper process per node (`gale-keeper
// --spawner SOCKET_FD`), started once by the node (process.cpp) and asked over a SOCK_SEQPACKET
// socket to create each execution's keeper. It forks the keeper without exec: an exec of a fresh
// program cost about as much as the whole bare posix_spawn being compared against, and forking
// this small static process copies a few page tables only (docs/BENCHMARKS.md).
//
//   node ──request (plan, descriptors)──> spawner ──fork (CLONE_NEW*)──> keeper ──> action
//        <──kSpawned / kKeeperExit records on the execution's report pipe──┘
//
// The spawner keeps the execution's report pipe open until it has reaped the keeper, then writes
// kKeeperExit (wait status and rusage of the keeper's whole reaped tree) and closes it: EOF on the
// report pipe therefore means the keeper is gone and reaped, as the node's own wait4() meant
// before. The spawner exits when the node's end of the socket closes; the keepers it leaves kill
// their trees when their control sockets close, as before.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sandbox/child.h"

namespace gale::sandbox::internal {

inline constexpr std::uint32_t kSpawnerMagic = 0x53504b47;  // "GKPS"

enum class SpawnerOp : std::uint32_t {
  kSpawn = 1,       // descriptors as SCM_RIGHTS; the plan names them by index into that list
  kKillKeeper = 2,  // SIGKILL to keeper_pid, if it is one of the spawner's unreaped keepers
};

// The plan is not inline: the last descriptor passed is a sealed memfd holding it.
inline constexpr std::uint32_t kPlanInMemfd = 1;
// Plans up to this size travel inline (well under the socket's send buffer).
inline constexpr std::size_t kMaxInlinePlan = 48 * 1024;
// Descriptors one request may pass (the plan's, at most 6 + cgroups + the memfd).
inline constexpr int kMaxRequestFds = 32;

struct SpawnerRequest {
  std::uint32_t magic = kSpawnerMagic;
  SpawnerOp op = SpawnerOp::kSpawn;
  std::uint32_t flags = 0;
  std::int32_t keeper_pid = 0;
  std::uint32_t plan_size = 0;  // inline plan bytes following this header
};

// Replaces each descriptor of `plan` (an index into `fds`) with fds[index]. False when an index is
// out of range.
bool ResolvePlanFds(ChildPlan& plan, const int* fds, int count);

// The spawner's body; returns (exit status 0) when the node closes its end of `socket_fd`.
[[noreturn]] void SpawnerMain(int socket_fd);

}  // namespace gale::sandbox::internal

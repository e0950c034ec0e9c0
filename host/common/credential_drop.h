// Becoming another user with every capability set empty, in a freshly forked child before exec.
// One routine for every child Gale starts: the sandbox's action children (sandbox/child.cpp,
// compiled into the static gale-keeper too) and the node's sensor hosts and helpers
// (host/common/spawn_child.cpp). Async-signal-safe: no allocation, no locks, raw system calls
// (glibc's set*id wrappers would try to reach threads that exist only in the parent).
#pragma once

#include <sys/types.h>

namespace gale::credentials {

// Where a drop failed.
enum class DropStep : int {
  kNone = 0,
  kBoundingSet,  // PR_CAPBSET_DROP
  kAmbientCaps,  // PR_CAP_AMBIENT_CLEAR_ALL
  kSetGroups,
  kSetGid,
  kSetUid,
  kClearCaps,  // capset to empty
  kVerify,     // read back: an id or a capability set is not what was asked
};

struct DropResult {
  DropStep step = DropStep::kNone;
  int error = 0;  // errno of the failed call (EPERM when the read-back disagrees)
  bool ok() const { return step == DropStep::kNone; }
};

// To uid/gid (supplementary groups: gid alone) with the bounding, ambient, effective, permitted
// and inheritable sets empty, then reads every id and set back. The bounding set goes first:
// dropping from it needs CAP_SETPCAP, which the uid change takes away. `cap_last` is the highest
// capability the kernel knows (/proc/sys/kernel/cap_last_cap, read before the fork; a larger
// value is safe, the drop stops where the kernel's list ends).
DropResult DropToUser(uid_t uid, gid_t gid, int cap_last);

// True when this process holds no capability in any set, bounding set included.
bool CapabilitiesEmpty(int cap_last);

}  // namespace gale::credentials

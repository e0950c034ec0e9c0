#include "host/common/credential_drop.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace gale::credentials {
namespace {

DropResult Failed(DropStep step, int error) {
  return DropResult{step, error};
}

}  // namespace

bool CapabilitiesEmpty(int cap_last) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  for (const auto& d : data) {
    if (d.effective != 0 || d.permitted != 0 || d.inheritable != 0) return false;
  }
  for (int cap = 0; cap <= cap_last; ++cap) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) return false;
  }
  return true;  // the ambient set is always within permitted and inheritable: empty too
}

DropResult DropToUser(uid_t uid, gid_t gid, int cap_last) {
  for (int cap = 0; cap <= cap_last; ++cap) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      if (errno == EINVAL) break;  // beyond what this kernel knows
      return Failed(DropStep::kBoundingSet, errno);
    }
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return Failed(DropStep::kAmbientCaps, errno);
  }
  gid_t groups[1] = {gid};
  if (syscall(SYS_setgroups, 1, groups) != 0) return Failed(DropStep::kSetGroups, errno);
  if (syscall(SYS_setresgid, gid, gid, gid) != 0) return Failed(DropStep::kSetGid, errno);
  if (syscall(SYS_setresuid, uid, uid, uid) != 0) return Failed(DropStep::kSetUid, errno);
  // The uid change emptied the effective and permitted sets; the inheritable set survives it.
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct none[2] = {};
  if (syscall(SYS_capset, &header, none) != 0) return Failed(DropStep::kClearCaps, errno);

  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  if (syscall(SYS_getresuid, &ruid, &euid, &suid) != 0 ||
      syscall(SYS_getresgid, &rgid, &egid, &sgid) != 0) {
    return Failed(DropStep::kVerify, errno);
  }
  const bool ids =
      ruid == uid && euid == uid && suid == uid && rgid == gid && egid == gid && sgid == gid;
  if (!ids || !CapabilitiesEmpty(cap_last)) return Failed(DropStep::kVerify, EPERM);
  return {};
}

}  // namespace gale::credentials

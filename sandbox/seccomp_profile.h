// Seccomp profiles, compiled with libseccomp IN THE PARENT and exported as classic BPF, so that
// the forked child (a copy of a multi-threaded process, limited to async-signal-safe calls) only
// has to call seccomp(2) with a ready program (nsjail's approach).
//
// Every profile is compiled twice:
//   notify    denied calls return SECCOMP_RET_USER_NOTIF. The child loads it with
//             SECCOMP_FILTER_FLAG_NEW_LISTENER and hands the listener to its supervisor, which
//             records the syscall number and answers -EPERM (or kills the execution when the
//             settings say kill). This is how Gale knows WHICH call was denied.
//   fallback  denied calls return EPERM directly (or SECCOMP_RET_KILL_PROCESS in kill mode);
//             used when the kernel has no user notification (< 5.0) or the node already runs
//             under a filter with a listener (EBUSY). Denials are then not itemised.
// Calls from a foreign architecture (i386 via int 0x80, x32) kill the process.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "host/common/result.h"
#include "sandbox/settings.h"

namespace gale::sandbox {

// Descriptor numbers in the child at the moment the filter is loaded (child.h sets them up).
// `strict` allows sendmsg only on kChildNotifyFd, which carries the listener to the supervisor.
inline constexpr int kChildReportFd = 3;
inline constexpr int kChildNotifyFd = 4;

struct SeccompProgram {
  std::vector<sock_filter> insns;  // empty: not available
  bool empty() const { return insns.empty(); }
  // Points into `insns`; valid while this object lives and is not modified.
  sock_fprog fprog() const {
    return sock_fprog{static_cast<unsigned short>(insns.size()),
                      const_cast<sock_filter*>(insns.data())};
  }
};

struct CompiledProfile {
  SeccompProfile profile = SeccompProfile::kNone;
  ViolationAction on_violation = ViolationAction::kErrno;
  SeccompProgram notify;
  SeccompProgram fallback;
  // Kernel sizes of struct seccomp_notif / seccomp_notif_resp (SECCOMP_GET_NOTIF_SIZES); zero
  // when user notification is unavailable (then `notify` is empty too).
  std::uint16_t notif_size = 0;
  std::uint16_t notif_resp_size = 0;
};

// The compiled profile, built on first use and cached for the life of the process (thread-safe;
// the pointer stays valid). kNone yields empty programs. Fails only if libseccomp fails.
Result<const CompiledProfile*> GetCompiledProfile(SeccompProfile profile, ViolationAction action);

// Syscall names a deny-list profile denies unconditionally (kDefault, kNoNetwork: the same list;
// kNoNetwork additionally denies socket/socketpair for families other than AF_UNIX), or the names
// `strict` allows unconditionally. For documentation and tests.
std::vector<std::string> ProfileSyscallNames(SeccompProfile profile);

// "socket" for the native architecture's number; "syscall_<nr>" if unknown.
std::string SyscallName(int nr);

// A libseccomp filter context, released when it goes (shared with the sensor-host filter).
struct SeccompCtxDeleter {
  void operator()(void* ctx) const;
};
using SeccompCtx = std::unique_ptr<void, SeccompCtxDeleter>;

// A libseccomp return code (a negative errno on failure) as a Status naming the call.
Status Libseccomp(int rc, const std::string& what);

}  // namespace gale::sandbox

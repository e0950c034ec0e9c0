// The child side of gale::Spawn: what runs between fork (or clone) and exec. Internal to
// subprocess.cpp. Everything here is a plain system call on data prepared by the parent: the
// child of a multi-threaded process may not allocate, lock or use NSS.
#pragma once

#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>

namespace gale::spawn_internal {

// The step that failed, sent to the parent with errno as a ChildFailure on the report pipe.
enum class Step : int {
  kMountPrivate = 1,
  kMountProc,
  kProcessGroup,
  kDescriptors,
  kSignals,
  kNoNewPrivs,
  kBoundingSet,
  kAmbientCaps,
  kSetGroups,
  kSetGid,
  kSetUid,
  kClearCaps,
  kVerifyDrop,
  kDeathSignal,
  kAddressSpace,
  kExec,
};
const char* StepName(Step step);

struct ChildFailure {
  int step = 0;
  int err = 0;
};

struct ChildPlan {
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  int report_fd = -1;  // write end of the report pipe (close-on-exec)
  int stdout_fd = -1;
  const int* keep_fds = nullptr;  // moved to 3, 4, ...
  int keep_count = 0;
  int* scratch = nullptr;  // keep_count + 1 slots, allocated by the parent
  int scratch_min = 0;     // above every descriptor number involved in the shuffle
  bool new_process_group = false;
  bool die_with_parent = false;
  bool no_new_privs = false;
  bool new_namespaces = false;
  bool drop = false;
  uid_t uid = 0;
  gid_t gid = 0;
  int cap_last = 0;  // highest capability number the kernel knows
  pid_t parent = 0;  // this process's parent, to notice it died before PR_SET_PDEATHSIG
  sigset_t mask{};   // the signal mask the program starts with
  rlim_t address_space = RLIM_INFINITY;  // RLIMIT_AS of the program
};

[[noreturn]] void RunChild(const ChildPlan& plan);

}  // namespace gale::spawn_internal

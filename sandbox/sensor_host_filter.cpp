#include "sandbox/sensor_host_filter.h"

#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "sandbox/seccomp_profile.h"

namespace gale::sandbox {
namespace {

const char* const kExtraDenied[] = {"execve", "execveat"};

// A libseccomp call of this filter, its failure named for the sensor host.
Status FilterStep(int rc, const std::string& what) {
  return Libseccomp(rc, what).WithContext("sensor host filter");
}

// The `default` action profile exactly as actions get it (its EPERM variant).
Status LoadDefaultProfile() {
  auto compiled = GetCompiledProfile(SeccompProfile::kDefault, ViolationAction::kErrno);
  if (!compiled) return compiled.status().WithContext("sensor host filter");
  const sock_fprog program = (*compiled)->fallback.fprog();
  const long rc =
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &program);
  if (rc == 0) return Status::Ok();
  if (rc > 0) {
    return Status::Error("sensor host filter: thread " + std::to_string(rc) +
                         " could not take the filter");
  }
  return Status::Error(std::string("sensor host filter: seccomp: ") + std::strerror(errno));
}

// Stacked on the profile: the kernel runs both filters and the strictest answer wins.
Status LoadExecDenial() {
  SeccompCtx ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return Status::Error("sensor host filter: seccomp_init failed");
  Status st = FilterStep(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0), "attr nnp");
  if (st) st = FilterStep(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1), "attr tsync");
  if (st) {
    st = FilterStep(seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS),
                    "attr badarch");
  }
  for (const char* name : kExtraDenied) {
    if (!st) break;
    const int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;
    st = FilterStep(seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EPERM), nr, 0),
                    std::string("rule for ") + name);
  }
  if (!st) return st;
  return FilterStep(seccomp_load(ctx.get()), "load");
}

}  // namespace

std::vector<std::string> SensorHostExtraDenied() {
  return {std::begin(kExtraDenied), std::end(kExtraDenied)};
}

Status LoadSensorHostFilter() {
  // Required to load a filter without CAP_SYS_ADMIN; the supervisor sets it too.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return Status::Error(std::string("sensor host filter: no_new_privs: ") + std::strerror(errno));
  }
  GALE_TRY(LoadDefaultProfile());
  return LoadExecDenial();
}

}  // namespace gale::sandbox

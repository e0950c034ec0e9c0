#include "sandbox/sensor_host_filter.h"

#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
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
// `ctx` is filled with the rules; the caller loads or exports it.
Status BuildExecDenial(SeccompCtx& ctx) {
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
  return st;
}

Status LoadExecDenial() {
  SeccompCtx ctx(seccomp_init(SCMP_ACT_ALLOW));
  GALE_TRY(BuildExecDenial(ctx));
  return FilterStep(seccomp_load(ctx.get()), "load");
}

// The exec denial as classic BPF, read back from libseccomp's export through a memfd.
Result<std::vector<sock_filter>> ExportExecDenial() {
  SeccompCtx ctx(seccomp_init(SCMP_ACT_ALLOW));
  GALE_TRY(BuildExecDenial(ctx));
  const int fd = memfd_create("gale-sensor-filter", MFD_CLOEXEC);
  if (fd < 0) return Status::Error(std::string("sensor host filter: memfd: ") + strerror(errno));
  Status st = FilterStep(seccomp_export_bpf(ctx.get(), fd), "export");
  std::vector<sock_filter> insns;
  const off_t size = lseek(fd, 0, SEEK_END);
  if (st && (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0)) {
    st = Status::Error("sensor host filter: the export produced no program");
  }
  if (st) {
    insns.resize(static_cast<size_t>(size) / sizeof(sock_filter));
    if (pread(fd, insns.data(), static_cast<size_t>(size), 0) != size) {
      st = Status::Error("sensor host filter: cannot read the exported program");
    }
  }
  close(fd);
  if (!st) return st;
  return insns;
}

}  // namespace

std::vector<std::string> SensorHostExtraDenied() {
  return {std::begin(kExtraDenied), std::end(kExtraDenied)};
}

Result<std::vector<std::vector<sock_filter>>> SensorHostFilterPrograms() {
  auto compiled = GetCompiledProfile(SeccompProfile::kDefault, ViolationAction::kErrno);
  if (!compiled) return compiled.status().WithContext("sensor host filter");
  std::vector<std::vector<sock_filter>> programs;
  programs.push_back((*compiled)->fallback.insns);
  GALE_ASSIGN_OR_RETURN(auto exec_denial, ExportExecDenial());
  programs.push_back(std::move(exec_denial));
  return programs;
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

#include "host/runner/finish.h"
#include "host/common/input_limits.h"

namespace gale::runner {
namespace {

using store::ExecStatus;

Json SandboxSummary(const sandbox::Outcome& o) {
  Json s = {{"outcome", std::string(sandbox::ToString(o.kind))},
            {"cpu_user_ms", o.usage.cpu_user_ms},
            {"cpu_system_ms", o.usage.cpu_system_ms},
            {"max_rss_kib", o.usage.max_rss_kib},
            {"wall_ms", o.usage.wall_ms},
            {"stdout_bytes", o.out.bytes},
            {"stderr_bytes", o.err.bytes},
            {"stdout_truncated", o.out.truncated},
            {"stderr_truncated", o.err.truncated}};
  if (o.signal != 0) s["signal"] = sandbox::SignalName(o.signal);
  if (o.denied_syscalls_known) s["denied_syscalls"] = o.denied_syscalls;
  if (!o.violation_syscall.empty()) s["violation_syscall"] = o.violation_syscall;
  if (o.leftovers_killed > 0) s["leftovers_killed"] = o.leftovers_killed;
  if (!o.cgroup.empty()) s["cgroup"] = o.cgroup;
  if (o.containment_failed) s["containment_failed"] = o.note;
  return s;
}

ExecStatus StatusOf(const sandbox::Outcome& o) {
  switch (o.kind) {
    case sandbox::OutcomeKind::kTimedOut:
      return ExecStatus::kTimeout;
    case sandbox::OutcomeKind::kCanceled:
      return ExecStatus::kCanceled;
    case sandbox::OutcomeKind::kExited:
      return o.exit_code == 0 ? ExecStatus::kSucceeded : ExecStatus::kFailed;
    default:
      return ExecStatus::kFailed;
  }
}

}  // namespace

Finish FailedBeforeStart(const std::string& reason) {
  return {ExecStatus::kFailed, Json{{"error", reason}}};
}

Finish FinishFromOutcome(const Launch& launch, const sandbox::Outcome& o) {
  Finish f;
  f.status = StatusOf(o);
  const bool clean_exit = o.kind == sandbox::OutcomeKind::kExited;
  if (!launch.result_on_stdout) {
    f.result = {{"stdout", sandbox::ValidUtf8(o.out.data)},
                {"stderr", sandbox::ValidUtf8(o.err.data)}};
    if (o.exit_code) f.result["return_code"] = *o.exit_code;
    f.result["succeeded"] = f.status == ExecStatus::kSucceeded;
    f.result["failed"] = f.status != ExecStatus::kSucceeded;
    if (!clean_exit || (!o.denied_syscalls.empty() && o.exit_code != 0)) {
      f.result["error"] = o.Describe();
    }
  } else {
    // `gale exec` writes {"status": ..., "result": ...}; without it the child died first.
    // The child's output is the action's doing: bounded before it is parsed.
    Json doc = clean_exit && CheckJsonText(o.out.data).ok()
                   ? Json::parse(o.out.data, nullptr, false)
                   : Json();
    if (doc.is_object() && doc.contains("status") && doc["status"].is_string()) {
      auto status = store::ParseExecStatus(doc["status"].get<std::string>());
      f.status = status && store::IsFinal(*status) ? *status : ExecStatus::kFailed;
      f.result = doc.value("result", Json::object());
      if (!f.result.is_object()) f.result = Json{{"result", f.result}};
    } else {
      f.status = f.status == ExecStatus::kSucceeded ? ExecStatus::kFailed : f.status;
      f.result = {{"error", clean_exit ? "the action wrote no result (" + o.Describe() + ")"
                                       : o.Describe()}};
    }
    f.result["stderr"] = sandbox::ValidUtf8(o.err.data);
  }
  f.result["sandbox"] = SandboxSummary(o);
  return f;
}

}  // namespace gale::runner

#include "host/runner/finish.h"

#include <algorithm>
#include <memory>

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

// python-script: cuts the wrapper's result block (the last DELIM ... DELIM of stdout) out of the
// action's output. A block the action printed itself would need the delimiter, which is random
// per execution; the last one is the wrapper's, written after the action returned.
struct PythonOutput {
  std::string stdout_text;  // the action's own output, block removed
  Json block;               // discarded when there was none (or it did not parse)
};

PythonOutput SplitPythonOutput(const std::string& out, const std::string& delimiter) {
  PythonOutput p{out, Json(Json::value_t::discarded)};
  const size_t close = out.rfind(delimiter);
  if (close == std::string::npos || close < delimiter.size()) return p;
  const size_t open = out.rfind(delimiter, close - delimiter.size());
  if (open == std::string::npos) return p;
  const std::string body = out.substr(open + delimiter.size(), close - open - delimiter.size());
  p.stdout_text = out.substr(0, open) + out.substr(close + delimiter.size());
  // The action's doing: bounded before it is parsed.
  if (CheckJsonText(body).ok()) p.block = Json::parse(body, nullptr, false);
  return p;
}

// StackStorm's python runner result: {result, stdout, stderr, exit_code}, plus `error` and
// `traceback` when run() raised, as StackStorm records a failed action.
Finish PythonFinish(const Launch& launch, const sandbox::Outcome& o) {
  Finish f;
  f.status = StatusOf(o);
  PythonOutput p = SplitPythonOutput(o.out.data, launch.result_delimiter);
  const bool have_block = p.block.is_object();
  f.result = {{"result", have_block ? p.block.value("result", Json()) : Json()},
              {"stdout", sandbox::ValidUtf8(p.stdout_text)},
              {"stderr", sandbox::ValidUtf8(o.err.data)}};
  if (o.exit_code) f.result["exit_code"] = *o.exit_code;
  std::string error;
  if (have_block) {
    if (p.block.contains("error") && p.block["error"].is_string()) {
      error = p.block["error"].get<std::string>();
    }
    if (p.block.contains("traceback") && p.block["traceback"].is_string()) {
      f.result["traceback"] = p.block["traceback"];
    }
    // (False, result): failed, with the result as given.
    if (p.block.value("status", Json()) == Json(false) && f.status == ExecStatus::kSucceeded) {
      f.status = ExecStatus::kFailed;
    }
  } else if (f.status == ExecStatus::kSucceeded) {
    f.status = ExecStatus::kFailed;
    error = o.out.truncated ? "the action's result was lost: its stdout passed the output cap of " +
                                  std::to_string(o.out.data.size()) + " bytes"
                            : "the action wrote no result (" + o.Describe() + ")";
  }
  const bool clean_exit = o.kind == sandbox::OutcomeKind::kExited;
  if (!clean_exit || (!o.denied_syscalls.empty() && o.exit_code != 0)) {
    error = error.empty() ? o.Describe() : error + " (" + o.Describe() + ")";
  } else if (error.empty() && f.status != ExecStatus::kSucceeded && !have_block) {
    error = o.Describe();
  }
  if (!error.empty()) f.result["error"] = error;
  return f;
}

}  // namespace

std::string ResultBlockFilter::Feed(std::string_view chunk) {
  if (delimiters_seen_ >= 2) return std::string(chunk);
  std::string buf = std::move(held_);
  held_.clear();
  buf.append(chunk);
  std::string shown;
  size_t at = 0;
  while (delimiters_seen_ < 2) {
    const size_t found = buf.find(delimiter_, at);
    if (found == std::string::npos) break;
    if (delimiters_seen_ == 0) shown.append(buf, at, found - at);
    ++delimiters_seen_;
    at = found + delimiter_.size();
  }
  if (delimiters_seen_ == 1) {
    held_ = buf.substr(at);  // the block so far
  } else if (delimiters_seen_ == 2) {
    shown.append(buf, at);
  } else {
    // Hold back the longest tail that is a start of the delimiter.
    size_t keep = std::min(buf.size() - at, delimiter_.size() - 1);
    while (keep > 0 && buf.compare(buf.size() - keep, keep, delimiter_, 0, keep) != 0) --keep;
    shown.append(buf, at, buf.size() - at - keep);
    held_ = buf.substr(buf.size() - keep);
  }
  return shown;
}

sandbox::Process::OutputCallback HideResultBlock(const Launch& launch,
                                                 sandbox::Process::OutputCallback inner) {
  if (launch.result_delimiter.empty()) return inner;
  // Shared by the callback's copies; the process calls it on one strand, one chunk at a time.
  auto filter = std::make_shared<ResultBlockFilter>(launch.result_delimiter);
  return [filter, inner = std::move(inner)](sandbox::Stream stream, std::string_view chunk) {
    if (stream != sandbox::Stream::kStdout) return inner(stream, chunk);
    const std::string shown = filter->Feed(chunk);
    if (!shown.empty()) inner(stream, shown);
  };
}

Finish FailedBeforeStart(const std::string& reason) {
  return {ExecStatus::kFailed, Json{{"error", reason}}};
}

Finish FinishFromOutcome(const Launch& launch, const sandbox::Outcome& o) {
  Finish f;
  f.status = StatusOf(o);
  const bool clean_exit = o.kind == sandbox::OutcomeKind::kExited;
  if (!launch.result_delimiter.empty()) {
    f = PythonFinish(launch, o);
  } else if (!launch.result_on_stdout) {
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

#include "sandbox/outcome.h"

#include <signal.h>
#include <string.h>

namespace gale::sandbox {

std::string_view ToString(OutcomeKind kind) {
  switch (kind) {
    case OutcomeKind::kNotStarted:
      return "not_started";
    case OutcomeKind::kExited:
      return "exited";
    case OutcomeKind::kKilled:
      return "killed";
    case OutcomeKind::kTimedOut:
      return "timed_out";
    case OutcomeKind::kCanceled:
      return "canceled";
    case OutcomeKind::kSeccompViolation:
      return "seccomp_violation";
  }
  return "unknown";
}

std::string_view ToString(Stream stream) {
  return stream == Stream::kStdout ? "stdout" : "stderr";
}

std::string SignalName(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  if (abbrev == nullptr) return "signal " + std::to_string(signal);
  return std::string("SIG") + abbrev;
}

std::string SetupError::Message() const {
  std::string m = stage;
  if (!detail.empty()) m += " " + detail;
  if (error != 0) m += std::string(": ") + strerrordesc_np(error);
  return m;
}

namespace {

std::string HowItEnded(const Outcome& o) {
  if (o.exit_code.has_value()) return "exited with code " + std::to_string(*o.exit_code);
  if (o.signal != 0) {
    return "killed by " + SignalName(o.signal) + (o.core_dumped ? " (core dumped)" : "");
  }
  return "ended";
}

}  // namespace

std::string ValidUtf8(const std::string& in) {
  std::string out;
  out.reserve(in.size());
  std::size_t i = 0;
  while (i < in.size()) {
    auto c = static_cast<unsigned char>(in[i]);
    std::size_t len = c < 0x80           ? 1
                      : (c >> 5) == 0x6  ? 2
                      : (c >> 4) == 0xe  ? 3
                      : (c >> 3) == 0x1e ? 4
                                         : 0;
    bool ok = len > 0 && i + len <= in.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(in[i + k]) >> 6) == 0x2;
    }
    if (ok && len > 1) {
      // Overlong forms, surrogates and values above U+10FFFF.
      std::uint32_t cp = c & (0xff >> (len + 1));
      for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (in[i + k] & 0x3f);
      static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[len] && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
    }
    if (ok) {
      out.append(in, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

namespace {

std::string Join(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return s;
}

}  // namespace

std::string Outcome::Describe() const {
  std::string d;
  switch (kind) {
    case OutcomeKind::kNotStarted:
      return "not started: " + setup_error.Message();
    case OutcomeKind::kExited:
    case OutcomeKind::kKilled:
      d = HowItEnded(*this);
      break;
    case OutcomeKind::kTimedOut:
      d = "timed out after " + std::to_string(usage.wall_ms) + " ms (" + HowItEnded(*this) + ")";
      break;
    case OutcomeKind::kCanceled:
      d = "canceled (" + HowItEnded(*this) + ")";
      break;
    case OutcomeKind::kSeccompViolation:
      d = "killed by the sandbox: system call " +
          (violation_syscall.empty() ? std::string("(unknown)") : violation_syscall) +
          " is not allowed";
      break;
  }
  // What was denied matters when the action failed: it is probably why.
  if (!Succeeded() && !denied_syscalls.empty() && kind != OutcomeKind::kSeccompViolation) {
    d += " (denied: " + Join(denied_syscalls) + ")";
  }
  if (out.truncated || err.truncated) d += " (output truncated)";
  if (containment_failed) {
    d += " (containment failed: " + note + ")";
  } else if (!note.empty()) {
    d += " (" + note + ")";
  }
  return d;
}

Json Outcome::ToJson() const {
  Json j = {{"kind", std::string(ToString(kind))}, {"description", Describe()}};
  if (kind == OutcomeKind::kNotStarted) {
    j["setup_error"] = {{"stage", setup_error.stage},
                        {"errno", setup_error.error},
                        {"message", setup_error.Message()}};
  }
  if (exit_code.has_value()) j["exit_code"] = *exit_code;
  if (signal != 0) j["signal"] = SignalName(signal);
  if (!violation_syscall.empty()) j["violation_syscall"] = violation_syscall;
  if (denied_syscalls_known || !denied_syscalls.empty()) j["denied_syscalls"] = denied_syscalls;
  for (const auto& [name, s] :
       {std::pair<const char*, const StreamCapture*>{"stdout", &out}, {"stderr", &err}}) {
    j[name] = ValidUtf8(s->data);
    j[std::string(name) + "_bytes"] = s->bytes;
    j[std::string(name) + "_truncated"] = s->truncated;
  }
  j["usage"] = {{"cpu_user_ms", usage.cpu_user_ms},
                {"cpu_system_ms", usage.cpu_system_ms},
                {"max_rss_kib", usage.max_rss_kib},
                {"wall_ms", usage.wall_ms}};
  if (usage.peak_processes) j["usage"]["peak_processes"] = *usage.peak_processes;
  if (leftovers_killed > 0) j["leftovers_killed"] = leftovers_killed;
  if (containment_failed) j["containment_failed"] = true;
  if (!note.empty()) j["note"] = note;
  return j;
}

}  // namespace gale::sandbox

// Names of the record enums and the input checks both backends share.
#include <array>
#include <charconv>
#include <chrono>

#include "host/common/hex.h"
#include "host/store/internal.h"
#include "host/store/store.h"

namespace gale::store {

TimeMs NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {
constexpr std::array<std::pair<ExecStatus, std::string_view>, 13> kExecStatusNames{{
    {ExecStatus::kRequested, "requested"},
    {ExecStatus::kScheduled, "scheduled"},
    {ExecStatus::kDelayed, "delayed"},
    {ExecStatus::kRunning, "running"},
    {ExecStatus::kSucceeded, "succeeded"},
    {ExecStatus::kFailed, "failed"},
    {ExecStatus::kTimeout, "timeout"},
    {ExecStatus::kAbandoned, "abandoned"},
    {ExecStatus::kCanceling, "canceling"},
    {ExecStatus::kCanceled, "canceled"},
    {ExecStatus::kPausing, "pausing"},
    {ExecStatus::kPaused, "paused"},
    {ExecStatus::kResuming, "resuming"},
}};
constexpr std::array<std::pair<TriggerStatus, std::string_view>, 4> kTriggerStatusNames{{
    {TriggerStatus::kPending, "pending"},
    {TriggerStatus::kProcessing, "processing"},
    {TriggerStatus::kProcessed, "processed"},
    {TriggerStatus::kProcessingFailed, "processing_failed"},
}};
}  // namespace

std::string_view ToString(ExecStatus status) {
  for (const auto& [s, name] : kExecStatusNames) {
    if (s == status) return name;
  }
  return "unknown";
}

std::optional<ExecStatus> ParseExecStatus(std::string_view text) {
  for (const auto& [s, name] : kExecStatusNames) {
    if (name == text) return s;
  }
  return std::nullopt;
}

bool IsFinal(ExecStatus status) {
  switch (status) {
    case ExecStatus::kSucceeded:
    case ExecStatus::kFailed:
    case ExecStatus::kTimeout:
    case ExecStatus::kAbandoned:
    case ExecStatus::kCanceled:
      return true;
    default:
      return false;
  }
}

std::string_view ToString(TriggerStatus status) {
  for (const auto& [s, name] : kTriggerStatusNames) {
    if (s == status) return name;
  }
  return "unknown";
}

std::optional<TriggerStatus> ParseTriggerStatus(std::string_view text) {
  for (const auto& [s, name] : kTriggerStatusNames) {
    if (name == text) return s;
  }
  return std::nullopt;
}

std::string_view ToString(KeyScope scope) {
  switch (scope) {
    case KeyScope::kUser:
      return "user";
    case KeyScope::kGale:
      return "gale";
    case KeyScope::kSystem:
      break;
  }
  return "system";
}

std::optional<KeyScope> ParseKeyScope(std::string_view text) {
  if (text == "system") return KeyScope::kSystem;
  if (text == "user") return KeyScope::kUser;
  if (text == "gale") return KeyScope::kGale;
  return std::nullopt;
}

namespace internal {

std::string DumpJson(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Json ParseJson(std::string_view text) {
  Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return Json();
  return parsed;
}

std::string Hex(std::string_view bytes) {
  return HexEncode(bytes);
}

std::string Unhex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return 0;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  }
  return out;
}

std::optional<std::string> PrefixUpperBound(std::string_view prefix) {
  std::string upper(prefix);
  while (!upper.empty() && static_cast<unsigned char>(upper.back()) == 0xff) upper.pop_back();
  if (upper.empty()) return std::nullopt;
  upper.back() = static_cast<char>(static_cast<unsigned char>(upper.back()) + 1);
  return upper;
}

std::string EncodeCursor(TimeMs time, const std::string& id) {
  return std::to_string(time) + ":" + id;
}

std::optional<std::pair<TimeMs, std::string>> DecodeCursor(const std::string& cursor) {
  size_t colon = cursor.find(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  TimeMs time = 0;
  auto [ptr, ec] = std::from_chars(cursor.data(), cursor.data() + colon, time);
  if (ec != std::errc() || ptr != cursor.data() + colon) return std::nullopt;
  return std::make_pair(time, cursor.substr(colon + 1));
}

size_t ClampLimit(size_t limit) {
  if (limit == 0) return 100;
  return limit > kMaxPageSize ? kMaxPageSize : limit;
}

Status CheckId(std::string_view what, const std::string& id) {
  if (id.empty()) return Status::Error(std::string(what) + " is empty");
  if (id.size() > 1024) {
    return Status::Error(std::string(what) + " is " + std::to_string(id.size()) +
                         " bytes, more than the 1024 allowed");
  }
  return Status::Ok();
}

Status CheckExecution(const Execution& execution) {
  GALE_TRY(CheckId("execution id", execution.id));
  if (execution.action.empty()) {
    return Status::Error("execution " + execution.id + " has no action");
  }
  return Status::Ok();
}

Status CheckTriggerInstance(const TriggerInstance& instance) {
  GALE_TRY(CheckId("trigger instance id", instance.id));
  if (instance.trigger.empty()) {
    return Status::Error("trigger instance " + instance.id + " has no trigger");
  }
  return Status::Ok();
}

Status CheckKeyName(const std::string& name) {
  if (name.empty()) return Status::Error("datastore key name is empty");
  if (name.size() > kMaxKeyNameBytes) {
    return Status::Error("datastore key name is " + std::to_string(name.size()) +
                         " bytes, more than the " + std::to_string(kMaxKeyNameBytes) + " allowed");
  }
  return Status::Ok();
}

Status CheckKeyValue(const KeyValue& kv) {
  GALE_TRY(CheckKeyName(kv.name));
  if (kv.value.size() > kMaxKeyValueBytes) {
    return Status::Error("value of datastore key '" + kv.name.substr(0, 64) + "' is " +
                         std::to_string(kv.value.size()) + " bytes, more than the " +
                         std::to_string(kMaxKeyValueBytes) + " (4 MiB) allowed");
  }
  if (kv.scope == KeyScope::kUser && kv.user.empty()) {
    return Status::Error("user-scoped datastore key '" + kv.name.substr(0, 64) + "' has no user");
  }
  return Status::Ok();
}

Status CheckTransition(const Transition& transition) {
  GALE_TRY(CheckId("execution id", transition.id));
  if (transition.from.empty()) {
    return Status::Error("transition of execution " + transition.id + " names no from-status");
  }
  return Status::Ok();
}

const std::vector<ExecStatus>& FinalStatuses() {
  static const std::vector<ExecStatus> kFinal{ExecStatus::kSucceeded, ExecStatus::kFailed,
                                              ExecStatus::kTimeout, ExecStatus::kAbandoned,
                                              ExecStatus::kCanceled};
  return kFinal;
}

const std::vector<ExecStatus>& ClaimableStatuses() {
  static const std::vector<ExecStatus> kClaimable{ExecStatus::kRequested, ExecStatus::kScheduled};
  return kClaimable;
}

const std::vector<ExecStatus>& LeasedStatuses() {
  static const std::vector<ExecStatus> kLeased{ExecStatus::kRunning, ExecStatus::kCanceling};
  return kLeased;
}

}  // namespace internal
}  // namespace gale::store

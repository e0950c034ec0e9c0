// Helpers shared by the store backends; not part of the store's interface.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "host/common/json.h"
#include "host/common/result.h"
#include "host/store/store.h"

namespace gale::store::internal {

// JSON as text that always parses back (invalid UTF-8 is replaced, never thrown).
std::string DumpJson(const Json& value);
// Text written by DumpJson; anything unparsable reads as null instead of throwing.
Json ParseJson(std::string_view text);

std::string Hex(std::string_view bytes);
std::string Unhex(std::string_view hex);  // inverse of Hex for its own output

// The smallest byte string greater than every string starting with `prefix`; nullopt when
// there is none (empty prefix or all 0xff bytes).
std::optional<std::string> PrefixUpperBound(std::string_view prefix);

// Paging cursor "<time>:<id>" for newest-first lists.
std::string EncodeCursor(TimeMs time, const std::string& id);
std::optional<std::pair<TimeMs, std::string>> DecodeCursor(const std::string& cursor);

size_t ClampLimit(size_t limit);  // 0 -> default 100, else at most kMaxPageSize

// Input checks shared by both backends; errors are one line and not retryable.
Status CheckExecution(const Execution& execution);
Status CheckTriggerInstance(const TriggerInstance& instance);
Status CheckKeyName(const std::string& name);
Status CheckKeyValue(const KeyValue& kv);
Status CheckId(std::string_view what, const std::string& id);
Status CheckTransition(const Transition& transition);

const std::vector<ExecStatus>& FinalStatuses();
const std::vector<ExecStatus>& ClaimableStatuses();  // requested, scheduled
const std::vector<ExecStatus>& LeasedStatuses();     // running, canceling

// Only user keys have a user.
inline std::string KeyUser(KeyScope scope, const std::string& user) {
  return scope == KeyScope::kUser ? user : std::string();
}

}  // namespace gale::store::internal

// ISO 8601 / RFC 3339 timestamps, as StackStorm's date_utils.parse reads them for timediff_*:
// YYYY-MM-DD or YYYYMMDD, optionally followed by 'T', 't' or ' ' and HH[:MM[:SS[.ffffff]]]
// (or HHMM[SS]), then 'Z' or +HH[:MM] / -HH[:MM]. No offset means UTC. StackStorm falls back to
// dateutil's free-form parser for anything else; Gale does not (such a value does not match).
// Nor does a date system_clock cannot hold (before 1677-09-22 or after 2262-04-10 UTC).
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace gale::expr {

std::optional<std::chrono::system_clock::time_point> ParseIsoDateTime(std::string_view text);

}  // namespace gale::expr

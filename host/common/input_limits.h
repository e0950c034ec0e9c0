// Bounds on untrusted documents (API bodies, webhook payloads, bus messages, action and sensor
// output, pack YAML and JSON): nesting depth, document size, string size. Within them nothing
// that parses, copies or prints a document can exhaust the stack or memory; beyond them the
// input is refused with the limit's name (a 400/413, a dropped message, a pack error).
//
// One process-wide setting (gale.yaml `limits:`, applied at start with SetInputLimits); the
// defaults hold for every process that does not set it (sensor hosts, `gale exec`, the CLI).
#pragma once

#include <cstddef>
#include <string_view>

#include "host/common/json.h"
#include "host/common/result.h"

namespace gale {

struct InputLimits {
  size_t max_depth = 128;                   // arrays and objects inside one another
  size_t max_document_bytes = 1024 * 1024;  // one document's text
  size_t max_string_bytes = 1024 * 1024;    // one string (or key) inside it
};

const InputLimits& CurrentInputLimits();
// Not thread-safe against concurrent parses: call it once, at start.
void SetInputLimits(const InputLimits& limits);

// Checks `text` against the limits in one linear pass (no recursion), before any parser sees
// it. The error names the limit: "nested deeper than 128 levels (limits.max_depth)".
Status CheckJsonText(std::string_view text, const InputLimits& limits = CurrentInputLimits());

// CheckJsonText, then parse. `what` starts the error ("request body: ...").
Result<Json> ParseUntrustedJson(std::string_view text, std::string_view what,
                                const InputLimits& limits = CurrentInputLimits());

// Whether a document built in memory stays within max_depth, checked without recursion.
bool JsonDepthWithin(const Json& doc, size_t max_depth);

}  // namespace gale

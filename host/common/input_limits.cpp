#include "host/common/input_limits.h"

#include <string>
#include <vector>

namespace gale {
namespace {

InputLimits& Limits() {
  static InputLimits limits;
  return limits;
}

}  // namespace

const InputLimits& CurrentInputLimits() {
  return Limits();
}

void SetInputLimits(const InputLimits& limits) {
  Limits() = limits;
}

Status CheckJsonText(std::string_view text, const InputLimits& limits) {
  if (text.size() > limits.max_document_bytes) {
    return Status::Error("document of " + std::to_string(text.size()) + " bytes is larger than " +
                         std::to_string(limits.max_document_bytes) +
                         " (limits.max_document_bytes)");
  }
  size_t depth = 0, string_start = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
        if (i - string_start > limits.max_string_bytes) {
          return Status::Error("a string of " + std::to_string(i - string_start) +
                               " bytes is longer than " + std::to_string(limits.max_string_bytes) +
                               " (limits.max_string_bytes)");
        }
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      string_start = i + 1;
    } else if (c == '[' || c == '{') {
      if (++depth > limits.max_depth) {
        return Status::Error("nested deeper than " + std::to_string(limits.max_depth) +
                             " levels (limits.max_depth)");
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return Status::Ok();
}

Result<Json> ParseUntrustedJson(std::string_view text, std::string_view what,
                                const InputLimits& limits) {
  if (Status s = CheckJsonText(text, limits); !s.ok()) {
    return Status::Error(std::string(what) + ": " + s.message());
  }
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::Error(std::string(what) + ": not valid JSON");
  return doc;
}

bool JsonDepthWithin(const Json& doc, size_t max_depth) {
  // Depth-first with an explicit stack of (value, its depth).
  std::vector<std::pair<const Json*, size_t>> stack{{&doc, 0}};
  while (!stack.empty()) {
    auto [j, d] = stack.back();
    stack.pop_back();
    if (!j->is_structured()) continue;
    if (d + 1 > max_depth) return false;
    for (const auto& child : *j) stack.push_back({&child, d + 1});
  }
  return true;
}

}  // namespace gale

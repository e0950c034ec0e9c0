// Rule criteria (host/rules/criteria.cpp): a criteria mapping, "%%", a trigger payload; the
// datastore answers every key and the clock is fixed, so a run is deterministic.
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "host/common/input_limits.h"
#include "host/rules/criteria.h"
#include "test/fuzz/split_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = gale::fuzz::SplitInput(data, size, 2);
  auto criteria_json = gale::ParseUntrustedJson(parts[0], "criteria");
  if (!criteria_json.ok()) return 0;
  auto criteria = gale::rules::Criteria::Compile(*criteria_json);
  if (!criteria.ok()) return 0;
  auto payload = gale::ParseUntrustedJson(parts[1], "payload");
  if (!payload.ok()) return 0;
  gale::expr::TemplateContext ctx;
  ctx.kv = [](gale::expr::KvScope, const std::string& name) -> std::optional<std::string> {
    if (name.empty() || name[0] == 'x') return std::nullopt;
    return name;
  };
  ctx.now = [] { return std::chrono::system_clock::time_point(std::chrono::hours(492'000)); };
  std::string why;
  criteria->Matches(*payload, ctx, &why);
  criteria->Explain(*payload, ctx);
  return 0;
}

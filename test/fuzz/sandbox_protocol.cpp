// The plan the node sends each gale-keeper (sandbox/child_protocol.cpp, DecodePlan), which the
// keeper trusts only as far as its own checks go. A plan it accepts must encode back to bytes
// it accepts again, unchanged by a second round.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sandbox/child.h"

using gale::sandbox::internal::DecodedPlan;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  DecodedPlan plan;
  if (!DecodePlan(std::string_view(reinterpret_cast<const char*>(data), size), plan)) return 0;
  const std::string once = EncodePlan(plan.plan);
  DecodedPlan again;
  if (!DecodePlan(once, again)) std::abort();
  if (EncodePlan(again.plan) != once) std::abort();
  StageName(static_cast<gale::sandbox::internal::Stage>(plan.plan.namespaces));
  return 0;
}

#include "host/packs/policy_index.h"

#include <algorithm>

#include "host/common/hex.h"
#include "host/common/hmac.h"

namespace gale::packs {
namespace {

// The part of a slot key past the ref is hashed beyond this many bytes (store ids are <= 1024).
constexpr size_t kMaxAttributeKeyBytes = 256;

}  // namespace

PolicyIndex PolicyIndex::FromCatalog(const Catalog& catalog) {
  PolicyIndex index;
  for (const auto& pack : catalog.packs()) {
    if (!pack.ok()) continue;
    for (const auto& policy : pack.policies) {
      if (policy.enabled) index.by_action_[policy.resource_ref].push_back(policy);
    }
  }
  for (auto& [action, policies] : index.by_action_) {
    std::stable_partition(policies.begin(), policies.end(),
                          [](const PolicyMeta& p) { return p.type != PolicyType::kRetry; });
  }
  return index;
}

const std::vector<PolicyMeta>& PolicyIndex::For(const std::string& action_ref) const {
  static const std::vector<PolicyMeta> kNone;
  auto it = by_action_.find(action_ref);
  return it == by_action_.end() ? kNone : it->second;
}

size_t PolicyIndex::size() const {
  size_t n = 0;
  for (const auto& [action, policies] : by_action_) n += policies.size();
  return n;
}

std::string ConcurrencySlotKey(const PolicyMeta& policy, const Json& parameters) {
  if (policy.type != PolicyType::kConcurrencyAttr) return policy.ref;
  std::string values;
  for (const auto& name : policy.attributes) {
    const Json value =
        parameters.is_object() && parameters.contains(name) ? parameters[name] : Json();
    values += "|" + name + "=" + value.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  if (values.size() > kMaxAttributeKeyBytes) {
    // A stable digest (the same on every node); the key only has to tell values apart.
    values = "|sha256:" + HexEncode(HmacSha256("gale policy slot", values));
  }
  return policy.ref + values;
}

}  // namespace gale::packs

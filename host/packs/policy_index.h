// The policies in force, by action: what the runner asks before it starts an execution ("which
// policies does action X have?") and after it ends (retry). Built from a catalog, immutable, so
// one index can be shared by every thread and swapped whole on reload, as ActionIndex is.
//
// Usage (runner integration):
//   auto index = std::make_shared<const packs::PolicyIndex>(packs::PolicyIndex::FromCatalog(c));
//   for (const packs::PolicyMeta& p : index->For(execution.action)) {
//     if (p.type == packs::PolicyType::kRetry) ...;  // p.retry_on, p.max_retry_count, ...
//     else store.TryAcquirePolicySlot(packs::ConcurrencySlotKey(p, execution.parameters), ...,
//                                     p.threshold, ...);              // p.over_threshold
//   }
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "host/common/json.h"
#include "host/packs/catalog.h"
#include "host/packs/metadata.h"

namespace gale::packs {

class PolicyIndex {
 public:
  // The enabled policies of the catalog's valid packs (refused ones are not in the catalog).
  static PolicyIndex FromCatalog(const Catalog& catalog);

  // The enabled policies on `action_ref`: concurrency policies first, then retry ones, each in
  // pack and file order. Empty (never null) when the action has none.
  const std::vector<PolicyMeta>& For(const std::string& action_ref) const;
  // Whether any action has a policy (the runner skips every look-up when none does).
  bool empty() const { return by_action_.empty(); }
  size_t size() const;  // how many policies in all

 private:
  std::unordered_map<std::string, std::vector<PolicyMeta>> by_action_;
};

// The key under which the store counts the running executions of a concurrency policy (the
// store's policy slots): the policy's ref for action.concurrency; for action.concurrency.attr,
// the ref then each attribute's value in the execution's `parameters` as compact JSON (an absent
// one as null): "pack.policy|host=\"web1\"". Values longer than a few hundred bytes are replaced
// by their SHA-256 ("pack.policy|sha256:<hex>"), so a key always fits the store's id limit.
// Every node computes the same key for the same parameters.
std::string ConcurrencySlotKey(const PolicyMeta& policy, const Json& parameters);

}  // namespace gale::packs

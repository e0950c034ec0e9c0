// The Store's batch operations for a backend (or wrapper) without its own: one operation after
// another, each as durable as alone.
#include <utility>

#include "host/store/store.h"

namespace gale::store {

Result<std::vector<Claim>> Store::ClaimExecutions(const std::vector<std::string>& ids,
                                                  const std::string& node, TimeMs lease_expires_at,
                                                  TimeMs now) {
  std::vector<Claim> claims;
  claims.reserve(ids.size());
  for (const std::string& id : ids) {
    Claim& claim = claims.emplace_back();
    claim.id = id;
    auto won = ClaimExecution(id, node, lease_expires_at, now);
    if (!won.ok()) {
      claim.status = won.status();
      continue;
    }
    if (!*won) continue;
    auto record = GetExecution(id);
    if (!record.ok()) {
      // Claimed, but what runs is unknown: the claimer cannot start it, and it must not be
      // claimed again. Its lease expires and it ends abandoned, visibly.
      claim.status = record.status().WithContext("reading back the claimed execution");
      claim.status = Status::Error(claim.status.message(), /*retryable=*/false);
      continue;
    }
    claim.execution = std::move(*record);
  }
  return claims;
}

Result<bool> Store::SwapKey(const KeyValue&, const std::optional<std::string>&, TimeMs) {
  return Status::Error(std::string(backend()) + " store: SwapKey is not supported");
}

Status Store::Batch(const std::function<Status(Store& batch)>& body) {
  return body(*this);
}

}  // namespace gale::store

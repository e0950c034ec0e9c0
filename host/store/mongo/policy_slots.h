// Policy slots on the MongoDB store (Store::TryAcquirePolicySlot and its siblings). A key's
// slots are one record, a revision chain in `policy_slots` (chain.h): the whole set changes in
// one compare-and-set, so "fewer than threshold unexpired slots, then add one" is exact on every
// MongoDB-protocol server, each of which makes only a unique insert atomic.
#pragma once

#include <string>
#include <vector>

#include "host/common/result.h"
#include "host/store/mongo/bson_doc.h"
#include "host/store/mongo/database.h"
#include "host/store/store.h"

namespace gale::store::mongo {

// The state of one key's chain: every slot held under it (expired ones are dropped by the next
// change).
struct PolicySlotsState {
  std::vector<Store::PolicySlot> slots;
};
Doc ToDoc(const PolicySlotsState& s);
PolicySlotsState PolicySlotsStateFrom(const View& v);

Result<bool> TryAcquirePolicySlot(Database& db, const std::string& key,
                                  const std::string& execution_id, const std::string& node,
                                  TimeMs lease_until, int64_t threshold, TimeMs now);
Result<bool> RenewPolicySlot(Database& db, const std::string& key, const std::string& execution_id,
                             const std::string& node, TimeMs lease_until, TimeMs now);
Result<bool> ReleasePolicySlot(Database& db, const std::string& key,
                               const std::string& execution_id);
Result<std::vector<Store::PolicySlot>> ListPolicySlots(Database& db, const std::string& key,
                                                       TimeMs now);

}  // namespace gale::store::mongo

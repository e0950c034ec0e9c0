#include "host/store/mongo/policy_slots.h"

#include <algorithm>
#include <atomic>
#include <tuple>

#include "host/store/mongo/chain.h"
#include "host/store/mongo/documents.h"

namespace gale::store::mongo {
namespace {

constexpr const char* kCollection = "policy_slots";
// Every this many revisions of a key, the writer deletes the revisions older than this many
// below the head: a chain grows by one per acquire, renewal and release. Readers start from the
// head's revision, so only a reader stalled across this many changes of one key could miss one.
constexpr int64_t kPruneEvery = 256;

void DropExpired(PolicySlotsState& s, TimeMs now) {
  std::erase_if(s.slots, [now](const Store::PolicySlot& slot) { return slot.lease_until <= now; });
}

Store::PolicySlot* Find(PolicySlotsState& s, const std::string& execution_id) {
  for (auto& slot : s.slots) {
    if (slot.execution_id == execution_id) return &slot;
  }
  return nullptr;
}

// Best effort, like the lease chains' pruning: a failure leaves revisions to the next prune.
// Relative to the head's revision, which only moves forward.
void Prune(Database& db, const std::string& key, const std::string& op) {
  auto head = db.FindById(kCollection, key, op);
  if (!head.ok() || !head->has_value()) return;
  const int64_t rev = View((*head)->get()).Int("rev");
  if (rev <= kPruneEvery) return;
  Doc lt, filter;
  lt.Int("$lt", rev - kPruneEvery);
  filter.Str("key", key).Sub("rev", lt);
  (void)db.Delete(std::string(kCollection) + "_revs", filter, op);
}

// CasChain on the key's slots. Every kPruneEvery-th change this process makes prunes the key it
// changed: a key changed often is pruned about as often, from whichever process.
template <class Decide>
Result<bool> Change(Database& db, const std::string& key, const std::string& op, Decide decide) {
  static std::atomic<uint64_t> changes{0};
  GALE_ASSIGN_OR_RETURN(bool changed, CasChain<PolicySlotsState>(
                                          db, kCollection, key, PolicySlotsStateFrom, true, op,
                                          [&](bool, PolicySlotsState& s) { return decide(s); }));
  if (changed && ++changes % kPruneEvery == 0) Prune(db, key, op);
  return changed;
}

}  // namespace

Doc ToDoc(const PolicySlotsState& s) {
  std::vector<Doc> slots;
  for (const auto& slot : s.slots) {
    Doc d;
    d.Str("execution_id", slot.execution_id).Str("node", slot.node);
    d.Time("lease_until", slot.lease_until).Time("acquired_at", slot.acquired_at);
    slots.push_back(std::move(d));
  }
  Doc d;
  d.Arr("slots", DocArray(slots));
  return d;
}

PolicySlotsState PolicySlotsStateFrom(const View& v) {
  PolicySlotsState s;
  v.ForEachDoc("slots", [&](const View& slot) {
    s.slots.push_back({"", slot.Str("execution_id"), slot.Str("node"), slot.Int("lease_until"),
                       slot.Int("acquired_at")});
  });
  return s;
}

Result<bool> TryAcquirePolicySlot(Database& db, const std::string& key,
                                  const std::string& execution_id, const std::string& node,
                                  TimeMs lease_until, int64_t threshold, TimeMs now) {
  return Change(db, key, "acquire policy slot " + key, [&](PolicySlotsState& s) {
    DropExpired(s, now);
    if (Store::PolicySlot* mine = Find(s, execution_id)) {
      mine->node = node;
      mine->lease_until = lease_until;
      return true;
    }
    if (static_cast<int64_t>(s.slots.size()) >= threshold) return false;
    s.slots.push_back({key, execution_id, node, lease_until, now});
    return true;
  });
}

Result<bool> RenewPolicySlot(Database& db, const std::string& key, const std::string& execution_id,
                             const std::string& node, TimeMs lease_until, TimeMs now) {
  return Change(db, key, "renew policy slot " + key, [&](PolicySlotsState& s) {
    Store::PolicySlot* mine = Find(s, execution_id);
    if (!mine || mine->node != node || mine->lease_until <= now) return false;
    mine->lease_until = lease_until;
    return true;
  });
}

Result<bool> ReleasePolicySlot(Database& db, const std::string& key,
                               const std::string& execution_id) {
  return Change(db, key, "release policy slot " + key, [&](PolicySlotsState& s) {
    const size_t before = s.slots.size();
    std::erase_if(s.slots,
                  [&](const Store::PolicySlot& slot) { return slot.execution_id == execution_id; });
    return s.slots.size() < before;
  });
}

Result<std::vector<Store::PolicySlot>> ListPolicySlots(Database& db, const std::string& key,
                                                       TimeMs now) {
  const std::string op = "list policy slots " + key;
  GALE_ASSIGN_OR_RETURN(
      auto loaded, LoadChain<PolicySlotsState>(db, kCollection, key, PolicySlotsStateFrom, op));
  if (!loaded) return std::vector<Store::PolicySlot>();
  PolicySlotsState s = std::move(loaded->state);
  DropExpired(s, now);
  for (auto& slot : s.slots) slot.key = key;
  std::sort(s.slots.begin(), s.slots.end(), [](const auto& a, const auto& b) {
    return std::tie(a.acquired_at, a.execution_id) < std::tie(b.acquired_at, b.execution_id);
  });
  return s.slots;
}

}  // namespace gale::store::mongo

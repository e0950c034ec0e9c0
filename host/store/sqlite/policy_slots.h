// Policy slots on the SQLite store (Store::TryAcquirePolicySlot and its siblings): one row per
// held slot in `policy_slots`. Each function runs inside the caller's transaction: writes in a
// BEGIN IMMEDIATE one, which holds the database's write lock, so count-then-insert is atomic
// across the processes sharing the file.
#pragma once

#include <string>
#include <vector>

#include "host/common/result.h"
#include "host/store/sqlite/db.h"
#include "host/store/store.h"

namespace gale::store::sqlite {

// The schema migration that creates the table (schema.cpp lists it).
extern const char* const kPolicySlotsMigration;

Result<bool> TryAcquirePolicySlot(Conn& c, const std::string& key, const std::string& execution_id,
                                  const std::string& node, TimeMs lease_until, int64_t threshold,
                                  TimeMs now);
Result<bool> RenewPolicySlot(Conn& c, const std::string& key, const std::string& execution_id,
                             const std::string& node, TimeMs lease_until, TimeMs now);
Result<bool> ReleasePolicySlot(Conn& c, const std::string& key, const std::string& execution_id);
Result<std::vector<Store::PolicySlot>> ListPolicySlots(Conn& c, const std::string& key, TimeMs now);

}  // namespace gale::store::sqlite

#include "host/store/sqlite/policy_slots.h"

namespace gale::store::sqlite {

// Keyed by (key, execution id): an execution holds at most one slot of a key, and asking again
// renews it. The primary key's order also serves "the slots of a key".
const char* const kPolicySlotsMigration = R"sql(
CREATE TABLE policy_slots (
  key TEXT NOT NULL,
  execution_id TEXT NOT NULL,
  node TEXT NOT NULL,
  lease_until INTEGER NOT NULL,
  acquired_at INTEGER NOT NULL,
  PRIMARY KEY (key, execution_id)
);
)sql";

Result<bool> TryAcquirePolicySlot(Conn& c, const std::string& key, const std::string& execution_id,
                                  const std::string& node, TimeMs lease_until, int64_t threshold,
                                  TimeMs now) {
  // Expired slots go first: they count for nothing, and the execution's own expired slot is
  // taken again like any other (it may have been counted out by someone meanwhile).
  {
    GALE_ASSIGN_OR_RETURN(
        Stmt s, c.Prepare("DELETE FROM policy_slots WHERE key = ?1 AND lease_until <= ?2"));
    s.BindText(1, key).Bind(2, now);
    GALE_TRY(s.Run());
  }
  {
    GALE_ASSIGN_OR_RETURN(Stmt s, c.Prepare("UPDATE policy_slots SET node = ?3, lease_until = ?4 "
                                            "WHERE key = ?1 AND execution_id = ?2"));
    s.BindText(1, key).BindText(2, execution_id).BindText(3, node).Bind(4, lease_until);
    GALE_TRY(s.Run());
    if (c.Changes() == 1) return true;
  }
  int64_t held = 0;
  {
    GALE_ASSIGN_OR_RETURN(Stmt s, c.Prepare("SELECT COUNT(*) FROM policy_slots WHERE key = ?1"));
    s.BindText(1, key);
    GALE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (row) held = s.Int(0);
  }
  if (held >= threshold) return false;
  GALE_ASSIGN_OR_RETURN(Stmt s, c.Prepare("INSERT INTO policy_slots (key, execution_id, node, "
                                          "lease_until, acquired_at) VALUES (?1, ?2, ?3, ?4, ?5)"));
  s.BindText(1, key).BindText(2, execution_id).BindText(3, node).Bind(4, lease_until).Bind(5, now);
  GALE_TRY(s.Run());
  return true;
}

Result<bool> RenewPolicySlot(Conn& c, const std::string& key, const std::string& execution_id,
                             const std::string& node, TimeMs lease_until, TimeMs now) {
  GALE_ASSIGN_OR_RETURN(Stmt s,
                        c.Prepare("UPDATE policy_slots SET lease_until = ?4 WHERE key = ?1 "
                                  "AND execution_id = ?2 AND node = ?3 AND lease_until > ?5"));
  s.BindText(1, key).BindText(2, execution_id).BindText(3, node).Bind(4, lease_until).Bind(5, now);
  GALE_TRY(s.Run());
  return c.Changes() == 1;
}

Result<bool> ReleasePolicySlot(Conn& c, const std::string& key, const std::string& execution_id) {
  GALE_ASSIGN_OR_RETURN(Stmt s,
                        c.Prepare("DELETE FROM policy_slots WHERE key = ?1 AND execution_id = ?2"));
  s.BindText(1, key).BindText(2, execution_id);
  GALE_TRY(s.Run());
  return c.Changes() == 1;
}

Result<std::vector<Store::PolicySlot>> ListPolicySlots(Conn& c, const std::string& key,
                                                       TimeMs now) {
  GALE_ASSIGN_OR_RETURN(
      Stmt s, c.Prepare("SELECT execution_id, node, lease_until, acquired_at FROM policy_slots "
                        "WHERE key = ?1 AND lease_until > ?2 ORDER BY acquired_at, execution_id"));
  s.BindText(1, key).Bind(2, now);
  std::vector<Store::PolicySlot> slots;
  while (true) {
    GALE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    slots.push_back({key, s.Text(0), s.Text(1), s.Int(2), s.Int(3)});
  }
  return slots;
}

}  // namespace gale::store::sqlite

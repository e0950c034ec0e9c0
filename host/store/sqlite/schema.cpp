#include "host/store/sqlite/schema.h"

#include <vector>

#include "host/store/sqlite/policy_slots.h"

namespace gale::store::sqlite {
namespace {

// Migration N brings the schema from version N-1 to N. Never edit a shipped migration; add one.
const std::vector<const char*>& Migrations() {
  static const std::vector<const char*> kMigrations{
      // 1: the first schema.
      R"sql(
CREATE TABLE trigger_instances (
  id TEXT PRIMARY KEY,
  trigger TEXT NOT NULL,
  payload TEXT NOT NULL,
  occurred_at INTEGER NOT NULL,
  dedupe_key TEXT NOT NULL,
  sensor TEXT NOT NULL,
  node TEXT NOT NULL,
  trace_id TEXT NOT NULL,
  status TEXT NOT NULL
);
CREATE INDEX trigger_instances_time ON trigger_instances (occurred_at, id);
CREATE INDEX trigger_instances_trigger ON trigger_instances (trigger, occurred_at, id);

CREATE TABLE executions (
  id TEXT PRIMARY KEY,
  action TEXT NOT NULL,
  parameters TEXT NOT NULL,
  rule TEXT NOT NULL,
  trigger_instance TEXT NOT NULL,
  trace_id TEXT NOT NULL,
  status TEXT NOT NULL,
  node TEXT NOT NULL,
  lease_expires_at INTEGER NOT NULL,
  requested_at INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL,
  result TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  log TEXT NOT NULL
);
CREATE INDEX executions_time ON executions (requested_at, id);
CREATE INDEX executions_status ON executions (status, requested_at, id);
CREATE INDEX executions_action ON executions (action, requested_at, id);
CREATE INDEX executions_rule ON executions (rule, requested_at, id);
CREATE INDEX executions_trigger_instance ON executions (trigger_instance);
CREATE INDEX executions_lease ON executions (lease_expires_at)
  WHERE status IN ('running', 'canceling');
CREATE INDEX executions_finished ON executions (finished_at) WHERE finished_at > 0;

CREATE TABLE execution_output (
  execution_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  stream TEXT NOT NULL,
  data BLOB NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (execution_id, seq)
);
CREATE INDEX execution_output_time ON execution_output (at);

CREATE TABLE kv (
  scope TEXT NOT NULL,
  user TEXT NOT NULL,
  name BLOB NOT NULL,
  value BLOB NOT NULL,
  secret INTEGER NOT NULL,
  expire_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (scope, user, name)
);
CREATE INDEX kv_expiry ON kv (expire_at) WHERE expire_at > 0;

CREATE TABLE dedupe_keys (
  key BLOB PRIMARY KEY,
  expires_at INTEGER NOT NULL
);
CREATE INDEX dedupe_keys_expiry ON dedupe_keys (expires_at);

CREATE TABLE nodes (
  name TEXT PRIMARY KEY,
  roles TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL,
  info TEXT NOT NULL
);

CREATE TABLE sensors (
  ref TEXT PRIMARY KEY,
  node TEXT NOT NULL,
  state TEXT NOT NULL,
  restarts INTEGER NOT NULL,
  last_error TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX sensors_node ON sensors (node, ref);

CREATE TABLE leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
)sql",
      // 2: a dedupe key remembers the trigger instance that opened its window, so that
      // instance delivered again is not taken for a duplicate of itself.
      R"sql(
ALTER TABLE dedupe_keys ADD COLUMN owner TEXT NOT NULL DEFAULT '';
)sql",
      // 3: secret parameters are kept sealed in the record, so that the runner runs what the
      // store says rather than what a bus message carries.
      R"sql(
ALTER TABLE executions ADD COLUMN secret_parameters TEXT NOT NULL DEFAULT '{}';
)sql",
      // 4: an instance the API accepted is recorded `pending` before it is answered, with what
      // it takes to fire it again after a crash; found by status at start.
      R"sql(
ALTER TABLE trigger_instances ADD COLUMN trigger_parameters TEXT NOT NULL DEFAULT '{}';
CREATE INDEX trigger_instances_status ON trigger_instances (status, occurred_at, id);
)sql",
      // 5: policy slots, the cluster-wide concurrency of action.concurrency policies.
      kPolicySlotsMigration,
      // 6: an action.retry policy's retry names the first execution of its chain and its number.
      R"sql(
ALTER TABLE executions ADD COLUMN retry_of TEXT NOT NULL DEFAULT '';
ALTER TABLE executions ADD COLUMN retry_attempt INTEGER NOT NULL DEFAULT 0;
)sql",
      // 7: a workflow's tasks name their workflow's execution and their task (host/workflow).
      R"sql(
ALTER TABLE executions ADD COLUMN parent TEXT NOT NULL DEFAULT '';
ALTER TABLE executions ADD COLUMN task TEXT NOT NULL DEFAULT '';
)sql",
  };
  return kMigrations;
}

struct Identity {
  int64_t application_id = 0;
  int64_t version = 0;
  std::vector<std::string> tables;
};

Result<Identity> ReadIdentity(Conn& conn) {
  Identity id;
  for (auto [pragma, out] : {std::pair{"PRAGMA application_id", &id.application_id},
                             std::pair{"PRAGMA user_version", &id.version}}) {
    GALE_ASSIGN_OR_RETURN(Stmt stmt, conn.Prepare(pragma, false));
    GALE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (row) *out = stmt.Int(0);
  }
  GALE_ASSIGN_OR_RETURN(
      Stmt tables,
      conn.Prepare(
          "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
          "ORDER BY name",
          false));
  while (true) {
    GALE_ASSIGN_OR_RETURN(bool row, tables.Step());
    if (!row) break;
    id.tables.push_back(tables.Text(0));
  }
  return id;
}

Status Judge(const Identity& id, const std::string& path) {
  if (id.application_id == 0 && id.tables.empty()) return Status::Ok();  // new, empty file
  if (id.application_id != kApplicationId) {
    std::string tables;
    for (size_t i = 0; i < id.tables.size() && i < 5; ++i) {
      tables += (i ? ", " : "") + id.tables[i];
    }
    if (id.tables.size() > 5) tables += ", ...";
    return Status::Error(path + " is a SQLite database of another application (tables: " +
                         (tables.empty() ? std::string("none") : tables) +
                         "), not a Gale store; point store.url at another file");
  }
  if (id.version > kSchemaVersion) {
    return Status::Error(path + " has Gale store schema version " + std::to_string(id.version) +
                         ", newer than the " + std::to_string(kSchemaVersion) +
                         " this build knows; upgrade Gale");
  }
  return Status::Ok();
}

Status Unreadable(const Status& error, const std::string& path) {
  const std::string& m = error.message();
  if (m.find("not a database") != std::string::npos || m.find("malformed") != std::string::npos) {
    return Status::Error(path + " is not a usable SQLite database (" + m +
                         "): the file is corrupt or of another kind; move it away or point "
                         "store.url at another file");
  }
  return error.WithContext(path);
}

}  // namespace

Status CheckIdentity(Conn& conn, const std::string& path) {
  // One read transaction: another process may be creating the schema right now, and its
  // tables must not be seen without its application_id.
  if (Status s = conn.Exec("BEGIN"); !s) return Unreadable(s, path);
  Result<Identity> id = ReadIdentity(conn);
  (void)conn.Exec("COMMIT");
  if (!id.ok()) return Unreadable(id.status(), path);
  return Judge(*id, path);
}

Status Migrate(Conn& conn, const std::string& path) {
  if (Status s = conn.Exec("BEGIN IMMEDIATE"); !s) return s.WithContext(path);
  auto fail = [&](const Status& s) {
    (void)conn.Exec("ROLLBACK");
    return s;
  };
  Result<Identity> id = ReadIdentity(conn);
  if (!id.ok()) return fail(Unreadable(id.status(), path));
  if (Status s = Judge(*id, path); !s) return fail(s);
  const auto& migrations = Migrations();
  for (int64_t v = id->version; v < static_cast<int64_t>(migrations.size()); ++v) {
    if (Status s = conn.Exec(migrations[static_cast<size_t>(v)]); !s) {
      return fail(
          s.WithContext(path + ": migrating the schema to version " + std::to_string(v + 1)));
    }
  }
  std::string pragmas = "PRAGMA application_id = " + std::to_string(kApplicationId) +
                        "; PRAGMA user_version = " + std::to_string(migrations.size()) + ";";
  if (Status s = conn.Exec(pragmas.c_str()); !s) return fail(s.WithContext(path));
  if (Status s = conn.Exec("COMMIT"); !s) return fail(s.WithContext(path));
  return Status::Ok();
}

}  // namespace gale::store::sqlite

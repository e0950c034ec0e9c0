#include "host/store/sqlite/sqlite_store.h"

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "host/store/internal.h"
#include "host/store/sqlite/db.h"
#include "host/store/sqlite/group_commit.h"
#include "host/store/sqlite/policy_slots.h"
#include "host/store/sqlite/query.h"
#include "host/store/sqlite/rows.h"
#include "host/store/sqlite/schema.h"

namespace gale::store {
namespace {

using internal::DumpJson;
using namespace sqlite;  // NOLINT: this file is the sqlite backend

Where ExecutionWhere(const ExecutionQuery& q) {
  Where where;
  if (!q.statuses.empty()) where.And("status IN " + InList(q.statuses));
  if (!q.action.empty()) where.And("action = ?", q.action);
  if (!q.rule.empty()) where.And("rule = ?", q.rule);
  if (!q.trigger_instance.empty()) where.And("trigger_instance = ?", q.trigger_instance);
  if (q.since != 0) where.And("requested_at >= ?", int64_t{q.since});
  if (q.until != 0) where.And("requested_at < ?", int64_t{q.until});
  return where;
}

// What a store and the batches run on it share: the file, the one writer connection (behind
// group commit) and the pool of reader connections.
struct Core {
  Core(std::string path, StoreOptions options, std::unique_ptr<Conn> writer)
      : path(std::move(path)),
        options(std::move(options)),
        writer(std::move(writer)),
        group(this->writer.get()) {}
  const std::string path;
  const StoreOptions options;
  std::unique_ptr<Conn> writer;
  GroupCommit group;
  std::mutex pool_mu;
  std::vector<std::unique_ptr<Conn>> readers;
};

class SqliteStore final : public Store {
 public:
  SqliteStore(std::string path, StoreOptions options, std::unique_ptr<Conn> writer)
      : core_(std::make_shared<Core>(std::move(path), std::move(options), std::move(writer))),
        path_(core_->path),
        options_(core_->options) {}
  // A batch: every operation runs on `batch`, the writer connection inside the batch's
  // transaction (see Batch).
  SqliteStore(std::shared_ptr<Core> core, Conn* batch)
      : core_(std::move(core)), path_(core_->path), options_(core_->options), batch_(batch) {}

  std::string_view backend() const override { return "sqlite"; }

  // ---- trigger instances

  Result<bool> InsertTriggerInstance(const TriggerInstance& t) override {
    bool inserted = false;
    GALE_TRY(Write("insert trigger instance " + t.id, [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(
          Stmt s,
          c.Prepare(
              std::string("INSERT INTO trigger_instances (") + kTriggerColumns +
              ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO NOTHING"));
      s.BindText(1, t.id).BindText(2, t.trigger).BindText(3, DumpJson(t.payload));
      s.Bind(4, t.occurred_at).BindText(5, t.dedupe_key).BindText(6, t.sensor);
      s.BindText(7, t.node).BindText(8, t.trace_id).BindText(9, ToString(t.status));
      s.BindText(10, DumpJson(t.trigger_parameters));
      GALE_TRY(s.Run());
      inserted = c.Changes() == 1;
      return Status::Ok();
    }));
    return inserted;
  }

  Result<std::optional<TriggerInstance>> GetTriggerInstance(const std::string& id) override {
    std::optional<TriggerInstance> found;
    GALE_TRY(Read("get trigger instance " + id, [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(Stmt s, c.Prepare(std::string("SELECT ") + kTriggerColumns +
                                              " FROM trigger_instances WHERE id = ?1"));
      s.BindText(1, id);
      GALE_ASSIGN_OR_RETURN(bool row, s.Step());
      if (row) found = ReadTrigger(s);
      return Status::Ok();
    }));
    return found;
  }

  Result<bool> SetTriggerInstanceStatus(const std::string& id, TriggerStatus status) override {
    bool changed = false;
    GALE_TRY(Write("set status of trigger instance " + id, [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(Stmt s,
                            c.Prepare("UPDATE trigger_instances SET status = ?2 WHERE id = ?1"));
      s.BindText(1, id).BindText(2, ToString(status));
      GALE_TRY(s.Run());
      changed = c.Changes() == 1;
      return Status::Ok();
    }));
    return changed;
  }

  Result<Page<TriggerInstance>> ListTriggerInstances(const TriggerInstanceQuery& q) override {
    Where where;
    if (!q.trigger.empty()) where.And("trigger = ?", q.trigger);
    if (!q.statuses.empty()) where.And("status IN " + InList(q.statuses));
    if (q.since != 0) where.And("occurred_at >= ?", int64_t{q.since});
    if (q.until != 0) where.And("occurred_at < ?", int64_t{q.until});
    std::optional<Page<TriggerInstance>> page;
    GALE_TRY(Read("list trigger instances", [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(
          auto result, ListNewestFirst<TriggerInstance>(
                           c, std::string("SELECT ") + kTriggerColumns + " FROM trigger_instances",
                           where, "occurred_at", q.cursor, q.limit, q.offset, ReadTrigger,
                           +[](const TriggerInstance& t) { return t.occurred_at; },
                           +[](const TriggerInstance& t) -> const std::string& { return t.id; }));
      page = std::move(result);
      return Status::Ok();
    }));
    return std::move(*page);
  }

  // ---- executions

  Result<bool> CreateExecution(const Execution& e) override {
    std::vector<StatusChange> log = e.log;
    if (log.empty()) log.push_back({e.status, e.requested_at, e.node});
    bool inserted = false;
    GALE_TRY(Write("create execution " + e.id, [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(
          Stmt s, c.Prepare(std::string("INSERT INTO executions (") + kExecutionColumns +
                            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                            "?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20) ON CONFLICT (id) DO NOTHING"));
      s.BindText(1, e.id).BindText(2, e.action).BindText(3, DumpJson(e.parameters));
      s.BindText(4, e.rule).BindText(5, e.trigger_instance).BindText(6, e.trace_id);
      s.BindText(7, ToString(e.status)).BindText(8, e.node).Bind(9, e.lease_expires_at);
      s.Bind(10, e.requested_at).Bind(11, e.started_at).Bind(12, e.finished_at);
      s.BindText(13, DumpJson(e.result)).Bind(14, e.attempt).BindText(15, DumpLog(log));
      s.BindText(16, DumpJson(e.secret_parameters)).BindText(17, e.retry_of);
      s.Bind(18, e.retry_attempt);
      s.BindText(19, e.parent).BindText(20, e.task);
      GALE_TRY(s.Run());
      inserted = c.Changes() == 1;
      return Status::Ok();
    }));
    return inserted;
  }

  Result<std::optional<Execution>> GetExecution(const std::string& id) override {
    std::optional<Execution> found;
    GALE_TRY(Read("get execution " + id, [&](Conn& c) -> Status {
      Result<Stmt> s =
          c.Prepare(std::string("SELECT ") + kExecutionColumns + " FROM executions WHERE id = ?1");
      if (!s.ok()) return s.status();
      s->BindText(1, id);
      GALE_ASSIGN_OR_RETURN(bool row, s->Step());
      if (row) found = ReadExecution(*s);
      return Status::Ok();
    }));
    return found;
  }

  Result<bool> ClaimExecution(const std::string& id, const std::string& node,
                              TimeMs lease_expires_at, TimeMs now) override {
    static const std::string kSql =
        "UPDATE executions SET status = 'running', node = ?2, lease_expires_at = ?3, "
        "started_at = ?4, attempt = attempt + 1, " +
        LogAppend("'running'", "?4", "?2") + " WHERE id = ?1 AND status IN " +
        InList(internal::ClaimableStatuses());
    bool claimed = false;
    GALE_TRY(Write("claim execution " + id, [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(Stmt s, c.Prepare(kSql));
      s.BindText(1, id).BindText(2, node).Bind(3, lease_expires_at).Bind(4, now);
      GALE_TRY(s.Run());
      claimed = c.Changes() == 1;
      return Status::Ok();
    }));
    return claimed;
  }

  Result<std::vector<Claim>> ClaimExecutions(const std::vector<std::string>& ids,
                                             const std::string& node, TimeMs lease_expires_at,
                                             TimeMs now) override {
    static const std::string kSql =
        "UPDATE executions SET status = 'running', node = ?2, lease_expires_at = ?3, "
        "started_at = ?4, attempt = attempt + 1, " +
        LogAppend("'running'", "?4", "?2") + " WHERE id = ?1 AND status IN " +
        InList(internal::ClaimableStatuses()) + " RETURNING " + kExecutionColumns;
    std::vector<Claim> claims;
    GALE_TRY(Write("claim " + std::to_string(ids.size()) + " executions", [&](Conn& c) -> Status {
      claims.clear();
      GALE_ASSIGN_OR_RETURN(Stmt s, c.Prepare(kSql));
      for (const std::string& id : ids) {
        Claim& claim = claims.emplace_back();
        claim.id = id;
        s.BindText(1, id).BindText(2, node).Bind(3, lease_expires_at).Bind(4, now);
        GALE_ASSIGN_OR_RETURN(bool row, s.Step());
        if (row) claim.execution = ReadExecution(s);
        GALE_TRY(s.Run());
        s.Reset();
      }
      return Status::Ok();
    }));
    return claims;
  }

  Status Batch(const std::function<Status(Store& batch)>& body) override {
    if (batch_ != nullptr) return body(*this);  // a batch inside a batch is part of it
    Status result = Status::Ok();
    Status s = core_->group.Run([&](Conn& c) {
      SqliteStore batch(core_, &c);
      result = body(batch);
      // SQLite may have rolled the transaction back already (an I/O error): then say so.
      if (result.ok() && sqlite3_get_autocommit(c.db())) {
        result = Fail("batch", Status::Error("the batch's transaction was rolled back", true));
      }
      return result;
    });
    if (!result.ok()) return result;
    return s.ok() ? s : Fail("commit of a batch", s);
  }

  Result<bool> RenewLease(const std::string& id, const std::string& node,
                          TimeMs lease_expires_at) override {
    static const std::string kSql =
        "UPDATE executions SET lease_expires_at = ?3 WHERE id = ?1 AND node = ?2 AND status IN " +
        InList(internal::LeasedStatuses());
    bool renewed = false;
    GALE_TRY(Write("renew lease of execution " + id, [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(Stmt s, c.Prepare(kSql));
      s.BindText(1, id).BindText(2, node).Bind(3, lease_expires_at);
      GALE_TRY(s.Run());
      renewed = c.Changes() == 1;
      return Status::Ok();
    }));
    return renewed;
  }

  Result<bool> TransitionExecution(const Transition& t) override {
    std::string sql = "UPDATE executions SET status = ?2, " + LogAppend("?2", "?3", "?4");
    if (IsFinal(t.to)) sql += ", finished_at = ?3";
    if (t.to == ExecStatus::kRunning) sql += ", started_at = ?3";
    if (t.result) sql += ", result = ?5";
    sql += " WHERE id = ?1 AND status IN " + InList(t.from);
    if (t.node) sql += " AND node = ?4";
    bool changed = false;
    GALE_TRY(Write("set status of execution " + t.id + " to " + std::string(ToString(t.to)),
                   [&](Conn& c) -> Status {
                     GALE_ASSIGN_OR_RETURN(Stmt s, c.Prepare(sql));
                     s.BindText(1, t.id).BindText(2, ToString(t.to)).Bind(3, t.at);
                     s.BindText(4, t.node.value_or(""));
                     if (t.result) s.BindText(5, DumpJson(*t.result));
                     GALE_TRY(s.Run());
                     changed = c.Changes() == 1;
                     return Status::Ok();
                   }));
    return changed;
  }

  Result<std::vector<Execution>> MarkAbandoned(TimeMs now, size_t limit) override {
    static const std::string kSql =
        "UPDATE executions SET status = 'abandoned', finished_at = ?1, " +
        LogAppend("'abandoned'", "?1", "''") +
        " WHERE rowid IN (SELECT rowid FROM executions WHERE status IN " +
        InList(internal::LeasedStatuses()) +
        " AND lease_expires_at > 0 AND lease_expires_at < ?1 LIMIT ?2) RETURNING " +
        kExecutionColumns;
    std::vector<Execution> changed;
    GALE_TRY(Write("mark abandoned executions", [&](Conn& c) -> Status {
      changed.clear();
      GALE_ASSIGN_OR_RETURN(Stmt s, c.Prepare(kSql));
      s.Bind(1, now).Bind(2, static_cast<int64_t>(limit == 0 ? 1000 : limit));
      while (true) {
        GALE_ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        changed.push_back(ReadExecution(s));
      }
      return Status::Ok();
    }));
    return changed;
  }

  Result<int64_t> CountExecutions(const ExecutionQuery& q) override {
    Where where = ExecutionWhere(q);
    int64_t count = 0;
    GALE_TRY(Read("count executions", [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(Stmt s, c.Prepare("SELECT COUNT(*) FROM executions" + where.sql()));
      where.BindAll(s);
      GALE_ASSIGN_OR_RETURN(bool row, s.Step());
      count = row ? s.Int(0) : 0;
      return Status::Ok();
    }));
    return count;
  }

  Result<Page<Execution>> ListExecutions(const ExecutionQuery& q) override {
    Where where = ExecutionWhere(q);
    std::optional<Page<Execution>> page;
    GALE_TRY(Read("list executions", [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(auto result,
                            ListNewestFirst<Execution>(
                                c, std::string("SELECT ") + kExecutionColumns + " FROM executions",
                                where, "requested_at", q.cursor, q.limit, q.offset, ReadExecution,
                                +[](const Execution& e) { return e.requested_at; },
                                +[](const Execution& e) -> const std::string& { return e.id; }));
      page = std::move(result);
      return Status::Ok();
    }));
    return std::move(*page);
  }

  // ---- output

  Result<int64_t> AppendOutput(const std::string& execution_id, const std::string& stream,
                               const std::string& data, TimeMs at) override {
    int64_t seq = 0;
    GALE_TRY(Write("append output of execution " + execution_id, [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(
          Stmt s,
          c.Prepare("INSERT INTO execution_output (execution_id, seq, stream, data, at) "
                    "SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3, ?4 FROM execution_output "
                    "WHERE execution_id = ?1 RETURNING seq"));
      s.BindText(1, execution_id).BindText(2, stream).BindBlob(3, data).Bind(4, at);
      GALE_ASSIGN_OR_RETURN(bool row, s.Step());
      if (row) seq = s.Int(0);
      return s.Run();
    }));
    return seq;
  }

  Result<std::vector<OutputChunk>> ReadOutput(const std::string& execution_id, int64_t after_seq,
                                              size_t limit) override {
    std::vector<OutputChunk> chunks;
    GALE_TRY(Read("read output of execution " + execution_id, [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(
          Stmt s,
          c.Prepare("SELECT seq, stream, data, at FROM execution_output WHERE execution_id = ?1 "
                    "AND seq > ?2 ORDER BY seq LIMIT ?3"));
      s.BindText(1, execution_id).Bind(2, after_seq);
      s.Bind(3, static_cast<int64_t>(limit == 0 ? 1000 : limit));
      while (true) {
        GALE_ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        chunks.push_back({execution_id, s.Int(0), s.Text(1), s.Text(2), s.Int(3)});
      }
      return Status::Ok();
    }));
    return chunks;
  }

  // ---- datastore

  Result<std::optional<KeyValue>> GetKey(const KeyRef& ref, TimeMs now) override {
    std::optional<KeyValue> found;
    GALE_TRY(Read("get datastore key", [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(Stmt s,
                            c.Prepare(std::string("SELECT ") + kKeyColumns +
                                      " FROM kv WHERE scope = ?1 AND user = ?2 AND name = ?3 "
                                      "AND (expire_at = 0 OR expire_at > ?4)"));
      s.BindText(1, ToString(ref.scope)).BindText(2, internal::KeyUser(ref.scope, ref.user));
      s.BindBlob(3, ref.name).Bind(4, now);
      GALE_ASSIGN_OR_RETURN(bool row, s.Step());
      if (row) found = ReadKey(s);
      return Status::Ok();
    }));
    return found;
  }

  Status SetKey(const KeyValue& kv, TimeMs now) override {
    return Write("set datastore key", [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(
          Stmt s,
          c.Prepare(
              "INSERT INTO kv (scope, user, name, value, secret, expire_at, updated_at) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (scope, user, name) DO UPDATE SET "
              "value = excluded.value, secret = excluded.secret, expire_at = excluded.expire_at, "
              "updated_at = excluded.updated_at"));
      s.BindText(1, ToString(kv.scope)).BindText(2, internal::KeyUser(kv.scope, kv.user));
      s.BindBlob(3, kv.name).BindBlob(4, kv.value).Bind(5, kv.secret ? 1 : 0);
      s.Bind(6, kv.expire_at).Bind(7, now);
      return s.Run();
    });
  }

  Result<bool> SwapKey(const KeyValue& kv, const std::optional<std::string>& expected,
                       TimeMs now) override {
    bool swapped = false;
    GALE_TRY(Write("swap datastore key", [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(
          Stmt s, c.Prepare(expected ? "UPDATE kv SET value = ?4, secret = ?5, expire_at = ?6, "
                                       "updated_at = ?7 WHERE scope = ?1 AND user = ?2 AND "
                                       "name = ?3 AND value = ?8"
                                     : "INSERT INTO kv (scope, user, name, value, secret, "
                                       "expire_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                                       "?7) ON CONFLICT (scope, user, name) DO NOTHING"));
      s.BindText(1, ToString(kv.scope)).BindText(2, internal::KeyUser(kv.scope, kv.user));
      s.BindBlob(3, kv.name).BindBlob(4, kv.value).Bind(5, kv.secret ? 1 : 0);
      s.Bind(6, kv.expire_at).Bind(7, now);
      if (expected) s.BindBlob(8, *expected);
      GALE_TRY(s.Run());
      swapped = c.Changes() == 1;
      return Status::Ok();
    }));
    return swapped;
  }

  Result<bool> DeleteKey(const KeyRef& ref) override {
    bool deleted = false;
    GALE_TRY(Write("delete datastore key", [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(
          Stmt s, c.Prepare("DELETE FROM kv WHERE scope = ?1 AND user = ?2 AND name = ?3"));
      s.BindText(1, ToString(ref.scope)).BindText(2, internal::KeyUser(ref.scope, ref.user));
      s.BindBlob(3, ref.name);
      GALE_TRY(s.Run());
      deleted = c.Changes() == 1;
      return Status::Ok();
    }));
    return deleted;
  }

  Result<std::vector<KeyValue>> ListKeys(KeyScope scope, const std::string& user,
                                         const std::string& prefix, TimeMs now) override {
    std::optional<std::string> upper = internal::PrefixUpperBound(prefix);
    std::vector<KeyValue> keys;
    GALE_TRY(Read("list datastore keys", [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(Stmt s,
                            c.Prepare(std::string("SELECT ") + kKeyColumns +
                                      " FROM kv WHERE scope = ?1 AND user = ?2 AND name >= ?3" +
                                      (upper ? " AND name < ?5" : "") +
                                      " AND (expire_at = 0 OR expire_at > ?4) ORDER BY name"));
      s.BindText(1, ToString(scope)).BindText(2, internal::KeyUser(scope, user));
      s.BindBlob(3, prefix).Bind(4, now);
      if (upper) s.BindBlob(5, *upper);
      while (true) {
        GALE_ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        keys.push_back(ReadKey(s));
      }
      return Status::Ok();
    }));
    return keys;
  }

  // ---- dedupe

  Result<bool> InsertDedupeKey(const std::string& key, const std::string& owner, TimeMs window,
                               TimeMs now) override {
    bool inserted = false;
    GALE_TRY(Write("insert dedupe key", [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(
          Stmt s,
          c.Prepare("INSERT INTO dedupe_keys (key, expires_at, owner) VALUES (?1, ?2, ?4) ON "
                    "CONFLICT (key) "
                    "DO UPDATE SET expires_at = excluded.expires_at, owner = excluded.owner "
                    "WHERE dedupe_keys.expires_at <= ?3 OR dedupe_keys.owner = excluded.owner"));
      s.BindBlob(1, key).Bind(2, now + window).Bind(3, now).BindText(4, owner);
      GALE_TRY(s.Run());
      inserted = c.Changes() == 1;
      return Status::Ok();
    }));
    return inserted;
  }

  // ---- nodes and sensors

  Status Heartbeat(const NodeInfo& node) override {
    Json roles = Json::array();
    for (const std::string& r : node.roles) roles.push_back(r);
    return Write("heartbeat of node " + node.name, [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(
          Stmt s, c.Prepare(std::string("INSERT INTO nodes (") + kNodeColumns +
                            ") VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO UPDATE SET "
                            "roles = excluded.roles, started_at = excluded.started_at, "
                            "heartbeat_at = excluded.heartbeat_at, info = excluded.info"));
      s.BindText(1, node.name).BindText(2, DumpJson(roles)).Bind(3, node.started_at);
      s.Bind(4, node.heartbeat_at).BindText(5, DumpJson(node.info));
      return s.Run();
    });
  }

  Result<std::optional<NodeInfo>> GetNode(const std::string& name) override {
    std::optional<NodeInfo> found;
    GALE_TRY(Read("get node " + name, [&](Conn& c) -> Status {
      Result<Stmt> s =
          c.Prepare(std::string("SELECT ") + kNodeColumns + " FROM nodes WHERE name = ?1");
      if (!s.ok()) return s.status();
      s->BindText(1, name);
      GALE_ASSIGN_OR_RETURN(bool row, s->Step());
      if (row) found = ReadNode(*s);
      return Status::Ok();
    }));
    return found;
  }

  Result<std::vector<NodeInfo>> ListNodes() override {
    std::vector<NodeInfo> nodes;
    GALE_TRY(Read("list nodes", [&](Conn& c) -> Status {
      Result<Stmt> s =
          c.Prepare(std::string("SELECT ") + kNodeColumns + " FROM nodes ORDER BY name");
      if (!s.ok()) return s.status();
      while (true) {
        GALE_ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        nodes.push_back(ReadNode(*s));
      }
      return Status::Ok();
    }));
    return nodes;
  }

  Status PutSensorStatus(const SensorStatus& st) override {
    return Write("put status of sensor " + st.ref, [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(
          Stmt s, c.Prepare(std::string("INSERT INTO sensors (") + kSensorColumns +
                            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (ref) DO UPDATE "
                            "SET node = excluded.node, state = excluded.state, "
                            "restarts = excluded.restarts, last_error = excluded.last_error, "
                            "updated_at = excluded.updated_at"));
      s.BindText(1, st.ref).BindText(2, st.node).BindText(3, st.state).Bind(4, st.restarts);
      s.BindText(5, st.last_error).Bind(6, st.updated_at);
      return s.Run();
    });
  }

  Result<std::optional<SensorStatus>> GetSensorStatus(const std::string& ref) override {
    std::optional<SensorStatus> found;
    GALE_TRY(Read("get status of sensor " + ref, [&](Conn& c) -> Status {
      Result<Stmt> s =
          c.Prepare(std::string("SELECT ") + kSensorColumns + " FROM sensors WHERE ref = ?1");
      if (!s.ok()) return s.status();
      s->BindText(1, ref);
      GALE_ASSIGN_OR_RETURN(bool row, s->Step());
      if (row) found = ReadSensor(*s);
      return Status::Ok();
    }));
    return found;
  }

  Result<std::vector<SensorStatus>> ListSensorStatus(const std::string& node) override {
    std::vector<SensorStatus> sensors;
    GALE_TRY(Read("list sensors", [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(Stmt s,
                            c.Prepare(std::string("SELECT ") + kSensorColumns + " FROM sensors" +
                                      (node.empty() ? "" : " WHERE node = ?1") + " ORDER BY ref"));
      if (!node.empty()) s.BindText(1, node);
      while (true) {
        GALE_ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        sensors.push_back(ReadSensor(s));
      }
      return Status::Ok();
    }));
    return sensors;
  }

  // ---- leases

  Result<bool> TryAcquireLease(const std::string& name, const std::string& holder, TimeMs ttl,
                               TimeMs now) override {
    bool acquired = false;
    GALE_TRY(Write("acquire lease " + name, [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(
          Stmt s,
          c.Prepare("INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3) ON CONFLICT "
                    "(name) "
                    "DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
                    "WHERE leases.holder = excluded.holder OR leases.expires_at <= ?4"));
      s.BindText(1, name).BindText(2, holder).Bind(3, now + ttl).Bind(4, now);
      GALE_TRY(s.Run());
      acquired = c.Changes() == 1;
      return Status::Ok();
    }));
    return acquired;
  }

  Result<bool> ReleaseLease(const std::string& name, const std::string& holder) override {
    bool released = false;
    GALE_TRY(Write("release lease " + name, [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(Stmt s,
                            c.Prepare("DELETE FROM leases WHERE name = ?1 AND holder = ?2"));
      s.BindText(1, name).BindText(2, holder);
      GALE_TRY(s.Run());
      released = c.Changes() == 1;
      return Status::Ok();
    }));
    return released;
  }

  // ---- policy slots (sqlite/policy_slots.cpp)

  Result<bool> TryAcquirePolicySlot(const std::string& key, const std::string& execution_id,
                                    const std::string& node, TimeMs lease_until, int64_t threshold,
                                    TimeMs now) override {
    bool acquired = false;
    GALE_TRY(Write("acquire policy slot " + key, [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(acquired, sqlite::TryAcquirePolicySlot(c, key, execution_id, node,
                                                                   lease_until, threshold, now));
      return Status::Ok();
    }));
    return acquired;
  }

  Result<bool> RenewPolicySlot(const std::string& key, const std::string& execution_id,
                               const std::string& node, TimeMs lease_until, TimeMs now) override {
    bool renewed = false;
    GALE_TRY(Write("renew policy slot " + key, [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(renewed,
                            sqlite::RenewPolicySlot(c, key, execution_id, node, lease_until, now));
      return Status::Ok();
    }));
    return renewed;
  }

  Result<bool> ReleasePolicySlot(const std::string& key, const std::string& execution_id) override {
    bool released = false;
    GALE_TRY(Write("release policy slot " + key, [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(released, sqlite::ReleasePolicySlot(c, key, execution_id));
      return Status::Ok();
    }));
    return released;
  }

  Result<std::vector<PolicySlot>> ListPolicySlots(const std::string& key, TimeMs now) override {
    std::vector<PolicySlot> slots;
    GALE_TRY(Read("list policy slots " + key, [&](Conn& c) -> Status {
      GALE_ASSIGN_OR_RETURN(slots, sqlite::ListPolicySlots(c, key, now));
      return Status::Ok();
    }));
    return slots;
  }

  // ---- garbage collection

  Result<GcCounts> CollectGarbage(const GcPolicy& policy, TimeMs now) override {
    GcCounts counts;
    if (policy.executions_ttl > 0) {
      static const std::string kSelect =
          "SELECT id FROM executions WHERE finished_at > 0 AND finished_at < ?1 AND status IN " +
          InList(internal::FinalStatuses()) + " LIMIT 500";
      TimeMs cutoff = now - policy.executions_ttl;
      for (size_t batch = 500; batch == 500;) {
        GALE_TRY(Write("collect executions", [&](Conn& c) -> Status {
          std::vector<std::string> ids;
          {
            GALE_ASSIGN_OR_RETURN(Stmt s, c.Prepare(kSelect));
            s.Bind(1, cutoff);
            while (true) {
              GALE_ASSIGN_OR_RETURN(bool row, s.Step());
              if (!row) break;
              ids.push_back(s.Text(0));
            }
          }
          for (const std::string& id : ids) {
            GALE_ASSIGN_OR_RETURN(
                Stmt out, c.Prepare("DELETE FROM execution_output WHERE execution_id = ?1"));
            out.BindText(1, id);
            GALE_TRY(out.Run());
            counts.output_chunks += c.Changes();
            GALE_ASSIGN_OR_RETURN(Stmt ex, c.Prepare("DELETE FROM executions WHERE id = ?1"));
            ex.BindText(1, id);
            GALE_TRY(ex.Run());
            counts.executions += c.Changes();
          }
          batch = ids.size();
          return Status::Ok();
        }));
      }
    }
    auto delete_batches = [&](const char* what, const std::string& sql, TimeMs bound,
                              int64_t& count) -> Status {
      for (int64_t n = 2000; n == 2000;) {
        GALE_TRY(Write(std::string("collect ") + what, [&](Conn& c) -> Status {
          GALE_ASSIGN_OR_RETURN(Stmt s, c.Prepare(sql));
          s.Bind(1, bound);
          GALE_TRY(s.Run());
          n = c.Changes();
          count += n;
          return Status::Ok();
        }));
      }
      return Status::Ok();
    };
    if (policy.output_ttl > 0) {
      GALE_TRY(delete_batches("output",
                              "DELETE FROM execution_output WHERE rowid IN (SELECT rowid FROM "
                              "execution_output WHERE at < ?1 LIMIT 2000)",
                              now - policy.output_ttl, counts.output_chunks));
    }
    if (policy.trigger_instances_ttl > 0) {
      GALE_TRY(delete_batches("trigger instances",
                              "DELETE FROM trigger_instances WHERE rowid IN (SELECT rowid FROM "
                              "trigger_instances WHERE occurred_at < ?1 LIMIT 2000)",
                              now - policy.trigger_instances_ttl, counts.trigger_instances));
    }
    GALE_TRY(delete_batches("expired datastore keys",
                            "DELETE FROM kv WHERE rowid IN (SELECT rowid FROM kv WHERE "
                            "expire_at > 0 AND expire_at <= ?1 LIMIT 2000)",
                            now, counts.keys));
    GALE_TRY(delete_batches("expired dedupe keys",
                            "DELETE FROM dedupe_keys WHERE rowid IN (SELECT rowid FROM "
                            "dedupe_keys WHERE expires_at <= ?1 LIMIT 2000)",
                            now - kDedupeGcGraceMs, counts.dedupe_keys));
    return counts;
  }

 private:
  Status Fail(const std::string& op, const Status& error) const {
    return error.WithContext("sqlite store " + path_ + ": " + op);
  }

  // Runs `body` in a BEGIN IMMEDIATE transaction on the writer connection: it holds the
  // database's write lock from the start, so a compare-and-set is atomic across processes.
  // Concurrent writes share a transaction (group commit), each in a savepoint of its own; in a
  // batch, `body` runs in the batch's transaction, also in a savepoint of its own, so that an
  // operation that fails half-way leaves nothing behind.
  template <class F>
  Status Write(const std::string& op, F&& body) {
    if (batch_ == nullptr) {
      const GroupCommit::Body erased = [&](Conn& c) { return body(c); };
      Status s = core_->group.Run(erased);
      return s.ok() ? s : Fail(op, s);
    }
    Conn& c = *batch_;
    // SQLite rolls a whole transaction back on some errors (I/O, full disk): what follows
    // must not run outside it.
    if (sqlite3_get_autocommit(c.db())) {
      return Fail(op, Status::Error("the batch's transaction was rolled back", true));
    }
    if (Status s = c.Exec("SAVEPOINT gale_op"); !s) return Fail(op, s);
    Status s = body(c);
    if (s.ok()) return c.Exec("RELEASE gale_op");
    if (!sqlite3_get_autocommit(c.db())) {
      (void)c.Exec("ROLLBACK TO gale_op");
      (void)c.Exec("RELEASE gale_op");
    }
    return Fail(op, s);
  }

  template <class F>
  Status Read(const std::string& op, F&& body) {
    if (batch_ != nullptr) {  // sees the batch's own writes
      Status s = body(*batch_);
      return s.ok() ? s : Fail(op, s);
    }
    std::unique_ptr<Conn> conn;
    {
      std::lock_guard lock(core_->pool_mu);
      if (!core_->readers.empty()) {
        conn = std::move(core_->readers.back());
        core_->readers.pop_back();
      }
    }
    if (!conn) {
      Result<std::unique_ptr<Conn>> opened = OpenReader();
      if (!opened.ok()) return Fail(op, opened.status());
      conn = std::move(*opened);
    }
    Status s = body(*conn);
    {
      std::lock_guard lock(core_->pool_mu);
      if (core_->readers.size() < static_cast<size_t>(std::max(1, options_.max_connections))) {
        core_->readers.push_back(std::move(conn));
      }
    }
    return s.ok() ? s : Fail(op, s);
  }

  Result<std::unique_ptr<Conn>> OpenReader() const {
    GALE_ASSIGN_OR_RETURN(std::unique_ptr<Conn> conn, Conn::Open(path_, SQLITE_OPEN_READWRITE));
    sqlite3_busy_timeout(conn->db(), static_cast<int>(options_.busy_timeout.count()));
    GALE_TRY(conn->Exec("PRAGMA query_only = 1"));
    return conn;
  }

  std::shared_ptr<Core> core_;
  const std::string& path_;
  const StoreOptions& options_;
  Conn* batch_ = nullptr;  // set in a batch's Store
};

Status OpenError(const std::string& path, const std::string& reason) {
  return Status::Error("cannot open the sqlite store " + path + ": " + reason);
}

}  // namespace

Result<StorePtr> OpenSqliteStore(const std::string& path, const StoreOptions& options) {
  namespace fs = std::filesystem;
  if (path.empty()) return Status::Error("sqlite store URL names no file (sqlite://PATH)");
  std::error_code ec;
  fs::path file(path);
  fs::path dir = file.parent_path().empty() ? fs::path(".") : file.parent_path();
  if (!fs::exists(dir, ec)) {
    return OpenError(path, "directory " + dir.string() + " does not exist");
  }
  if (!fs::is_directory(dir, ec)) return OpenError(path, dir.string() + " is not a directory");
  if (fs::exists(file, ec) && !fs::is_regular_file(file, ec)) {
    return OpenError(path, "not a regular file");
  }

  Result<std::unique_ptr<Conn>> opened =
      Conn::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!opened.ok()) {
    return OpenError(path, opened.message() + "; is " + dir.string() + " writable?");
  }
  std::unique_ptr<Conn> conn = std::move(*opened);
  if (sqlite3_db_readonly(conn->db(), "main") == 1) {
    return OpenError(path, "the file is read-only; Gale needs to write to its store");
  }
  sqlite3_busy_timeout(conn->db(), static_cast<int>(options.busy_timeout.count()));

  // Identify before changing anything: a foreign file must be left as it is.
  GALE_TRY(sqlite::CheckIdentity(*conn, path));
  // Switching to WAL takes an exclusive lock for a moment, and SQLite does not wait for it
  // through the busy timeout when another process is opening the file too: retry here.
  auto deadline = std::chrono::steady_clock::now() + options.busy_timeout;
  while (true) {
    Result<Stmt> wal = conn->Prepare("PRAGMA journal_mode = WAL", false);
    Result<bool> row = wal.ok() ? wal->Step() : Result<bool>(wal.status());
    if (!row.ok() && row.status().retryable() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    if (!row.ok()) {
      std::string hint = row.status().retryable() ? "" : "; is " + dir.string() + " writable?";
      return OpenError(path, "cannot switch to WAL: " + row.message() + hint);
    }
    std::string mode = *row ? wal->Text(0) : std::string();
    if (mode != "wal") {
      return OpenError(path, "cannot switch to WAL (journal mode is " + mode + ")");
    }
    break;
  }
  GALE_TRY(conn->Exec(options.sqlite_sync_full ? "PRAGMA synchronous = FULL"
                                               : "PRAGMA synchronous = NORMAL"));
  if (Status s = sqlite::Migrate(*conn, path); !s) {
    if (s.message().rfind(path, 0) == 0) return s;
    return OpenError(path, s.message());
  }
  return StorePtr(std::make_unique<SqliteStore>(path, options, std::move(conn)));
}

}  // namespace gale::store

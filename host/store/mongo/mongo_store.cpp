// The MongoDB store.
//
// Compare-and-set without relying on atomic filtered updates: FerretDB 1.x (the MongoDB-protocol
// server of the test services) runs update and findAndModify as "query, then write by _id", so
// two concurrent filtered updates can both match. The one write both it and MongoDB make atomic
// is an insert with a unique _id. So every record that needs compare-and-set (executions,
// leases, dedupe keys) is a chain of revision documents `<key>#<rev>` in `<collection>_revs`:
// whoever inserts revision r+1 first has made the change from revision r; the others get a
// duplicate key, re-read and re-decide. The head document in `<collection>` (found by _id) carries
// the latest state for queries and is brought up to date after each change; a reader follows
// the chain past the head by _id, so a head that lags (a writer died between the two writes)
// never hides a change from a compare-and-set or a Get.
//
// All hot-path reads are by _id (FerretDB pushes only `{_id: x}` down to its storage).
#include "host/store/mongo/mongo_store.h"

#include <mongoc/mongoc.h>

#include <cstdio>
#include <mutex>
#include <type_traits>
#include <unordered_map>

#include "host/store/internal.h"
#include "host/store/mongo/bson_doc.h"

#define GALE_TRY(expr)                              \
  do {                                              \
    if (::gale::Status _s = (expr); !_s) return _s; \
  } while (0)

namespace gale::store {
namespace {

using internal::DumpJson;
using internal::ParseJson;
using mongo::Doc;
using mongo::Reply;
using mongo::View;

constexpr int kMaxCasRounds = 1000;
// A head is repaired by a reader only when the revision it lags behind is this old (so a reader
// does not race the writer that is about to update the head itself).
constexpr int64_t kHeadRepairAfterMs = 2000;

void InitDriver() {
  static std::once_flag once;
  std::call_once(once, [] {
    mongoc_init();
    // The driver logs its server monitoring at debug level to stderr by default; keep only
    // warnings and worse (errors reach callers as Status anyway).
    mongoc_log_set_handler(
        [](mongoc_log_level_t level, const char* domain, const char* message, void*) {
          if (level <= MONGOC_LOG_LEVEL_WARNING) {
            std::fprintf(stderr, "mongoc %s: %s\n", domain, message);
          }
        },
        nullptr);
  });
}

bool IsDuplicateKey(const bson_error_t& e) {
  return e.code == 11000 || e.code == 11001 || e.code == 12582;
}

bool IsRetryable(const bson_error_t& e, const bson_t* reply) {
  if (e.domain == MONGOC_ERROR_STREAM || e.domain == MONGOC_ERROR_SERVER_SELECTION) return true;
  if (reply != nullptr && (mongoc_error_has_label(reply, "RetryableWriteError") ||
                           mongoc_error_has_label(reply, "TransientTransactionError"))) {
    return true;
  }
  switch (e.code) {
    case 6:      // HostUnreachable
    case 7:      // HostNotFound
    case 64:     // WriteConcernFailed (wtimeout)
    case 89:     // NetworkTimeout
    case 91:     // ShutdownInProgress
    case 189:    // PrimarySteppedDown
    case 262:    // ExceededTimeLimit
    case 9001:   // SocketException
    case 10107:  // NotWritablePrimary
    case 11600:  // InterruptedAtShutdown
    case 11602:  // InterruptedDueToReplStateChange
    case 13435:  // NotPrimaryNoSecondaryOk
    case 13436:  // NotPrimaryOrSecondary
      return true;
    default:
      return false;
  }
}

std::string Pad(int64_t n) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%012lld", static_cast<long long>(n));
  return buf;
}

std::string RevId(const std::string& key, int64_t rev) {
  return key + "#" + Pad(rev);
}

Doc StatusIn(const std::vector<ExecStatus>& statuses) {
  std::vector<std::string> names;
  for (ExecStatus s : statuses) names.emplace_back(ToString(s));
  Doc in;
  in.Arr("$in", mongo::StrArray(names));
  return in;
}

// ---- record <-> document

// The part of an execution that changes after creation: one revision each.
struct ExecState {
  ExecStatus status = ExecStatus::kRequested;
  std::string node;
  TimeMs lease_expires_at = 0;
  TimeMs started_at = 0;
  TimeMs finished_at = 0;
  std::string result = "null";  // JSON text
  int attempt = 0;
  std::vector<StatusChange> log;
};

Doc ToDoc(const ExecState& s) {
  std::vector<Doc> log;
  for (const StatusChange& c : s.log) {
    log.push_back(
        std::move(Doc().Str("status", ToString(c.status)).Time("at", c.at).Str("node", c.node)));
  }
  Doc d;
  d.Str("status", ToString(s.status))
      .Str("node", s.node)
      .Time("lease_expires_at", s.lease_expires_at);
  d.Time("started_at", s.started_at).Time("finished_at", s.finished_at).Str("result", s.result);
  d.Int32("attempt", s.attempt).Arr("log", mongo::DocArray(log));
  return d;
}

ExecState ExecStateFrom(const View& v) {
  ExecState s;
  s.status = ParseExecStatus(v.Str("status")).value_or(ExecStatus::kRequested);
  s.node = v.Str("node");
  s.lease_expires_at = v.Int("lease_expires_at");
  s.started_at = v.Int("started_at");
  s.finished_at = v.Int("finished_at");
  s.result = v.Has("result") ? v.Str("result") : "null";
  s.attempt = static_cast<int>(v.Int("attempt"));
  v.ForEachDoc("log", [&](const View& e) {
    s.log.push_back({ParseExecStatus(e.Str("status")).value_or(ExecStatus::kRequested), e.Int("at"),
                     e.Str("node")});
  });
  return s;
}

Execution ExecutionFrom(const View& head, const ExecState& s) {
  Execution e;
  e.id = head.Str("_id");
  e.action = head.Str("action");
  e.parameters = ParseJson(head.Str("parameters"));
  e.rule = head.Str("rule");
  e.trigger_instance = head.Str("trigger_instance");
  e.trace_id = head.Str("trace_id");
  e.requested_at = head.Int("requested_at");
  e.status = s.status;
  e.node = s.node;
  e.lease_expires_at = s.lease_expires_at;
  e.started_at = s.started_at;
  e.finished_at = s.finished_at;
  e.result = ParseJson(s.result);
  e.attempt = s.attempt;
  e.log = s.log;
  return e;
}

struct LeaseState {
  std::string holder;
  TimeMs expires_at = 0;
};
Doc ToDoc(const LeaseState& s) {
  Doc d;
  d.Str("holder", s.holder).Time("expires_at", s.expires_at);
  return d;
}
LeaseState LeaseStateFrom(const View& v) {
  return {v.Str("holder"), v.Int("expires_at")};
}

struct DedupeState {
  TimeMs expires_at = 0;
};
Doc ToDoc(const DedupeState& s) {
  Doc d;
  d.Time("expires_at", s.expires_at);
  return d;
}
DedupeState DedupeStateFrom(const View& v) {
  return {v.Int("expires_at")};
}

TriggerInstance TriggerFrom(const View& v) {
  TriggerInstance t;
  t.id = v.Str("_id");
  t.trigger = v.Str("trigger");
  t.payload = ParseJson(v.Str("payload"));
  t.occurred_at = v.Int("occurred_at");
  t.dedupe_key = v.Str("dedupe_key");
  t.sensor = v.Str("sensor");
  t.node = v.Str("node");
  t.trace_id = v.Str("trace_id");
  t.status = ParseTriggerStatus(v.Str("status")).value_or(TriggerStatus::kPending);
  return t;
}

KeyValue KeyFrom(const View& v) {
  KeyValue kv;
  kv.name = v.Bin("name");
  kv.value = v.Bin("value");
  kv.scope = ParseKeyScope(v.Str("scope")).value_or(KeyScope::kSystem);
  kv.user = v.Str("user");
  kv.expire_at = v.Int("expire_at");
  kv.secret = v.Bool("secret");
  kv.updated_at = v.Int("updated_at");
  return kv;
}

std::string KeyId(KeyScope scope, const std::string& user, const std::string& name) {
  return std::string(ToString(scope)) + ":" + internal::Hex(internal::KeyUser(scope, user)) + ":" +
         internal::Hex(name);
}

bool Live(const KeyValue& kv, TimeMs now) {
  return kv.expire_at == 0 || kv.expire_at > now;
}

NodeInfo NodeFrom(const View& v) {
  return {v.Str("_id"), v.StrArray("roles"), v.Int("started_at"), v.Int("heartbeat_at"),
          ParseJson(v.Str("info"))};
}

SensorStatus SensorFrom(const View& v) {
  return {v.Str("_id"),        v.Str("node"),
          v.Str("state"),      static_cast<int>(v.Int("restarts")),
          v.Str("last_error"), v.Int("updated_at")};
}

// ---- the store

class MongoStore final : public Store {
 public:
  MongoStore(mongoc_uri_t* uri, mongoc_client_pool_t* pool, std::string db, std::string url,
             bool guarded_heads)
      : uri_(uri),
        pool_(pool),
        db_(std::move(db)),
        url_(std::move(url)),
        guarded_heads_(guarded_heads) {}

  ~MongoStore() override {
    mongoc_client_pool_destroy(pool_);
    mongoc_uri_destroy(uri_);
  }

  std::string_view backend() const override { return "mongodb"; }

  // ---- trigger instances

  Result<bool> InsertTriggerInstance(const TriggerInstance& t) override {
    GALE_TRY(internal::CheckTriggerInstance(t));
    Doc d;
    d.Str("_id", t.id).Str("trigger", t.trigger).Str("payload", DumpJson(t.payload));
    d.Time("occurred_at", t.occurred_at).Str("dedupe_key", t.dedupe_key).Str("sensor", t.sensor);
    d.Str("node", t.node).Str("trace_id", t.trace_id).Str("status", ToString(t.status));
    return Insert("trigger_instances", d, "insert trigger instance " + t.id);
  }

  Result<std::optional<TriggerInstance>> GetTriggerInstance(const std::string& id) override {
    auto doc = FindById("trigger_instances", id, "get trigger instance " + id);
    if (!doc.ok()) return doc.status();
    if (!*doc) return std::optional<TriggerInstance>();
    return std::optional<TriggerInstance>(TriggerFrom(View((*doc)->get())));
  }

  Result<bool> SetTriggerInstanceStatus(const std::string& id, TriggerStatus status) override {
    Doc filter, set, update;
    filter.Str("_id", id);
    set.Str("status", ToString(status));
    update.Sub("$set", set);
    auto r =
        Update("trigger_instances", filter, update, false, "set status of trigger instance " + id);
    if (!r.ok()) return r.status();
    return r->matched > 0;
  }

  Result<Page<TriggerInstance>> ListTriggerInstances(const TriggerInstanceQuery& q) override {
    Doc filter;
    if (!q.trigger.empty()) filter.Str("trigger", q.trigger);
    return ListNewestFirst<TriggerInstance>("trigger_instances", filter, "occurred_at", q.since,
                                            q.until, q.cursor, q.limit, q.offset, TriggerFrom,
                                            "list trigger instances");
  }

  // ---- executions

  Result<bool> CreateExecution(const Execution& e) override {
    GALE_TRY(internal::CheckExecution(e));
    ExecState s;
    s.status = e.status;
    s.node = e.node;
    s.lease_expires_at = e.lease_expires_at;
    s.started_at = e.started_at;
    s.finished_at = e.finished_at;
    s.result = DumpJson(e.result);
    s.attempt = e.attempt;
    s.log = e.log.empty() ? std::vector<StatusChange>{{e.status, e.requested_at, e.node}} : e.log;
    Doc d = ToDoc(s);
    d.Str("_id", e.id).Str("action", e.action).Str("parameters", DumpJson(e.parameters));
    d.Str("rule", e.rule).Str("trigger_instance", e.trigger_instance).Str("trace_id", e.trace_id);
    d.Time("requested_at", e.requested_at).Int("rev", 0);
    return Insert("executions", d, "create execution " + e.id);
  }

  Result<std::optional<Execution>> GetExecution(const std::string& id) override {
    auto loaded = Load<ExecState>("executions", id, ExecStateFrom, "get execution " + id);
    if (!loaded.ok()) return loaded.status();
    if (!*loaded || !(*loaded)->head) return std::optional<Execution>();
    return std::optional<Execution>(ExecutionFrom(View((*loaded)->head->get()), (*loaded)->state));
  }

  Result<bool> ClaimExecution(const std::string& id, const std::string& node,
                              TimeMs lease_expires_at, TimeMs now) override {
    return CasExecution(id, "claim execution " + id, [&](ExecState& s) {
      if (s.status != ExecStatus::kRequested && s.status != ExecStatus::kScheduled) return false;
      s.status = ExecStatus::kRunning;
      s.node = node;
      s.lease_expires_at = lease_expires_at;
      s.started_at = now;
      s.attempt += 1;
      s.log.push_back({ExecStatus::kRunning, now, node});
      return true;
    });
  }

  Result<bool> RenewLease(const std::string& id, const std::string& node,
                          TimeMs lease_expires_at) override {
    return CasExecution(id, "renew lease of execution " + id, [&](ExecState& s) {
      if (s.status != ExecStatus::kRunning && s.status != ExecStatus::kCanceling) return false;
      if (s.node != node) return false;
      s.lease_expires_at = lease_expires_at;
      return true;
    });
  }

  Result<bool> TransitionExecution(const Transition& t) override {
    GALE_TRY(internal::CheckTransition(t));
    return CasExecution(t.id,
                        "set status of execution " + t.id + " to " + std::string(ToString(t.to)),
                        [&](ExecState& s) {
                          bool from_ok = false;
                          for (ExecStatus f : t.from) from_ok = from_ok || f == s.status;
                          if (!from_ok || (t.node && s.node != *t.node)) return false;
                          s.status = t.to;
                          if (IsFinal(t.to)) s.finished_at = t.at;
                          if (t.to == ExecStatus::kRunning) s.started_at = t.at;
                          if (t.result) s.result = DumpJson(*t.result);
                          s.log.push_back({t.to, t.at, t.node.value_or("")});
                          return true;
                        });
  }

  Result<std::vector<Execution>> MarkAbandoned(TimeMs now, size_t limit) override {
    if (limit == 0) limit = 1000;
    Doc lease, filter, opts, projection;
    lease.Time("$gt", 0).Time("$lt", now);
    filter.Sub("status", StatusIn(internal::LeasedStatuses())).Sub("lease_expires_at", lease);
    projection.Int32("_id", 1);
    opts.Sub("projection", projection).Int("limit", static_cast<int64_t>(limit));
    auto ids = Find<std::string>(
        "executions", filter, opts, [](const View& v) { return v.Str("_id"); },
        "find expired leases");
    if (!ids.ok()) return ids.status();
    std::vector<Execution> changed;
    for (const std::string& id : *ids) {
      auto r = CasExecution(id, "mark execution " + id + " abandoned", [&](ExecState& s) {
        if (s.status != ExecStatus::kRunning && s.status != ExecStatus::kCanceling) return false;
        if (s.lease_expires_at <= 0 || s.lease_expires_at >= now) return false;
        s.status = ExecStatus::kAbandoned;
        s.finished_at = now;
        s.log.push_back({ExecStatus::kAbandoned, now, ""});
        return true;
      });
      if (!r.ok()) return r.status();
      if (!*r) continue;
      auto e = GetExecution(id);
      if (!e.ok()) return e.status();
      if (*e) changed.push_back(std::move(**e));
    }
    return changed;
  }

  Result<Page<Execution>> ListExecutions(const ExecutionQuery& q) override {
    Doc filter;
    if (!q.statuses.empty()) filter.Sub("status", StatusIn(q.statuses));
    if (!q.action.empty()) filter.Str("action", q.action);
    if (!q.rule.empty()) filter.Str("rule", q.rule);
    if (!q.trigger_instance.empty()) filter.Str("trigger_instance", q.trigger_instance);
    return ListNewestFirst<Execution>(
        "executions", filter, "requested_at", q.since, q.until, q.cursor, q.limit, q.offset,
        [](const View& v) { return ExecutionFrom(v, ExecStateFrom(v)); }, "list executions");
  }

  // ---- output

  Result<int64_t> AppendOutput(const std::string& execution_id, const std::string& stream,
                               const std::string& data, TimeMs at) override {
    GALE_TRY(internal::CheckId("execution id", execution_id));
    if (data.size() > kMaxOutputChunkBytes) {
      return Status::Error("output chunk of " + std::to_string(data.size()) +
                           " bytes is more than the " + std::to_string(kMaxOutputChunkBytes) +
                           " allowed; split it");
    }
    const std::string op = "append output of execution " + execution_id;
    int64_t seq = 0;
    {
      std::lock_guard lock(seq_mu_);
      auto it = next_seq_.find(execution_id);
      if (it != next_seq_.end()) seq = it->second;
    }
    if (seq == 0) {
      Doc filter, sort, opts;
      filter.Str("execution_id", execution_id);
      sort.Int32("seq", -1);
      opts.Sub("sort", sort).Int("limit", 1);
      auto last = Find<int64_t>(
          "execution_output", filter, opts, [](const View& v) { return v.Int("seq"); }, op);
      if (!last.ok()) return last.status();
      seq = last->empty() ? 1 : last->front() + 1;
    }
    // A duplicate means another writer took that number (and its chunk is stored): take the
    // next one. So a number is only used once the one before it is visible: no gaps for readers.
    for (int round = 0; round < 100000; ++round, ++seq) {
      Doc d;
      d.Str("_id", RevId(execution_id, seq)).Str("execution_id", execution_id).Int("seq", seq);
      d.Str("stream", stream).Bin("data", data).Time("at", at);
      auto inserted = Insert("execution_output", d, op);
      if (!inserted.ok()) return inserted.status();
      if (*inserted) {
        std::lock_guard lock(seq_mu_);
        if (next_seq_.size() > 10000) next_seq_.clear();
        int64_t& next = next_seq_[execution_id];
        next = std::max(next, seq + 1);
        return seq;
      }
    }
    return Status::Error("mongodb store " + url_ + ": " + op + ": no free sequence number", true);
  }

  Result<std::vector<OutputChunk>> ReadOutput(const std::string& execution_id, int64_t after_seq,
                                              size_t limit) override {
    Doc filter, gt, sort, opts;
    gt.Int("$gt", after_seq);
    filter.Str("execution_id", execution_id).Sub("seq", gt);
    sort.Int32("seq", 1);
    opts.Sub("sort", sort).Int("limit", static_cast<int64_t>(limit == 0 ? 1000 : limit));
    return Find<OutputChunk>(
        "execution_output", filter, opts,
        [](const View& v) {
          return OutputChunk{v.Str("execution_id"), v.Int("seq"), v.Str("stream"), v.Bin("data"),
                             v.Int("at")};
        },
        "read output of execution " + execution_id);
  }

  // ---- datastore

  Result<std::optional<KeyValue>> GetKey(const KeyRef& ref, TimeMs now) override {
    auto doc = FindById("kv", KeyId(ref.scope, ref.user, ref.name), "get datastore key");
    if (!doc.ok()) return doc.status();
    if (!*doc) return std::optional<KeyValue>();
    KeyValue kv = KeyFrom(View((*doc)->get()));
    if (!Live(kv, now)) return std::optional<KeyValue>();
    return std::optional<KeyValue>(std::move(kv));
  }

  Status SetKey(const KeyValue& kv, TimeMs now) override {
    GALE_TRY(internal::CheckKeyValue(kv));
    std::string user = internal::KeyUser(kv.scope, kv.user);
    Doc filter, set, update;
    filter.Str("_id", KeyId(kv.scope, user, kv.name));
    set.Str("scope", ToString(kv.scope)).Str("user", user).Bin("name", kv.name);
    set.Str("name_hex", internal::Hex(kv.name)).Bin("value", kv.value).Bool("secret", kv.secret);
    set.Time("expire_at", kv.expire_at).Time("updated_at", now);
    update.Sub("$set", set);
    // Two first writers of one key may both try to insert it: the loser's upsert fails with a
    // duplicate key, and its retry is an update.
    for (int round = 0;; ++round) {
      auto r = Update("kv", filter, update, true, "set datastore key", round < 3);
      if (r.ok() && r->duplicate) continue;
      return r.ok() ? Status::Ok() : r.status();
    }
  }

  Result<bool> DeleteKey(const KeyRef& ref) override {
    Doc filter;
    filter.Str("_id", KeyId(ref.scope, ref.user, ref.name));
    auto n = Delete("kv", filter, "delete datastore key");
    if (!n.ok()) return n.status();
    return *n > 0;
  }

  Result<std::vector<KeyValue>> ListKeys(KeyScope scope, const std::string& user,
                                         const std::string& prefix, TimeMs now) override {
    std::string hex = internal::Hex(prefix);
    Doc range, filter, sort, opts;
    range.Str("$gte", hex).Str("$lt", hex + "g");  // hex digits sort below 'g'
    filter.Str("scope", ToString(scope)).Str("user", internal::KeyUser(scope, user));
    filter.Sub("name_hex", range);
    sort.Int32("name_hex", 1);
    opts.Sub("sort", sort);
    auto all = Find<KeyValue>("kv", filter, opts, KeyFrom, "list datastore keys");
    if (!all.ok()) return all.status();
    std::vector<KeyValue> live;
    for (KeyValue& kv : *all) {
      if (Live(kv, now)) live.push_back(std::move(kv));
    }
    return live;
  }

  // ---- dedupe

  Result<bool> InsertDedupeKey(const std::string& key, TimeMs window, TimeMs now) override {
    if (key.empty()) return Status::Error("dedupe key is empty");
    if (window <= 0) return Status::Error("dedupe window must be positive");
    return Cas<DedupeState>("dedupe_keys", internal::Hex(key), DedupeStateFrom, true,
                            "insert dedupe key", [&](bool exists, DedupeState& s) {
                              if (exists && s.expires_at > now) return false;
                              s.expires_at = now + window;
                              return true;
                            });
  }

  // ---- nodes and sensors

  Status Heartbeat(const NodeInfo& node) override {
    GALE_TRY(internal::CheckId("node name", node.name));
    Doc filter, set, update;
    filter.Str("_id", node.name);
    set.Arr("roles", mongo::StrArray(node.roles)).Time("started_at", node.started_at);
    set.Time("heartbeat_at", node.heartbeat_at).Str("info", DumpJson(node.info));
    update.Sub("$set", set);
    return Upsert("nodes", filter, update, "heartbeat of node " + node.name);
  }

  Result<std::optional<NodeInfo>> GetNode(const std::string& name) override {
    auto doc = FindById("nodes", name, "get node " + name);
    if (!doc.ok()) return doc.status();
    if (!*doc) return std::optional<NodeInfo>();
    return std::optional<NodeInfo>(NodeFrom(View((*doc)->get())));
  }

  Result<std::vector<NodeInfo>> ListNodes() override {
    Doc filter, sort, opts;
    sort.Int32("_id", 1);
    opts.Sub("sort", sort);
    return Find<NodeInfo>("nodes", filter, opts, NodeFrom, "list nodes");
  }

  Status PutSensorStatus(const SensorStatus& st) override {
    GALE_TRY(internal::CheckId("sensor ref", st.ref));
    Doc filter, set, update;
    filter.Str("_id", st.ref);
    set.Str("node", st.node).Str("state", st.state).Int32("restarts", st.restarts);
    set.Str("last_error", st.last_error).Time("updated_at", st.updated_at);
    update.Sub("$set", set);
    return Upsert("sensors", filter, update, "put status of sensor " + st.ref);
  }

  Result<std::optional<SensorStatus>> GetSensorStatus(const std::string& ref) override {
    auto doc = FindById("sensors", ref, "get status of sensor " + ref);
    if (!doc.ok()) return doc.status();
    if (!*doc) return std::optional<SensorStatus>();
    return std::optional<SensorStatus>(SensorFrom(View((*doc)->get())));
  }

  Result<std::vector<SensorStatus>> ListSensorStatus(const std::string& node) override {
    Doc filter, sort, opts;
    if (!node.empty()) filter.Str("node", node);
    sort.Int32("_id", 1);
    opts.Sub("sort", sort);
    return Find<SensorStatus>("sensors", filter, opts, SensorFrom, "list sensors");
  }

  // ---- leases

  Result<bool> TryAcquireLease(const std::string& name, const std::string& holder, TimeMs ttl,
                               TimeMs now) override {
    GALE_TRY(internal::CheckId("lease name", name));
    GALE_TRY(internal::CheckId("lease holder", holder));
    if (ttl <= 0) return Status::Error("lease ttl must be positive");
    return Cas<LeaseState>("leases", name, LeaseStateFrom, true, "acquire lease " + name,
                           [&](bool exists, LeaseState& s) {
                             if (exists && s.holder != holder && s.expires_at > now) return false;
                             s.holder = holder;
                             s.expires_at = now + ttl;
                             return true;
                           });
  }

  Result<bool> ReleaseLease(const std::string& name, const std::string& holder) override {
    return Cas<LeaseState>("leases", name, LeaseStateFrom, true, "release lease " + name,
                           [&](bool exists, LeaseState& s) {
                             if (!exists || s.holder != holder) return false;
                             s.holder.clear();
                             s.expires_at = 0;
                             return true;
                           });
  }

  // ---- garbage collection

  Result<GcCounts> CollectGarbage(const GcPolicy& policy, TimeMs now) override {
    GcCounts counts;
    if (policy.executions_ttl > 0) {
      Doc finished, filter, opts, projection;
      finished.Time("$gt", 0).Time("$lt", now - policy.executions_ttl);
      filter.Sub("status", StatusIn(internal::FinalStatuses())).Sub("finished_at", finished);
      projection.Int32("_id", 1);
      opts.Sub("projection", projection).Int("limit", 500);
      while (true) {
        auto ids = Find<std::string>(
            "executions", filter, opts, [](const View& v) { return v.Str("_id"); },
            "collect executions");
        if (!ids.ok()) return ids.status();
        if (ids->empty()) break;
        Doc in_ids;
        in_ids.Arr("$in", mongo::StrArray(*ids));
        Doc by_execution, by_key, by_id;
        by_execution.Sub("execution_id", in_ids);
        by_key.Sub("key", in_ids);
        by_id.Sub("_id", in_ids);
        auto output = Delete("execution_output", by_execution, "collect output");
        if (!output.ok()) return output.status();
        counts.output_chunks += *output;
        auto revs = Delete("executions_revs", by_key, "collect execution revisions");
        if (!revs.ok()) return revs.status();
        auto heads = Delete("executions", by_id, "collect executions");
        if (!heads.ok()) return heads.status();
        counts.executions += *heads;
        if (ids->size() < 500) break;
      }
    }
    auto delete_older = [&](const char* collection, const char* field, TimeMs bound,
                            int64_t& count) -> Status {
      Doc lt, filter;
      lt.Time("$lt", bound);
      filter.Sub(field, lt);
      auto n = Delete(collection, filter, std::string("collect ") + collection);
      if (!n.ok()) return n.status();
      count += *n;
      return Status::Ok();
    };
    if (policy.output_ttl > 0) {
      GALE_TRY(
          delete_older("execution_output", "at", now - policy.output_ttl, counts.output_chunks));
    }
    if (policy.trigger_instances_ttl > 0) {
      GALE_TRY(delete_older("trigger_instances", "occurred_at", now - policy.trigger_instances_ttl,
                            counts.trigger_instances));
    }
    {
      Doc expired, filter;
      expired.Time("$gt", 0).Time("$lte", now);
      filter.Sub("expire_at", expired);
      auto n = Delete("kv", filter, "collect expired datastore keys");
      if (!n.ok()) return n.status();
      counts.keys += *n;
    }
    auto dedupe = CollectDedupeKeys(now);
    if (!dedupe.ok()) return dedupe.status();
    counts.dedupe_keys = *dedupe;
    GALE_TRY(PruneLeaseRevisions());
    return counts;
  }

 private:
  struct UpdateResult {
    int64_t matched = 0;
    bool duplicate = false;
  };

  // A client from the pool and one of its collections, both given back on destruction.
  class Coll {
   public:
    Coll(mongoc_client_pool_t* pool, const std::string& db, const std::string& name)
        : pool_(pool),
          client_(mongoc_client_pool_pop(pool)),
          coll_(mongoc_client_get_collection(client_, db.c_str(), name.c_str())) {}
    ~Coll() {
      mongoc_collection_destroy(coll_);
      mongoc_client_pool_push(pool_, client_);
    }
    Coll(const Coll&) = delete;
    Coll& operator=(const Coll&) = delete;
    mongoc_collection_t* get() const { return coll_; }

   private:
    mongoc_client_pool_t* pool_;
    mongoc_client_t* client_;
    mongoc_collection_t* coll_;
  };

  template <class State>
  struct Loaded {
    std::optional<Doc> head;  // the head document as stored, if there is one
    bool exists = false;      // a head or at least one revision
    int64_t rev = 0;
    State state;
  };

  Status Fail(const std::string& op, const bson_error_t& e, const bson_t* reply) const {
    return Status::Error("mongodb store " + url_ + ": " + op + ": " + e.message,
                         IsRetryable(e, reply));
  }

  // True when inserted, false on a duplicate _id.
  Result<bool> Insert(const std::string& collection, const Doc& doc, const std::string& op) {
    Coll c(pool_, db_, collection);
    bson_error_t error;
    Reply reply;
    if (mongoc_collection_insert_one(c.get(), doc.get(), nullptr, reply.get(), &error)) {
      return true;
    }
    if (IsDuplicateKey(error)) return false;
    return Fail(op, error, reply.get());
  }

  Result<UpdateResult> Update(const std::string& collection, const Doc& filter, const Doc& update,
                              bool upsert, const std::string& op, bool allow_duplicate = true) {
    Coll c(pool_, db_, collection);
    Doc opts;
    Reply reply;
    if (upsert) opts.Bool("upsert", true);
    bson_error_t error;
    if (!mongoc_collection_update_one(c.get(), filter.get(), update.get(), opts.get(), reply.get(),
                                      &error)) {
      if (allow_duplicate && IsDuplicateKey(error)) return UpdateResult{0, true};
      // FerretDB reports a losing concurrent upsert as an internal error, not a duplicate.
      if (allow_duplicate && upsert &&
          std::string(error.message).find("uplicate") != std::string::npos) {
        return UpdateResult{0, true};
      }
      return Fail(op, error, reply.get());
    }
    View r(reply.get());
    return UpdateResult{r.Int("matchedCount") + r.Int("upsertedCount"), false};
  }

  // Last-writer-wins upsert by _id (nodes, sensors).
  Status Upsert(const std::string& collection, const Doc& filter, const Doc& update,
                const std::string& op) {
    for (int round = 0;; ++round) {
      auto r = Update(collection, filter, update, true, op, round < 3);
      if (r.ok() && r->duplicate) continue;
      return r.ok() ? Status::Ok() : r.status();
    }
  }

  Result<int64_t> Delete(const std::string& collection, const Doc& filter, const std::string& op) {
    Coll c(pool_, db_, collection);
    Reply reply;
    bson_error_t error;
    if (!mongoc_collection_delete_many(c.get(), filter.get(), nullptr, reply.get(), &error)) {
      return Fail(op, error, reply.get());
    }
    return View(reply.get()).Int("deletedCount");
  }

  template <class T, class F>
  Result<std::vector<T>> Find(const std::string& collection, const Doc& filter, const Doc& opts,
                              F read, const std::string& op) {
    Coll c(pool_, db_, collection);
    mongoc_cursor_t* cursor =
        mongoc_collection_find_with_opts(c.get(), filter.get(), opts.get(), nullptr);
    std::vector<T> out;
    const bson_t* doc = nullptr;
    while (mongoc_cursor_next(cursor, &doc)) out.push_back(read(View(doc)));
    bson_error_t error;
    const bson_t* reply = nullptr;
    if (mongoc_cursor_error_document(cursor, &error, &reply)) {
      Status s = Fail(op, error, reply);
      mongoc_cursor_destroy(cursor);
      return s;
    }
    mongoc_cursor_destroy(cursor);
    return out;
  }

  Result<std::optional<Doc>> FindById(const std::string& collection, const std::string& id,
                                      const std::string& op) {
    Doc filter, opts;
    filter.Str("_id", id);
    opts.Int("limit", 1);
    Coll c(pool_, db_, collection);
    mongoc_cursor_t* cursor =
        mongoc_collection_find_with_opts(c.get(), filter.get(), opts.get(), nullptr);
    std::optional<Doc> out;
    const bson_t* doc = nullptr;
    if (mongoc_cursor_next(cursor, &doc)) {
      out.emplace();
      bson_concat(out->get(), doc);
    }
    bson_error_t error;
    const bson_t* reply = nullptr;
    if (mongoc_cursor_error_document(cursor, &error, &reply)) {
      Status s = Fail(op, error, reply);
      mongoc_cursor_destroy(cursor);
      return s;
    }
    mongoc_cursor_destroy(cursor);
    return out;
  }

  // The latest state of `key`, read by _id: the head says which revision it reflects; the state
  // itself comes from that revision's document and any after it. Revision documents are written
  // once and never change, so this holds even on a server that lets a reader see a document
  // half-updated (mongo-java-server does); the head's own copy of the state is only used at
  // revision 0, when no revision document exists yet (and so nobody is updating the head).
  template <class State, class FromView>
  Result<std::optional<Loaded<State>>> Load(const std::string& collection, const std::string& key,
                                            FromView from_view, const std::string& op) {
    auto head = FindById(collection, key, op);
    if (!head.ok()) return head.status();
    Loaded<State> loaded;
    if (*head) {
      View v((*head)->get());
      loaded.exists = true;
      loaded.rev = v.Int("rev");
      loaded.state = from_view(v);
      loaded.head = std::move(*head);
    }
    const int64_t head_rev = loaded.rev;
    int64_t written_at = 0;
    auto read_rev = [&](int64_t rev, bool* found) -> Status {
      auto doc = FindById(collection + "_revs", RevId(key, rev), op);
      if (!doc.ok()) return doc.status();
      *found = doc->has_value();
      if (!*found) return Status::Ok();
      bson_iter_t it;
      if (bson_iter_init_find(&it, (*doc)->get(), "state") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        uint32_t len = 0;
        const uint8_t* data = nullptr;
        bson_iter_document(&it, &len, &data);
        bson_t state;
        if (data != nullptr && bson_init_static(&state, data, len)) {
          loaded.state = from_view(View(&state));
        }
      }
      written_at = View((*doc)->get()).Int("written_at");
      return Status::Ok();
    };
    if (head_rev > 0) {
      bool found = false;
      GALE_TRY(read_rev(head_rev, &found));  // absent only once collected: the head's copy stands
    }
    while (true) {
      bool found = false;
      GALE_TRY(read_rev(loaded.rev + 1, &found));
      if (!found) break;
      loaded.exists = true;
      ++loaded.rev;
    }
    if (!loaded.exists) return std::optional<Loaded<State>>();
    // A head left behind by a writer that died before updating it: bring it up to date.
    if (loaded.rev > head_rev && written_at < NowMs() - kHeadRepairAfterMs &&
        (loaded.head || collection != "executions")) {
      WriteHead(collection, key, loaded.rev, ToDoc(loaded.state), collection != "executions");
    }
    return std::optional<Loaded<State>>(std::move(loaded));
  }

  // Best-effort: the revision is what counts; a head that lags is caught up by readers.
  void WriteHead(const std::string& collection, const std::string& key, int64_t rev, Doc state,
                 bool upsert) {
    Doc filter, update;
    filter.Str("_id", key);
    if (guarded_heads_) {
      Doc lt;
      lt.Int("$lt", rev);
      filter.Sub("rev", lt);
    }
    state.Int("rev", rev);
    update.Sub("$set", state);
    (void)Update(collection, filter, update, upsert, "update head of " + key);
  }

  // Compare-and-set on the chain of `key`: `decide(exists, state)` returns whether to change
  // the state it was given (and changes it); true when this call made the change.
  template <class State, class FromView, class Decide>
  Result<bool> Cas(const std::string& collection, const std::string& key, FromView from_view,
                   bool upsert_head, const std::string& op, Decide decide) {
    for (int round = 0; round < kMaxCasRounds; ++round) {
      auto loaded = Load<State>(collection, key, from_view, op);
      if (!loaded.ok()) return loaded.status();
      bool exists = loaded->has_value();
      if (!upsert_head && (!exists || !(*loaded)->head)) return false;  // no such record
      State state = exists ? (*loaded)->state : State{};
      int64_t rev = exists ? (*loaded)->rev : 0;
      if (!decide(exists, state)) return false;
      Doc d;
      d.Str("_id", RevId(key, rev + 1)).Str("key", key).Int("rev", rev + 1);
      d.Time("written_at", NowMs()).Sub("state", ToDoc(state));
      auto inserted = Insert(collection + "_revs", d, op);
      if (!inserted.ok()) return inserted.status();
      if (*inserted) {
        WriteHead(collection, key, rev + 1, ToDoc(state), upsert_head);
        return true;
      }
      // Someone else made revision rev + 1 first: look again.
    }
    return Status::Error("mongodb store " + url_ + ": " + op + ": too much contention", true);
  }

  template <class Decide>
  Result<bool> CasExecution(const std::string& id, const std::string& op, Decide decide) {
    return Cas<ExecState>("executions", id, ExecStateFrom, false, op,
                          [&](bool, ExecState& s) { return decide(s); });
  }

  template <class T, class FromView>
  Result<Page<T>> ListNewestFirst(const std::string& collection, Doc& filter,
                                  const char* time_field, TimeMs since, TimeMs until,
                                  const std::string& cursor, size_t limit, size_t offset,
                                  FromView from_view, const std::string& op) {
    if (since != 0 || until != 0) {
      Doc range;
      if (since != 0) range.Time("$gte", since);
      if (until != 0) range.Time("$lt", until);
      filter.Sub(time_field, range);
    }
    if (!cursor.empty()) {
      auto decoded = internal::DecodeCursor(cursor);
      if (!decoded) return Status::Error("invalid page cursor '" + cursor + "'");
      Doc before, older, same_time, lt_id, either;
      before.Time("$lt", decoded->first);
      older.Sub(time_field, before);
      lt_id.Str("$lt", decoded->second);
      same_time.Time(time_field, decoded->first).Sub("_id", lt_id);
      std::vector<Doc> branches;
      branches.push_back(std::move(older));
      branches.push_back(std::move(same_time));
      filter.Arr("$or", mongo::DocArray(branches));
    }
    limit = internal::ClampLimit(limit);
    Doc sort, opts;
    sort.Int32(time_field, -1).Int32("_id", -1);
    opts.Sub("sort", sort).Int("limit", static_cast<int64_t>(limit + 1));
    if (offset > 0) opts.Int("skip", static_cast<int64_t>(offset));
    auto items = Find<T>(collection, filter, opts, from_view, op);
    if (!items.ok()) return items.status();
    Page<T> page;
    page.items = std::move(*items);
    if (page.items.size() > limit) {
      page.items.resize(limit);
      const T& last = page.items.back();
      if constexpr (std::is_same_v<T, Execution>) {
        page.next_cursor = internal::EncodeCursor(last.requested_at, last.id);
      } else {
        page.next_cursor = internal::EncodeCursor(last.occurred_at, last.id);
      }
    }
    return page;
  }

  // Dedupe chains whose window closed more than kDedupeGcGraceMs ago: their head and revisions.
  Result<int64_t> CollectDedupeKeys(TimeMs now) {
    Doc lte, filter, opts, projection;
    lte.Time("$lte", now - kDedupeGcGraceMs);
    filter.Sub("expires_at", lte);
    projection.Int32("_id", 1);
    opts.Sub("projection", projection).Int("limit", 1000);
    int64_t count = 0;
    auto keys = Find<std::string>(
        "dedupe_keys", filter, opts, [](const View& v) { return v.Str("_id"); },
        "collect dedupe keys");
    if (!keys.ok()) return keys.status();
    for (const std::string& key : *keys) {
      // The head may lag: only a chain whose latest revision is old enough goes.
      auto loaded = Load<DedupeState>("dedupe_keys", key, DedupeStateFrom, "collect dedupe keys");
      if (!loaded.ok()) return loaded.status();
      if (*loaded && (*loaded)->state.expires_at > now - kDedupeGcGraceMs) continue;
      Doc by_key, by_id;
      by_key.Str("key", key);
      by_id.Str("_id", key);
      auto revs = Delete("dedupe_keys_revs", by_key, "collect dedupe keys");
      if (!revs.ok()) return revs.status();
      auto heads = Delete("dedupe_keys", by_id, "collect dedupe keys");
      if (!heads.ok()) return heads.status();
      count += *heads;
    }
    return count;
  }

  // Lease chains grow by one revision per renewal; keep the last few of each.
  Status PruneLeaseRevisions() {
    Doc filter, opts;
    auto heads = Find<std::pair<std::string, int64_t>>(
        "leases", filter, opts,
        [](const View& v) { return std::make_pair(v.Str("_id"), v.Int("rev")); }, "prune leases");
    if (!heads.ok()) return heads.status();
    for (const auto& [name, rev] : *heads) {
      if (rev <= 4) continue;
      Doc lt, old;
      lt.Int("$lt", rev - 3);
      old.Str("key", name).Sub("rev", lt);
      auto n = Delete("leases_revs", old, "prune leases");
      if (!n.ok()) return n.status();
    }
    return Status::Ok();
  }

  mongoc_uri_t* uri_;
  mongoc_client_pool_t* pool_;
  const std::string db_;
  const std::string url_;  // redacted, for messages
  const bool guarded_heads_;
  std::mutex seq_mu_;
  std::unordered_map<std::string, int64_t> next_seq_;  // per execution, a hint only
};

struct IndexSpec {
  const char* collection;
  const char* name;
  std::vector<std::pair<const char*, int>> keys;
};

const std::vector<IndexSpec>& Indexes() {
  static const std::vector<IndexSpec> kIndexes{
      {"executions", "time", {{"requested_at", -1}, {"_id", -1}}},
      {"executions", "status", {{"status", 1}, {"requested_at", -1}}},
      {"executions", "action", {{"action", 1}, {"requested_at", -1}}},
      {"executions", "rule", {{"rule", 1}, {"requested_at", -1}}},
      {"executions", "trigger_instance", {{"trigger_instance", 1}}},
      {"executions", "lease", {{"status", 1}, {"lease_expires_at", 1}}},
      {"executions", "finished", {{"status", 1}, {"finished_at", 1}}},
      {"executions_revs", "key", {{"key", 1}}},
      {"trigger_instances", "time", {{"occurred_at", -1}, {"_id", -1}}},
      {"trigger_instances", "trigger", {{"trigger", 1}, {"occurred_at", -1}}},
      {"execution_output", "seq", {{"execution_id", 1}, {"seq", 1}}},
      {"execution_output", "at", {{"at", 1}}},
      {"kv", "name", {{"scope", 1}, {"user", 1}, {"name_hex", 1}}},
      {"kv", "expiry", {{"expire_at", 1}}},
      {"dedupe_keys", "expiry", {{"expires_at", 1}}},
      {"dedupe_keys_revs", "key", {{"key", 1}}},
      {"leases_revs", "key", {{"key", 1}}},
      {"sensors", "node", {{"node", 1}}},
  };
  return kIndexes;
}

// One index per command: FerretDB 1.24 drops the connection (a panic) when one createIndexes
// names several indexes that all exist already, as on every open but the first.
Status CreateIndexes(mongoc_client_t* client, const std::string& db, const std::string& url) {
  mongoc_database_t* database = mongoc_client_get_database(client, db.c_str());
  Status result = Status::Ok();
  for (const IndexSpec& spec : Indexes()) {
    Doc key, index, cmd;
    Reply reply;
    for (const auto& [field, dir] : spec.keys) key.Int32(field, dir);
    index.Sub("key", key).Str("name", spec.name);
    std::vector<Doc> one;
    one.push_back(std::move(index));
    cmd.Str("createIndexes", spec.collection).Arr("indexes", mongo::DocArray(one));
    bson_error_t error;
    if (!mongoc_database_write_command_with_opts(database, cmd.get(), nullptr, reply.get(),
                                                 &error)) {
      result = Status::Error("mongodb store " + url + ": creating index " + spec.name + " on " +
                                 spec.collection + ": " + error.message,
                             IsRetryable(error, reply.get()));
      break;
    }
  }
  mongoc_database_destroy(database);
  return result;
}

}  // namespace

Result<StorePtr> OpenMongoStore(const std::string& url, const StoreOptions& options) {
  InitDriver();
  const std::string shown = RedactUrl(url);
  bson_error_t error;
  mongoc_uri_t* uri = mongoc_uri_new_with_error(url.c_str(), &error);
  if (uri == nullptr) {
    return Status::Error("mongodb store URL " + shown + " is invalid: " + error.message);
  }
  if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS)) {
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
                                   static_cast<int32_t>(options.server_timeout.count()));
  }
  if (!mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS)) {
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS,
                                   static_cast<int32_t>(options.server_timeout.count()));
  }
  if (!mongoc_uri_has_option(uri, MONGOC_URI_W)) {
    mongoc_write_concern_t* wc = mongoc_write_concern_new();
    if (options.write_concern == "majority") {
      mongoc_write_concern_set_w(wc, MONGOC_WRITE_CONCERN_W_MAJORITY);
    } else {
      int w = std::atoi(options.write_concern.c_str());
      if (w <= 0) {
        mongoc_write_concern_destroy(wc);
        mongoc_uri_destroy(uri);
        return Status::Error("store write concern '" + options.write_concern +
                             "' is not \"majority\" or a number of nodes");
      }
      mongoc_write_concern_set_w(wc, w);
    }
    mongoc_write_concern_set_journal(wc, true);
    mongoc_uri_set_write_concern(uri, wc);
    mongoc_write_concern_destroy(wc);
  }
  const char* db_name = mongoc_uri_get_database(uri);
  std::string db = db_name != nullptr && *db_name != '\0' ? db_name : "gale";

  mongoc_client_pool_t* pool = mongoc_client_pool_new_with_error(uri, &error);
  if (pool == nullptr) {
    mongoc_uri_destroy(uri);
    return Status::Error("mongodb store " + shown + ": " + error.message);
  }
  mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
  mongoc_client_pool_set_appname(pool, "gale");
  mongoc_client_pool_max_size(pool, static_cast<uint32_t>(std::max(1, options.max_connections)));

  // The server must answer now (bounded by the server selection timeout), and accept writes
  // with the configured write concern.
  mongoc_client_t* client = mongoc_client_pool_pop(pool);
  auto fail = [&](Status s) -> Result<StorePtr> {
    mongoc_client_pool_push(pool, client);
    mongoc_client_pool_destroy(pool);
    mongoc_uri_destroy(uri);
    return s;
  };
  Doc ping;
  Reply reply;
  ping.Int32("ping", 1);
  if (!mongoc_client_command_simple(client, "admin", ping.get(), nullptr, reply.get(), &error)) {
    return fail(Status::Error("mongodb store " + shown + " is unreachable: " + error.message,
                              IsRetryable(error, reply.get())));
  }
  Doc build_info;
  Reply info;
  build_info.Int32("buildInfo", 1);
  bool ferretdb = mongoc_client_command_simple(client, "admin", build_info.get(), nullptr,
                                               info.get(), &error) &&
                  View(info.get()).Has("ferretdbVersion");
  {
    mongoc_collection_t* meta = mongoc_client_get_collection(client, db.c_str(), "gale_meta");
    Doc filter, set, update, opts;
    Reply r;
    filter.Str("_id", "schema");
    set.Int32("version", 1);
    update.Sub("$set", set);
    opts.Bool("upsert", true);
    bool ok =
        mongoc_collection_update_one(meta, filter.get(), update.get(), opts.get(), r.get(), &error);
    mongoc_collection_destroy(meta);
    if (!ok && !IsDuplicateKey(error)) {
      return fail(Status::Error("mongodb store " + shown + " refuses writes: " + error.message,
                                IsRetryable(error, r.get())));
    }
  }
  if (Status s = CreateIndexes(client, db, shown); !s) return fail(s);
  mongoc_client_pool_push(pool, client);
  if (ferretdb && options.log) {
    options.log("store " + shown +
                " is FerretDB: lists may show a record's previous status for a moment after a "
                "change (compare-and-set itself is exact)");
  }
  return StorePtr(std::make_unique<MongoStore>(uri, pool, db, shown, !ferretdb));
}

}  // namespace gale::store

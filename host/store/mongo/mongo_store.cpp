// The MongoDB store: records as documents (documents.h), compare-and-set on revision chains
// (chain.h), one database through a client pool (database.h).
#include "host/store/mongo/mongo_store.h"

#include <mutex>
#include <type_traits>
#include <unordered_map>

#include "host/store/internal.h"
#include "host/store/mongo/bson_doc.h"
#include "host/store/mongo/chain.h"
#include "host/store/mongo/database.h"
#include "host/store/mongo/documents.h"
#include "host/store/mongo/policy_slots.h"

namespace gale::store {
namespace {

using internal::DumpJson;
using internal::ParseJson;
using namespace mongo;  // NOLINT: this file is the mongo backend

Doc ExecutionFilter(const ExecutionQuery& q) {
  Doc filter;
  if (!q.statuses.empty()) filter.Sub("status", StatusIn(q.statuses));
  if (!q.action.empty()) filter.Str("action", q.action);
  if (!q.rule.empty()) filter.Str("rule", q.rule);
  if (!q.trigger_instance.empty()) filter.Str("trigger_instance", q.trigger_instance);
  return filter;
}

class MongoStore final : public Store {
 public:
  explicit MongoStore(std::unique_ptr<Database> db) : db_(std::move(db)) {}

  std::string_view backend() const override { return "mongodb"; }

  // ---- trigger instances

  Result<bool> InsertTriggerInstance(const TriggerInstance& t) override {
    Doc d;
    d.Str("_id", t.id).Str("trigger", t.trigger).Str("payload", DumpJson(t.payload));
    d.Time("occurred_at", t.occurred_at).Str("dedupe_key", t.dedupe_key).Str("sensor", t.sensor);
    d.Str("node", t.node).Str("trace_id", t.trace_id).Str("status", ToString(t.status));
    d.Str("trigger_parameters", DumpJson(t.trigger_parameters));
    return db_->Insert("trigger_instances", d, "insert trigger instance " + t.id);
  }

  Result<std::optional<TriggerInstance>> GetTriggerInstance(const std::string& id) override {
    GALE_ASSIGN_OR_RETURN(auto doc,
                          db_->FindById("trigger_instances", id, "get trigger instance " + id));
    if (!doc) return std::optional<TriggerInstance>();
    return std::optional<TriggerInstance>(TriggerFrom(View(doc->get())));
  }

  Result<bool> SetTriggerInstanceStatus(const std::string& id, TriggerStatus status) override {
    Doc filter, set, update;
    filter.Str("_id", id);
    set.Str("status", ToString(status));
    update.Sub("$set", set);
    GALE_ASSIGN_OR_RETURN(auto r, db_->Update("trigger_instances", filter, update, false,
                                              "set status of trigger instance " + id));
    return r.matched > 0;
  }

  Result<Page<TriggerInstance>> ListTriggerInstances(const TriggerInstanceQuery& q) override {
    Doc filter;
    if (!q.trigger.empty()) filter.Str("trigger", q.trigger);
    if (!q.statuses.empty()) filter.Sub("status", StatusIn(q.statuses));
    return ListNewestFirst<TriggerInstance>("trigger_instances", filter, "occurred_at", q.since,
                                            q.until, q.cursor, q.limit, q.offset, TriggerFrom,
                                            "list trigger instances");
  }

  // ---- executions

  Result<bool> CreateExecution(const Execution& e) override {
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
    d.Str("secret_parameters", DumpJson(e.secret_parameters));
    if (!e.parent.empty()) d.Str("parent", e.parent).Str("task", e.task);
    d.Str("rule", e.rule).Str("trigger_instance", e.trigger_instance).Str("trace_id", e.trace_id);
    d.Time("requested_at", e.requested_at).Int("rev", 0);
    if (!e.retry_of.empty()) d.Str("retry_of", e.retry_of).Int32("retry_attempt", e.retry_attempt);
    return db_->Insert("executions", d, "create execution " + e.id);
  }

  Result<std::optional<Execution>> GetExecution(const std::string& id) override {
    auto loaded =
        LoadChain<ExecState>(*db_, "executions", id, ExecStateFrom, "get execution " + id);
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

  // One compare-and-set after another (the server has no transaction to share), each giving
  // back the record from the head it read: nothing is read twice.
  Result<std::vector<Claim>> ClaimExecutions(const std::vector<std::string>& ids,
                                             const std::string& node, TimeMs lease_expires_at,
                                             TimeMs now) override {
    std::vector<Claim> claims;
    claims.reserve(ids.size());
    for (const std::string& id : ids) {
      Claim& claim = claims.emplace_back();
      claim.id = id;
      ExecState after;
      std::optional<Doc> head;
      auto won = CasChain<ExecState>(
          *db_, "executions", id, ExecStateFrom, false, "claim execution " + id,
          [&](bool, ExecState& s) {
            if (s.status != ExecStatus::kRequested && s.status != ExecStatus::kScheduled) {
              return false;
            }
            s.status = ExecStatus::kRunning;
            s.node = node;
            s.lease_expires_at = lease_expires_at;
            s.started_at = now;
            s.attempt += 1;
            s.log.push_back({ExecStatus::kRunning, now, node});
            after = s;
            return true;
          },
          &head);
      if (!won.ok()) {
        claim.status = won.status();
      } else if (*won && head) {
        claim.execution = ExecutionFrom(View(head->get()), after);
      }
    }
    return claims;
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
    GALE_ASSIGN_OR_RETURN(
        auto ids, db_->Find<std::string>(
                      "executions", filter, opts, [](const View& v) { return v.Str("_id"); },
                      "find expired leases"));
    std::vector<Execution> changed;
    for (const std::string& id : ids) {
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
      GALE_ASSIGN_OR_RETURN(auto e, GetExecution(id));
      if (e) changed.push_back(std::move(*e));
    }
    return changed;
  }

  Result<int64_t> CountExecutions(const ExecutionQuery& q) override {
    Doc filter = ExecutionFilter(q);
    if (q.since != 0 || q.until != 0) {
      Doc range;
      if (q.since != 0) range.Time("$gte", q.since);
      if (q.until != 0) range.Time("$lt", q.until);
      filter.Sub("requested_at", range);
    }
    return db_->Count("executions", filter, "count executions");
  }

  Result<Page<Execution>> ListExecutions(const ExecutionQuery& q) override {
    Doc filter = ExecutionFilter(q);
    return ListNewestFirst<Execution>(
        "executions", filter, "requested_at", q.since, q.until, q.cursor, q.limit, q.offset,
        [](const View& v) { return ExecutionFrom(v, ExecStateFrom(v)); }, "list executions");
  }

  // ---- output

  Result<int64_t> AppendOutput(const std::string& execution_id, const std::string& stream,
                               const std::string& data, TimeMs at) override {
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
      GALE_ASSIGN_OR_RETURN(auto last, db_->Find<int64_t>(
                                           "execution_output", filter, opts,
                                           [](const View& v) { return v.Int("seq"); }, op));
      seq = last.empty() ? 1 : last.front() + 1;
    }
    // A duplicate means another writer took that number (and its chunk is stored): take the
    // next one. So a number is only used once the one before it is visible: no gaps for readers.
    for (int round = 0; round < 100000; ++round, ++seq) {
      Doc d;
      d.Str("_id", RevId(execution_id, seq)).Str("execution_id", execution_id).Int("seq", seq);
      d.Str("stream", stream).Bin("data", data).Time("at", at);
      GALE_ASSIGN_OR_RETURN(auto inserted, db_->Insert("execution_output", d, op));
      if (inserted) {
        std::lock_guard lock(seq_mu_);
        if (next_seq_.size() > 10000) next_seq_.clear();
        int64_t& next = next_seq_[execution_id];
        next = std::max(next, seq + 1);
        return seq;
      }
    }
    return Status::Error("mongodb store " + db_->url() + ": " + op + ": no free sequence number",
                         true);
  }

  Result<std::vector<OutputChunk>> ReadOutput(const std::string& execution_id, int64_t after_seq,
                                              size_t limit) override {
    Doc filter, gt, sort, opts;
    gt.Int("$gt", after_seq);
    filter.Str("execution_id", execution_id).Sub("seq", gt);
    sort.Int32("seq", 1);
    opts.Sub("sort", sort).Int("limit", static_cast<int64_t>(limit == 0 ? 1000 : limit));
    return db_->Find<OutputChunk>(
        "execution_output", filter, opts,
        [](const View& v) {
          return OutputChunk{v.Str("execution_id"), v.Int("seq"), v.Str("stream"), v.Bin("data"),
                             v.Int("at")};
        },
        "read output of execution " + execution_id);
  }

  // ---- datastore

  Result<std::optional<KeyValue>> GetKey(const KeyRef& ref, TimeMs now) override {
    GALE_ASSIGN_OR_RETURN(
        auto doc, db_->FindById("kv", KeyId(ref.scope, ref.user, ref.name), "get datastore key"));
    if (!doc) return std::optional<KeyValue>();
    KeyValue kv = KeyFrom(View(doc->get()));
    if (!Live(kv, now)) return std::optional<KeyValue>();
    return std::optional<KeyValue>(std::move(kv));
  }

  Status SetKey(const KeyValue& kv, TimeMs now) override {
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
      auto r = db_->Update("kv", filter, update, true, "set datastore key", round < 3);
      if (r.ok() && r->duplicate) continue;
      return r.ok() ? Status::Ok() : r.status();
    }
  }

  Result<bool> SwapKey(const KeyValue& kv, const std::optional<std::string>& expected,
                       TimeMs now) override {
    std::string user = internal::KeyUser(kv.scope, kv.user);
    Doc doc;
    doc.Str("_id", KeyId(kv.scope, user, kv.name));
    doc.Str("scope", ToString(kv.scope)).Str("user", user).Bin("name", kv.name);
    doc.Str("name_hex", internal::Hex(kv.name)).Bin("value", kv.value).Bool("secret", kv.secret);
    doc.Time("expire_at", kv.expire_at).Time("updated_at", now);
    if (!expected) return db_->Insert("kv", doc, "swap datastore key");  // false: it exists
    Doc filter, set, update;
    filter.Str("_id", KeyId(kv.scope, user, kv.name)).Bin("value", *expected);
    set.Bin("value", kv.value).Bool("secret", kv.secret);
    set.Time("expire_at", kv.expire_at).Time("updated_at", now);
    update.Sub("$set", set);
    GALE_ASSIGN_OR_RETURN(auto r, db_->Update("kv", filter, update, false, "swap datastore key"));
    return r.matched == 1;
  }

  Result<bool> DeleteKey(const KeyRef& ref) override {
    Doc filter;
    filter.Str("_id", KeyId(ref.scope, ref.user, ref.name));
    GALE_ASSIGN_OR_RETURN(auto n, db_->Delete("kv", filter, "delete datastore key"));
    return n > 0;
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
    GALE_ASSIGN_OR_RETURN(auto all,
                          db_->Find<KeyValue>("kv", filter, opts, KeyFrom, "list datastore keys"));
    std::vector<KeyValue> live;
    for (KeyValue& kv : all) {
      if (Live(kv, now)) live.push_back(std::move(kv));
    }
    return live;
  }

  // ---- dedupe

  Result<bool> InsertDedupeKey(const std::string& key, const std::string& owner, TimeMs window,
                               TimeMs now) override {
    return CasChain<DedupeState>(*db_, "dedupe_keys", internal::Hex(key), DedupeStateFrom, true,
                                 "insert dedupe key", [&](bool exists, DedupeState& s) {
                                   if (exists && s.expires_at > now && s.owner != owner) {
                                     return false;
                                   }
                                   s.expires_at = now + window;
                                   s.owner = owner;
                                   return true;
                                 });
  }

  // ---- nodes and sensors

  Status Heartbeat(const NodeInfo& node) override {
    Doc filter, set, update;
    filter.Str("_id", node.name);
    set.Arr("roles", StrArray(node.roles)).Time("started_at", node.started_at);
    set.Time("heartbeat_at", node.heartbeat_at).Str("info", DumpJson(node.info));
    update.Sub("$set", set);
    return db_->Upsert("nodes", filter, update, "heartbeat of node " + node.name);
  }

  Result<std::optional<NodeInfo>> GetNode(const std::string& name) override {
    GALE_ASSIGN_OR_RETURN(auto doc, db_->FindById("nodes", name, "get node " + name));
    if (!doc) return std::optional<NodeInfo>();
    return std::optional<NodeInfo>(NodeFrom(View(doc->get())));
  }

  Result<std::vector<NodeInfo>> ListNodes() override {
    Doc filter, sort, opts;
    sort.Int32("_id", 1);
    opts.Sub("sort", sort);
    return db_->Find<NodeInfo>("nodes", filter, opts, NodeFrom, "list nodes");
  }

  Status PutSensorStatus(const SensorStatus& st) override {
    Doc filter, set, update;
    filter.Str("_id", st.ref);
    set.Str("node", st.node).Str("state", st.state).Int32("restarts", st.restarts);
    set.Str("last_error", st.last_error).Time("updated_at", st.updated_at);
    update.Sub("$set", set);
    return db_->Upsert("sensors", filter, update, "put status of sensor " + st.ref);
  }

  Result<std::optional<SensorStatus>> GetSensorStatus(const std::string& ref) override {
    GALE_ASSIGN_OR_RETURN(auto doc, db_->FindById("sensors", ref, "get status of sensor " + ref));
    if (!doc) return std::optional<SensorStatus>();
    return std::optional<SensorStatus>(SensorFrom(View(doc->get())));
  }

  Result<std::vector<SensorStatus>> ListSensorStatus(const std::string& node) override {
    Doc filter, sort, opts;
    if (!node.empty()) filter.Str("node", node);
    sort.Int32("_id", 1);
    opts.Sub("sort", sort);
    return db_->Find<SensorStatus>("sensors", filter, opts, SensorFrom, "list sensors");
  }

  // ---- leases

  Result<bool> TryAcquireLease(const std::string& name, const std::string& holder, TimeMs ttl,
                               TimeMs now) override {
    return CasChain<LeaseState>(*db_, "leases", name, LeaseStateFrom, true, "acquire lease " + name,
                                [&](bool exists, LeaseState& s) {
                                  if (exists && s.holder != holder && s.expires_at > now)
                                    return false;
                                  s.holder = holder;
                                  s.expires_at = now + ttl;
                                  return true;
                                });
  }

  Result<bool> ReleaseLease(const std::string& name, const std::string& holder) override {
    return CasChain<LeaseState>(*db_, "leases", name, LeaseStateFrom, true, "release lease " + name,
                                [&](bool exists, LeaseState& s) {
                                  if (!exists || s.holder != holder) return false;
                                  s.holder.clear();
                                  s.expires_at = 0;
                                  return true;
                                });
  }

  // ---- policy slots (mongo/policy_slots.cpp)

  Result<bool> TryAcquirePolicySlot(const std::string& key, const std::string& execution_id,
                                    const std::string& node, TimeMs lease_until, int64_t threshold,
                                    TimeMs now) override {
    return mongo::TryAcquirePolicySlot(*db_, key, execution_id, node, lease_until, threshold, now);
  }

  Result<bool> RenewPolicySlot(const std::string& key, const std::string& execution_id,
                               const std::string& node, TimeMs lease_until, TimeMs now) override {
    return mongo::RenewPolicySlot(*db_, key, execution_id, node, lease_until, now);
  }

  Result<bool> ReleasePolicySlot(const std::string& key, const std::string& execution_id) override {
    return mongo::ReleasePolicySlot(*db_, key, execution_id);
  }

  Result<std::vector<PolicySlot>> ListPolicySlots(const std::string& key, TimeMs now) override {
    return mongo::ListPolicySlots(*db_, key, now);
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
        GALE_ASSIGN_OR_RETURN(
            auto ids, db_->Find<std::string>(
                          "executions", filter, opts, [](const View& v) { return v.Str("_id"); },
                          "collect executions"));
        if (ids.empty()) break;
        Doc in_ids;
        in_ids.Arr("$in", StrArray(ids));
        Doc by_execution, by_key, by_id;
        by_execution.Sub("execution_id", in_ids);
        by_key.Sub("key", in_ids);
        by_id.Sub("_id", in_ids);
        GALE_ASSIGN_OR_RETURN(auto output,
                              db_->Delete("execution_output", by_execution, "collect output"));
        counts.output_chunks += output;
        GALE_TRY(db_->Delete("executions_revs", by_key, "collect execution revisions").status());
        GALE_ASSIGN_OR_RETURN(auto heads, db_->Delete("executions", by_id, "collect executions"));
        counts.executions += heads;
        if (ids.size() < 500) break;
      }
    }
    auto delete_older = [&](const char* collection, const char* field, TimeMs bound,
                            int64_t& count) -> Status {
      Doc lt, filter;
      lt.Time("$lt", bound);
      filter.Sub(field, lt);
      GALE_ASSIGN_OR_RETURN(auto n,
                            db_->Delete(collection, filter, std::string("collect ") + collection));
      count += n;
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
      GALE_ASSIGN_OR_RETURN(auto n, db_->Delete("kv", filter, "collect expired datastore keys"));
      counts.keys += n;
    }
    GALE_ASSIGN_OR_RETURN(auto dedupe, CollectDedupeKeys(now));
    counts.dedupe_keys = dedupe;
    GALE_TRY(PruneLeaseRevisions());
    return counts;
  }

 private:
  template <class Decide>
  Result<bool> CasExecution(const std::string& id, const std::string& op, Decide decide) {
    return CasChain<ExecState>(*db_, "executions", id, ExecStateFrom, false, op,
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
      filter.Arr("$or", DocArray(branches));
    }
    limit = internal::ClampLimit(limit);
    Doc sort, opts;
    sort.Int32(time_field, -1).Int32("_id", -1);
    opts.Sub("sort", sort).Int("limit", static_cast<int64_t>(limit + 1));
    if (offset > 0) opts.Int("skip", static_cast<int64_t>(offset));
    GALE_ASSIGN_OR_RETURN(auto items, db_->Find<T>(collection, filter, opts, from_view, op));
    Page<T> page;
    page.items = std::move(items);
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
    GALE_ASSIGN_OR_RETURN(
        auto keys, db_->Find<std::string>(
                       "dedupe_keys", filter, opts, [](const View& v) { return v.Str("_id"); },
                       "collect dedupe keys"));
    for (const std::string& key : keys) {
      // The head may lag: only a chain whose latest revision is old enough goes.
      auto loaded =
          LoadChain<DedupeState>(*db_, "dedupe_keys", key, DedupeStateFrom, "collect dedupe keys");
      if (!loaded.ok()) return loaded.status();
      if (*loaded && (*loaded)->state.expires_at > now - kDedupeGcGraceMs) continue;
      Doc by_key, by_id;
      by_key.Str("key", key);
      by_id.Str("_id", key);
      GALE_TRY(db_->Delete("dedupe_keys_revs", by_key, "collect dedupe keys").status());
      GALE_ASSIGN_OR_RETURN(auto heads, db_->Delete("dedupe_keys", by_id, "collect dedupe keys"));
      count += heads;
    }
    return count;
  }

  // Lease chains grow by one revision per renewal; keep the last few of each.
  Status PruneLeaseRevisions() {
    Doc filter, opts;
    // Parenthesised: the template argument's comma would split the macro's arguments.
    GALE_ASSIGN_OR_RETURN(
        auto heads, (db_->Find<std::pair<std::string, int64_t>>(
                        "leases", filter, opts,
                        [](const View& v) { return std::make_pair(v.Str("_id"), v.Int("rev")); },
                        "prune leases")));
    for (const auto& [name, rev] : heads) {
      if (rev <= 4) continue;
      Doc lt, old;
      lt.Int("$lt", rev - 3);
      old.Str("key", name).Sub("rev", lt);
      GALE_TRY(db_->Delete("leases_revs", old, "prune leases").status());
    }
    return Status::Ok();
  }

  std::unique_ptr<Database> db_;
  std::mutex seq_mu_;
  std::unordered_map<std::string, int64_t> next_seq_;  // per execution, a hint only
};

}  // namespace

Result<StorePtr> OpenMongoStore(const std::string& url, const StoreOptions& options) {
  GALE_ASSIGN_OR_RETURN(auto db, Database::Connect(url, options));
  if (!db->is_mongodb() && options.log) {
    options.log("store " + db->url() +
                " is a MongoDB-protocol server other than MongoDB: lists may show a record's "
                "previous status for a moment after a change (compare-and-set stays exact)");
  }
  return StorePtr(std::make_unique<MongoStore>(std::move(db)));
}

}  // namespace gale::store

// Gale's runtime state behind one interface: trigger instances, executions and their output,
// datastore keys, dedupe keys, nodes, sensor status and named leases. Two backends chosen by
// URL (see open.h): `sqlite://PATH` (embedded, one node, several processes) and `mongodb://...`
// (many nodes). Both pass the same conformance suite (test/store/).
//
// Every method is thread-safe, never throws and returns a checked result. An error with
// `retryable()` set means the store is unreachable or busy and trying again later may succeed;
// other errors are permanent (bad input, a broken file). Times are milliseconds since the Unix
// epoch (TimeMs) and are passed in by the caller, so TTL and lease logic needs no real clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/common/json.h"
#include "host/common/result.h"

namespace gale::store {

using TimeMs = int64_t;  // milliseconds since the Unix epoch; 0 means "not set"

TimeMs NowMs();  // the system clock, for callers that have no clock of their own

// Limits enforced (with a one-line message) by both backends.
inline constexpr size_t kMaxKeyValueBytes = 4u << 20;  // a datastore value
inline constexpr size_t kMaxKeyNameBytes = 512;        // a datastore key name
inline constexpr size_t kMaxOutputChunkBytes = 1u << 20;
inline constexpr size_t kMaxPageSize = 1000;

// ---- executions ----------------------------------------------------------------------------

// StackStorm's execution statuses.
enum class ExecStatus {
  kRequested,
  kScheduled,
  kDelayed,
  kRunning,
  kSucceeded,
  kFailed,
  kTimeout,
  kAbandoned,
  kCanceling,
  kCanceled,
  // A workflow's (host/workflow): no new task starts; paused once its tasks in flight ended;
  // resuming until its recorded next tasks are requested, then running again. None is final.
  kPausing,
  kPaused,
  kResuming,
};
std::string_view ToString(ExecStatus status);
std::optional<ExecStatus> ParseExecStatus(std::string_view text);
// succeeded, failed, timeout, abandoned, canceled: nothing changes an execution after these
// (pausing, paused and resuming are not final).
bool IsFinal(ExecStatus status);

struct StatusChange {
  ExecStatus status = ExecStatus::kRequested;
  TimeMs at = 0;
  std::string node;  // who made the change; may be empty
};

struct Execution {
  std::string id;
  std::string action;                // action ref, "pack.name"
  Json parameters = Json::object();  // secret parameters masked ("********")
  // Secret parameters sealed with the datastore cipher (name -> sealed text, see
  // secret_parameters.h): the runner opens them; they never appear in parameters or on a topic.
  Json secret_parameters = Json::object();
  std::string rule;              // rule ref; empty when run by hand
  std::string trigger_instance;  // trigger instance id; empty when run by hand
  std::string trace_id;
  ExecStatus status = ExecStatus::kRequested;
  std::string node;  // owner once claimed
  TimeMs lease_expires_at = 0;
  TimeMs requested_at = 0;
  TimeMs started_at = 0;
  TimeMs finished_at = 0;
  Json result;      // null until set
  int attempt = 0;  // how many times it was claimed
  // An action.retry policy's retry: the first execution of the chain, and which retry this is
  // (1, 2, ...); empty and 0 for an execution that is not a retry.
  std::string retry_of;
  int retry_attempt = 0;
  std::vector<StatusChange> log;  // every status it had, oldest first (the first is its creation)
  // A workflow's task (host/workflow): the workflow's execution id and the task's name in it;
  // both empty for an execution that is not part of a workflow.
  std::string parent;
  std::string task;
};

// A compare-and-set on an execution's status: applied only when the current status is one of
// `from` (and, when `node` is set, the execution is owned by that node).
struct Transition {
  std::string id;
  std::vector<ExecStatus> from;
  ExecStatus to = ExecStatus::kRunning;
  TimeMs at = 0;                    // recorded in the log; also finished_at when `to` is final
  std::optional<std::string> node;  // required owner
  std::optional<Json> result;       // replaces the result when set
};

// The outcome of one claim of Store::ClaimExecutions.
struct Claim {
  std::string id;
  Status status = Status::Ok();  // the claim could not be made (retryable: try it again)
  // Claimed by this call: the record as it is after the claim. Absent when not claimable
  // (claimed elsewhere, finished, canceled, or no such execution).
  std::optional<Execution> execution;
};

// Filters are ANDed; empty means "any". Results are newest first (requested_at, then id,
// descending). Page with `cursor` (from the previous page's `next_cursor`, stable while records
// are added) or `offset`.
struct ExecutionQuery {
  std::vector<ExecStatus> statuses;
  std::string action;
  std::string rule;
  std::string trigger_instance;
  TimeMs since = 0;    // requested_at >= since
  TimeMs until = 0;    // requested_at < until (0: no bound)
  size_t limit = 100;  // at most kMaxPageSize
  size_t offset = 0;
  std::string cursor;
};

template <class T>
struct Page {
  std::vector<T> items;
  std::string next_cursor;  // empty when this is the last page
};

// ---- trigger instances ---------------------------------------------------------------------

// StackStorm's trigger instance statuses.
enum class TriggerStatus { kPending, kProcessing, kProcessed, kProcessingFailed };
std::string_view ToString(TriggerStatus status);
std::optional<TriggerStatus> ParseTriggerStatus(std::string_view text);

struct TriggerInstance {
  std::string id;
  std::string trigger;  // trigger type ref
  Json payload = Json::object();
  TimeMs occurred_at = 0;
  std::string dedupe_key;  // empty: none
  std::string sensor;
  std::string node;
  std::string trace_id;
  TriggerStatus status = TriggerStatus::kPending;
  // The parameters of the trigger that fired (a webhook's url, a timer's schedule): with them
  // a pending instance can be fired again as it was (see host/node/recovery.h).
  Json trigger_parameters = Json::object();
};

// Newest first (occurred_at, then id, descending); paging as for ExecutionQuery.
struct TriggerInstanceQuery {
  std::string trigger;
  std::vector<TriggerStatus> statuses;
  TimeMs since = 0;
  TimeMs until = 0;
  size_t limit = 100;
  size_t offset = 0;
  std::string cursor;
};

// ---- execution output ----------------------------------------------------------------------

struct OutputChunk {
  std::string execution_id;
  int64_t seq = 0;     // 1, 2, 3... per execution, assigned by the store
  std::string stream;  // "stdout", "stderr", ...
  std::string data;    // any bytes
  TimeMs at = 0;
};

// ---- datastore -----------------------------------------------------------------------------

// kGale holds Gale's own records (hashed API keys, rule overrides); the API and CLI never read
// or write it as datastore keys.
enum class KeyScope { kSystem, kUser, kGale };
std::string_view ToString(KeyScope scope);
std::optional<KeyScope> ParseKeyScope(std::string_view text);

// Names and values are any bytes. The store keeps `secret` and the (already encrypted) value as
// they are; encryption happens elsewhere.
struct KeyValue {
  std::string name;
  std::string value;
  KeyScope scope = KeyScope::kSystem;
  std::string user;      // owner for KeyScope::kUser; empty for system keys
  TimeMs expire_at = 0;  // 0: never expires
  bool secret = false;
  TimeMs updated_at = 0;  // set by SetKey
};

struct KeyRef {
  std::string name;
  KeyScope scope = KeyScope::kSystem;
  std::string user;
};

// ---- nodes, sensors, leases ----------------------------------------------------------------

struct NodeInfo {
  std::string name;
  std::vector<std::string> roles;
  TimeMs started_at = 0;
  TimeMs heartbeat_at = 0;  // last seen
  Json info = Json::object();
};

struct SensorStatus {
  std::string ref;    // sensor ref, "pack.Class"
  std::string node;   // where it runs
  std::string state;  // "running", "failed", "stopped", ...
  int restarts = 0;
  std::string last_error;
  TimeMs updated_at = 0;
};

// ---- garbage collection --------------------------------------------------------------------

// StackStorm's garbage collector TTLs; 0 keeps that kind forever.
struct GcPolicy {
  TimeMs executions_ttl = 0;         // finished executions (by finished_at), with their output
  TimeMs output_ttl = 0;             // output chunks (by their time), whatever the execution
  TimeMs trigger_instances_ttl = 0;  // by occurred_at
};

struct GcCounts {
  int64_t executions = 0;
  int64_t output_chunks = 0;
  int64_t trigger_instances = 0;
  int64_t keys = 0;         // expired datastore keys (always collected)
  int64_t dedupe_keys = 0;  // dedupe keys expired kDedupeGcGraceMs ago (always collected)
};

// Dedupe keys are collected this long after their window closed, not at once: a writer that
// saw the key expired just before it was collected must not slip a duplicate through.
inline constexpr TimeMs kDedupeGcGraceMs = 10 * 60 * 1000;

// ---- the interface -------------------------------------------------------------------------

class Store {
 public:
  virtual ~Store() = default;

  // "sqlite" or "mongodb".
  virtual std::string_view backend() const = 0;

  // -- trigger instances
  // Create-if-absent: true when inserted, false when that id already exists (left unchanged).
  virtual Result<bool> InsertTriggerInstance(const TriggerInstance& instance) = 0;
  virtual Result<std::optional<TriggerInstance>> GetTriggerInstance(const std::string& id) = 0;
  // False when there is no such instance.
  virtual Result<bool> SetTriggerInstanceStatus(const std::string& id, TriggerStatus status) = 0;
  virtual Result<Page<TriggerInstance>> ListTriggerInstances(const TriggerInstanceQuery& q) = 0;

  // -- executions
  // Create-if-absent: true when inserted, false when that id already exists (left unchanged).
  // The record is stored as given (status usually kRequested) with a first log entry
  // {status, requested_at}.
  virtual Result<bool> CreateExecution(const Execution& execution) = 0;
  virtual Result<std::optional<Execution>> GetExecution(const std::string& id) = 0;
  // CAS requested|scheduled -> running: sets node, lease_expires_at, started_at = now and
  // attempt + 1. True for exactly one of any number of concurrent contenders.
  virtual Result<bool> ClaimExecution(const std::string& id, const std::string& node,
                                      TimeMs lease_expires_at, TimeMs now) = 0;
  // ClaimExecution of each of `ids` (one Claim each, in order), with the claimed record as it
  // is after the claim, so that the claimer need not read back what it just wrote. SQLite: one
  // transaction; an error means none was claimed. MongoDB: one claim after another; a claim
  // that could not be made carries its own error and the others stand.
  virtual Result<std::vector<Claim>> ClaimExecutions(const std::vector<std::string>& ids,
                                                     const std::string& node,
                                                     TimeMs lease_expires_at, TimeMs now);
  // Extends the lease while the execution is running or canceling and owned by `node`; false
  // otherwise (e.g. it was already marked abandoned).
  virtual Result<bool> RenewLease(const std::string& id, const std::string& node,
                                  TimeMs lease_expires_at) = 0;
  // CAS on status (see Transition); false when the current status (or owner) did not match.
  virtual Result<bool> TransitionExecution(const Transition& transition) = 0;
  // running|canceling executions whose lease expired before `now` become abandoned
  // (finished_at = now); returns those it changed (at most `limit`). A lease renewed in the
  // meantime is not touched.
  virtual Result<std::vector<Execution>> MarkAbandoned(TimeMs now, size_t limit = 1000) = 0;
  virtual Result<Page<Execution>> ListExecutions(const ExecutionQuery& q) = 0;
  // How many executions match `q` (its statuses, action, rule, trigger instance and time range;
  // paging fields are ignored). For metrics and list totals.
  virtual Result<int64_t> CountExecutions(const ExecutionQuery& q) = 0;

  // -- execution output
  // Appends one chunk and returns its sequence number (1 for the first chunk of an execution).
  // Concurrent appends to one execution get distinct, gap-free numbers.
  virtual Result<int64_t> AppendOutput(const std::string& execution_id, const std::string& stream,
                                       const std::string& data, TimeMs at) = 0;
  // Chunks with seq > after_seq, in order, at most `limit`.
  virtual Result<std::vector<OutputChunk>> ReadOutput(const std::string& execution_id,
                                                      int64_t after_seq, size_t limit = 1000) = 0;

  // -- datastore keys (expired keys read as absent)
  virtual Result<std::optional<KeyValue>> GetKey(const KeyRef& ref, TimeMs now) = 0;
  // Insert or replace; refuses names over kMaxKeyNameBytes and values over kMaxKeyValueBytes.
  virtual Status SetKey(const KeyValue& kv, TimeMs now) = 0;
  // Compare-and-set: writes `kv` only when the key's current value is `expected` (nullopt: only
  // when there is no such key). False, changing nothing, when it was anything else. For records
  // several nodes update at once (a workflow's state): the loser reads again and retries.
  virtual Result<bool> SwapKey(const KeyValue& kv, const std::optional<std::string>& expected,
                               TimeMs now);
  // False when there was no such key.
  virtual Result<bool> DeleteKey(const KeyRef& ref) = 0;
  // Keys of one scope (and user) whose name starts with `prefix`, by name (bytewise).
  virtual Result<std::vector<KeyValue>> ListKeys(KeyScope scope, const std::string& user,
                                                 const std::string& prefix, TimeMs now) = 0;

  // -- dedupe keys
  // True for the first insert of `key` within `window` ms, and again for the same `owner` (the
  // trigger instance that opened the window, delivered again after a crash between this call and
  // recording it); false for any other owner inside the window. Once the window passed the key
  // can be inserted again (and opens a new window). Times are event times: an event older than
  // an accepted one by more than the window still counts as inside that window (one record per
  // key), which only matters when events of one key are evaluated over an hour out of order.
  virtual Result<bool> InsertDedupeKey(const std::string& key, const std::string& owner,
                                       TimeMs window, TimeMs now) = 0;

  // -- nodes
  // Upsert of the node's record; heartbeat_at is what "last seen" reads.
  virtual Status Heartbeat(const NodeInfo& node) = 0;
  virtual Result<std::optional<NodeInfo>> GetNode(const std::string& name) = 0;
  virtual Result<std::vector<NodeInfo>> ListNodes() = 0;

  // -- sensor status (one record per sensor ref)
  virtual Status PutSensorStatus(const SensorStatus& status) = 0;
  virtual Result<std::optional<SensorStatus>> GetSensorStatus(const std::string& ref) = 0;
  // All sensors, or only those on `node` when it is not empty; by ref.
  virtual Result<std::vector<SensorStatus>> ListSensorStatus(const std::string& node) = 0;

  // -- named leases, for work that one node at a time does (garbage collection, ...)
  // True when `holder` now holds `name` until now + ttl: it was free, expired, or already
  // held by `holder` (a renewal).
  virtual Result<bool> TryAcquireLease(const std::string& name, const std::string& holder,
                                       TimeMs ttl, TimeMs now) = 0;
  // Gives the lease up if `holder` holds it; false otherwise.
  virtual Result<bool> ReleaseLease(const std::string& name, const std::string& holder) = 0;

  // -- policy slots: how many executions of an action.concurrency policy run at once, counted
  // across every node. An execution holds one slot of a key (packs::ConcurrencySlotKey) from
  // TryAcquirePolicySlot until ReleasePolicySlot, or until its lease passes (a node that died
  // frees its slots that way); an expired slot counts for nothing and may be taken over.
  struct PolicySlot {
    std::string key;
    std::string execution_id;
    std::string node;  // the holder's node, which renews the lease
    TimeMs lease_until = 0;
    TimeMs acquired_at = 0;
  };
  // True when `execution_id` now holds a slot of `key` until `lease_until`: fewer than
  // `threshold` (>= 1) unexpired slots (lease_until > now) were held, or it already held one
  // (renewed, and its node set to `node`). False, changing nothing it holds, when the key is
  // full. Atomic across threads, processes and nodes: never more than `threshold` unexpired
  // slots of one key, even when the threshold changes between calls (the lower one holds for
  // new slots; slots already held are kept).
  virtual Result<bool> TryAcquirePolicySlot(const std::string& key, const std::string& execution_id,
                                            const std::string& node, TimeMs lease_until,
                                            int64_t threshold, TimeMs now) = 0;
  // Extends the lease of the slot `execution_id` holds under `key` while it is unexpired and
  // held from `node`; false otherwise (an expired slot may be another's already).
  virtual Result<bool> RenewPolicySlot(const std::string& key, const std::string& execution_id,
                                       const std::string& node, TimeMs lease_until, TimeMs now) = 0;
  // Frees the slot `execution_id` holds under `key`; false when it held none.
  virtual Result<bool> ReleasePolicySlot(const std::string& key,
                                         const std::string& execution_id) = 0;
  // The unexpired slots of `key`, oldest first (by acquired_at, then execution id).
  virtual Result<std::vector<PolicySlot>> ListPolicySlots(const std::string& key, TimeMs now) = 0;

  // -- garbage collection (see GcPolicy); deletes in batches.
  virtual Result<GcCounts> CollectGarbage(const GcPolicy& policy, TimeMs now) = 0;

  // -- batches: many operations for the price of one commit
  // Runs `body` with a Store whose operations form one batch, and returns body's status (or the
  // error that kept the batch from committing; retryable when trying again may succeed).
  //  - SQLite: one transaction. Everything body did commits together (one fsync) when it
  //    returns Ok, and nothing of it when it returns an error; its reads see its own writes;
  //    no other writer's operations come between them. An operation that fails inside leaves
  //    no trace of its own (body decides whether that fails the batch).
  //  - MongoDB (no multi-document transactions on every MongoDB-protocol server): each
  //    operation is applied as it runs, each as durable as alone; a batch that fails part way
  //    has done its first operations. Callers make every step idempotent, which Gale's are.
  // `body` runs on the calling thread and must use only the Store it is given, and not keep
  // it; a write through this Store from inside body fails (it would wait for the batch).
  // Independently of batches, SQLite commits the writes that concurrent threads make at the
  // same moment together (group commit), each caller returning once its write is durable.
  virtual Status Batch(const std::function<Status(Store& batch)>& body);
};

using StorePtr = std::unique_ptr<Store>;

}  // namespace gale::store

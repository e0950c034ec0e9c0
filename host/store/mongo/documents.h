// Gale's records as MongoDB documents. JSON fields (parameters, payload, result, info) are
// stored as JSON text, so any keys (dots, `$`) round-trip; times are BSON dates; datastore
// names and values and output data are BSON binary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "host/store/mongo/bson_doc.h"
#include "host/store/store.h"

namespace gale::store::mongo {

// The _id of revision `rev` of `key`: "<key>#<rev, 12 digits>".
std::string RevId(const std::string& key, int64_t rev);

// {$in: [status names]}
Doc StatusIn(const std::vector<ExecStatus>& statuses);
Doc StatusIn(const std::vector<TriggerStatus>& statuses);

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
Doc ToDoc(const ExecState& s);
ExecState ExecStateFrom(const View& v);
// The immutable fields from the head, the rest from `s`.
Execution ExecutionFrom(const View& head, const ExecState& s);

struct LeaseState {
  std::string holder;
  TimeMs expires_at = 0;
};
Doc ToDoc(const LeaseState& s);
LeaseState LeaseStateFrom(const View& v);

struct DedupeState {
  TimeMs expires_at = 0;
  std::string owner;  // the trigger instance that opened the window
};
Doc ToDoc(const DedupeState& s);
DedupeState DedupeStateFrom(const View& v);

TriggerInstance TriggerFrom(const View& v);
KeyValue KeyFrom(const View& v);
// "<scope>:<hex user>:<hex name>"
std::string KeyId(KeyScope scope, const std::string& user, const std::string& name);
bool Live(const KeyValue& kv, TimeMs now);  // not expired at `now`
NodeInfo NodeFrom(const View& v);
SensorStatus SensorFrom(const View& v);

}  // namespace gale::store::mongo

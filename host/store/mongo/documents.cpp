#include "host/store/mongo/documents.h"

#include <cstdio>

#include "host/store/internal.h"

namespace gale::store::mongo {

using internal::ParseJson;

namespace {

std::string Pad(int64_t n) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%012lld", static_cast<long long>(n));
  return buf;
}

}  // namespace

std::string RevId(const std::string& key, int64_t rev) {
  return key + "#" + Pad(rev);
}

namespace {
template <class StatusEnum>
Doc StatusInOf(const std::vector<StatusEnum>& statuses) {
  std::vector<std::string> names;
  for (StatusEnum s : statuses) names.emplace_back(ToString(s));
  Doc in;
  in.Arr("$in", StrArray(names));
  return in;
}
}  // namespace

Doc StatusIn(const std::vector<ExecStatus>& statuses) {
  return StatusInOf(statuses);
}
Doc StatusIn(const std::vector<TriggerStatus>& statuses) {
  return StatusInOf(statuses);
}

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
  d.Int32("attempt", s.attempt).Arr("log", DocArray(log));
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
  if (head.Has("secret_parameters")) e.secret_parameters = ParseJson(head.Str("secret_parameters"));
  e.rule = head.Str("rule");
  e.trigger_instance = head.Str("trigger_instance");
  e.trace_id = head.Str("trace_id");
  if (head.Has("parent")) e.parent = head.Str("parent");
  if (head.Has("task")) e.task = head.Str("task");
  e.requested_at = head.Int("requested_at");
  if (head.Has("retry_of")) {
    e.retry_of = head.Str("retry_of");
    e.retry_attempt = static_cast<int>(head.Int("retry_attempt"));
  }
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

Doc ToDoc(const LeaseState& s) {
  Doc d;
  d.Str("holder", s.holder).Time("expires_at", s.expires_at);
  return d;
}
LeaseState LeaseStateFrom(const View& v) {
  return {v.Str("holder"), v.Int("expires_at")};
}

Doc ToDoc(const DedupeState& s) {
  Doc d;
  d.Time("expires_at", s.expires_at).Str("owner", s.owner);
  return d;
}
DedupeState DedupeStateFrom(const View& v) {
  return {v.Int("expires_at"), v.Str("owner")};
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
  t.trigger_parameters = ParseJson(v.Str("trigger_parameters"));
  if (!t.trigger_parameters.is_object()) t.trigger_parameters = Json::object();
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

}  // namespace gale::store::mongo

#include "host/store/sqlite/rows.h"

#include "host/store/internal.h"

namespace gale::store::sqlite {

using internal::DumpJson;
using internal::ParseJson;

std::string LogAppend(const std::string& status_sql, const std::string& at_sql,
                      const std::string& node_sql) {
  return "log = json_insert(log, '$[#]', json_object('status', " + status_sql + ", 'at', " +
         at_sql + ", 'node', " + node_sql + "))";
}

template <class StatusEnum>
std::string InListOf(const std::vector<StatusEnum>& statuses) {
  std::string out = "(";
  for (size_t i = 0; i < statuses.size(); ++i) {
    out += (i ? ", '" : "'") + std::string(ToString(statuses[i])) + "'";
  }
  return out + ")";
}

std::string InList(const std::vector<ExecStatus>& statuses) {
  return InListOf(statuses);
}
std::string InList(const std::vector<TriggerStatus>& statuses) {
  return InListOf(statuses);
}

namespace {

int64_t JsonInt(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<int64_t>() : 0;
}

std::string JsonString(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<StatusChange> ParseLog(const std::string& text) {
  std::vector<StatusChange> log;
  Json entries = ParseJson(text);
  if (!entries.is_array()) return log;
  for (const Json& e : entries) {
    if (!e.is_object()) continue;
    StatusChange change;
    change.status = ParseExecStatus(JsonString(e, "status")).value_or(ExecStatus::kRequested);
    change.at = JsonInt(e, "at");
    change.node = JsonString(e, "node");
    log.push_back(std::move(change));
  }
  return log;
}

}  // namespace

std::string DumpLog(const std::vector<StatusChange>& log) {
  Json entries = Json::array();
  for (const StatusChange& c : log) {
    entries.push_back({{"status", ToString(c.status)}, {"at", c.at}, {"node", c.node}});
  }
  return DumpJson(entries);
}

Execution ReadExecution(const Stmt& s) {
  Execution e;
  e.id = s.Text(0);
  e.action = s.Text(1);
  e.parameters = ParseJson(s.Text(2));
  e.rule = s.Text(3);
  e.trigger_instance = s.Text(4);
  e.trace_id = s.Text(5);
  e.status = ParseExecStatus(s.Text(6)).value_or(ExecStatus::kRequested);
  e.node = s.Text(7);
  e.lease_expires_at = s.Int(8);
  e.requested_at = s.Int(9);
  e.started_at = s.Int(10);
  e.finished_at = s.Int(11);
  e.result = ParseJson(s.Text(12));
  e.attempt = static_cast<int>(s.Int(13));
  e.log = ParseLog(s.Text(14));
  e.secret_parameters = ParseJson(s.Text(15));
  e.retry_of = s.Text(16);
  e.retry_attempt = static_cast<int>(s.Int(17));
  e.parent = s.Text(18);
  e.task = s.Text(19);
  return e;
}

TriggerInstance ReadTrigger(const Stmt& s) {
  TriggerInstance t;
  t.id = s.Text(0);
  t.trigger = s.Text(1);
  t.payload = ParseJson(s.Text(2));
  t.occurred_at = s.Int(3);
  t.dedupe_key = s.Text(4);
  t.sensor = s.Text(5);
  t.node = s.Text(6);
  t.trace_id = s.Text(7);
  t.status = ParseTriggerStatus(s.Text(8)).value_or(TriggerStatus::kPending);
  t.trigger_parameters = ParseJson(s.Text(9));
  if (!t.trigger_parameters.is_object()) t.trigger_parameters = Json::object();
  return t;
}

KeyValue ReadKey(const Stmt& s) {
  KeyValue kv;
  kv.name = s.Text(0);
  kv.value = s.Text(1);
  kv.scope = ParseKeyScope(s.Text(2)).value_or(KeyScope::kSystem);
  kv.user = s.Text(3);
  kv.expire_at = s.Int(4);
  kv.secret = s.Int(5) != 0;
  kv.updated_at = s.Int(6);
  return kv;
}

SensorStatus ReadSensor(const Stmt& s) {
  SensorStatus st;
  st.ref = s.Text(0);
  st.node = s.Text(1);
  st.state = s.Text(2);
  st.restarts = static_cast<int>(s.Int(3));
  st.last_error = s.Text(4);
  st.updated_at = s.Int(5);
  return st;
}

NodeInfo ReadNode(const Stmt& s) {
  NodeInfo n;
  n.name = s.Text(0);
  Json roles = ParseJson(s.Text(1));
  if (roles.is_array()) {
    for (const Json& r : roles) {
      if (r.is_string()) n.roles.push_back(r.get<std::string>());
    }
  }
  n.started_at = s.Int(2);
  n.heartbeat_at = s.Int(3);
  n.info = ParseJson(s.Text(4));
  return n;
}

}  // namespace gale::store::sqlite

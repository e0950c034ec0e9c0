// Gale's records as SQLite rows: the column lists the queries select and the readers that turn
// a row into a record. JSON fields are stored as JSON text, times as integer milliseconds,
// datastore names and values and output data as BLOBs.
#pragma once

#include <string>
#include <vector>

#include "host/store/sqlite/db.h"
#include "host/store/store.h"

namespace gale::store::sqlite {

inline constexpr const char* kExecutionColumns =
    "id, action, parameters, rule, trigger_instance, trace_id, status, node, lease_expires_at, "
    "requested_at, started_at, finished_at, result, attempt, log, secret_parameters, retry_of, "
    "retry_attempt, parent, task";
inline constexpr const char* kTriggerColumns =
    "id, trigger, payload, occurred_at, dedupe_key, sensor, node, trace_id, status, "
    "trigger_parameters";
inline constexpr const char* kKeyColumns =
    "name, value, scope, user, expire_at, secret, updated_at";
inline constexpr const char* kSensorColumns = "ref, node, state, restarts, last_error, updated_at";
inline constexpr const char* kNodeColumns = "name, roles, started_at, heartbeat_at, info";

// `log = json_insert(log, '$[#]', {status, at, node})`, each argument an SQL expression.
std::string LogAppend(const std::string& status_sql, const std::string& at_sql,
                      const std::string& node_sql);
// "('a', 'b')": status names are fixed words, safe to inline (and it keeps the SQL cacheable).
std::string InList(const std::vector<ExecStatus>& statuses);
std::string InList(const std::vector<TriggerStatus>& statuses);
std::string DumpLog(const std::vector<StatusChange>& log);

// Rows selected with the matching column list above.
Execution ReadExecution(const Stmt& s);
TriggerInstance ReadTrigger(const Stmt& s);
KeyValue ReadKey(const Stmt& s);
SensorStatus ReadSensor(const Stmt& s);
NodeInfo ReadNode(const Stmt& s);

}  // namespace gale::store::sqlite

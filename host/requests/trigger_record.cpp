#include "host/requests/trigger_record.h"

namespace gale::requests {

store::TriggerInstance TriggerRecordOf(const bus::TriggerInstanceMessage& m,
                                       store::TriggerStatus status) {
  store::TriggerInstance t;
  t.id = m.id;
  t.trigger = m.trigger;
  t.payload = m.payload;
  t.occurred_at = m.occurred_at;
  t.dedupe_key = m.dedupe_key;
  t.sensor = m.sensor;
  t.node = m.node;
  t.trace_id = m.trace_id;
  t.status = status;
  t.trigger_parameters = m.trigger_parameters;
  return t;
}

bus::TriggerInstanceMessage TriggerMessageOf(const store::TriggerInstance& record) {
  bus::TriggerInstanceMessage m;
  m.id = record.id;
  m.trigger = record.trigger;
  m.payload = record.payload;
  m.occurred_at = record.occurred_at;
  m.dedupe_key = record.dedupe_key;
  m.sensor = record.sensor;
  m.node = record.node;
  m.trace_id = record.trace_id;
  m.trigger_parameters = record.trigger_parameters;
  return m;
}

}  // namespace gale::requests

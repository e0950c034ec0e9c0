#include "host/packs/core_triggers.h"

namespace gale::packs {
namespace {

TriggerType Core(const char* name, const char* description, Json parameters, Json payload) {
  TriggerType t;
  t.pack = "core";
  t.name = name;
  t.ref = std::string("core.") + name;
  t.description = description;
  t.parameters_schema = std::move(parameters);
  t.payload_schema = std::move(payload);
  t.origin.file = "<built-in>";
  return t;
}

const Json kTimerPayload = Json::parse(R"({
  "type": "object",
  "properties": {"executed_at": {"type": "string"}, "schedule": {"type": ["object", "null"]}}
})");

}  // namespace

const std::vector<TriggerType>& CoreTriggerTypes() {
  static const std::vector<TriggerType> types = [] {
    std::vector<TriggerType> t;
    t.push_back(Core("st2.webhook",
                     "A POST to /v1/webhooks/<url>; with secret_file or secret (a "
                     "{{ st2kv.system.NAME }} reference), only when signed with it "
                     "(X-Hub-Signature-256).",
                     Json::parse(R"({"type": "object",
                       "properties": {"url": {"type": "string", "minLength": 1},
                         "secret_file": {"type": "string"}, "secret": {"type": "string"}},
                       "required": ["url"], "additionalProperties": false})"),
                     Json::parse(R"({"type": "object",
                       "properties": {"headers": {"type": "object"}, "body": {}}})")));
    t.push_back(Core("st2.IntervalTimer", "Fires every `delta` `unit`s.",
                     Json::parse(R"({"type": "object", "properties": {
                       "unit": {"enum": ["weeks", "days", "hours", "minutes", "seconds"]},
                       "delta": {"type": "integer", "minimum": 1},
                       "timezone": {"type": "string"}},
                       "required": ["unit", "delta"], "additionalProperties": false})"),
                     kTimerPayload));
    t.push_back(Core("st2.CronTimer", "Fires on a cron-like schedule.",
                     Json::parse(R"({"type": "object", "properties": {
                       "timezone": {"type": "string"},
                       "year": {"type": ["integer", "string"]},
                       "month": {"type": ["integer", "string"]},
                       "day": {"type": ["integer", "string"]},
                       "week": {"type": ["integer", "string"]},
                       "day_of_week": {"type": ["integer", "string"]},
                       "hour": {"type": ["integer", "string"]},
                       "minute": {"type": ["integer", "string"]},
                       "second": {"type": ["integer", "string"]}},
                       "additionalProperties": false})"),
                     kTimerPayload));
    t.push_back(Core("st2.DateTimer", "Fires once at `date`.",
                     Json::parse(R"({"type": "object", "properties": {
                       "timezone": {"type": "string"}, "date": {"type": "string"}},
                       "required": ["date"], "additionalProperties": false})"),
                     kTimerPayload));
    return t;
  }();
  return types;
}

}  // namespace gale::packs

// Typed bus messages (messages.h) and their validation against schemas/bus/*.json (each schema
// compiled once, then shared).
#include "host/bus/messages.h"

#include <chrono>
#include <map>
#include <mutex>

#include "host/bus/bus.h"
#include "host/common/input_limits.h"
#include "host/common/uuid.h"
#include "host/schema/validator.h"
#include "schemas/embedded.h"

namespace gale::bus {

namespace {

Result<schema::Validator> CompiledSchema(std::string_view name) {
  static std::mutex mu;
  static std::map<std::string, schema::Validator, std::less<>> cache;
  std::lock_guard lock(mu);
  if (auto it = cache.find(name); it != cache.end()) return it->second;
  const std::string full = "bus/" + std::string(name);
  std::string_view text = schemas::Find(full);
  if (text.empty()) return Status::Error("bus: no message schema named " + std::string(name));
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::Error("schemas/" + full + ".json: not valid JSON");
  auto v = schema::Validator::Compile(doc);
  if (!v.ok()) return Status::Error("schemas/" + full + ".json: " + v.message());
  cache.emplace(std::string(name), *v);
  return v;
}

std::string Dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// The validated document in `text`; `what` names the message in errors ("a trigger instance").
Result<Json> Parse(std::string_view schema_name, std::string_view text, std::string_view what) {
  if (Status within = CheckJsonText(text); !within.ok()) {
    return Status::Error("not " + std::string(what) + ": " + within.message());
  }
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::Error("not " + std::string(what) + ": invalid JSON");
  if (Status valid = ValidateDocument(schema_name, doc); !valid.ok()) {
    return Status::Error("not " + std::string(what) + ": " + valid.message());
  }
  return doc;
}

std::string OptionalString(const Json& doc, const char* name) {
  auto it = doc.find(name);
  return it == doc.end() ? std::string() : it->get<std::string>();
}

}  // namespace

Status ValidateDocument(std::string_view schema_name, const Json& document) {
  GALE_ASSIGN_OR_RETURN(auto validator, CompiledSchema(schema_name));
  std::vector<schema::Violation> violations = validator.Validate(document);
  if (violations.empty()) return Status::Ok();
  std::string text;
  for (const schema::Violation& v : violations) {
    if (!text.empty()) text += "; ";
    text += schema::Format(v);
  }
  return Status::Error("not a valid " + std::string(schema_name) + " message: " + text);
}

Status ValidateMessage(std::string_view schema_name, std::string_view json_text) {
  if (Status within = CheckJsonText(json_text); !within.ok()) {
    return Status::Error("not a valid " + std::string(schema_name) +
                         " message: " + within.message());
  }
  Json doc = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return Status::Error("not a valid " + std::string(schema_name) + " message: not JSON");
  }
  return ValidateDocument(schema_name, doc);
}

// ---- trigger instance ------------------------------------------------------------------------

TriggerInstanceMessage TriggerInstanceMessage::New(std::string trigger, Json payload,
                                                   std::string sensor, std::string node) {
  TriggerInstanceMessage m;
  m.id = UuidV4();
  m.trigger = std::move(trigger);
  m.payload = std::move(payload);
  m.occurred_at = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  m.sensor = std::move(sensor);
  m.node = std::move(node);
  m.trace_id = UuidV4();
  return m;
}

Json ToJson(const TriggerInstanceMessage& m) {
  Json j = {{"id", m.id},
            {"trigger", m.trigger},
            {"payload", m.payload},
            {"occurred_at", m.occurred_at},
            {"sensor", m.sensor},
            {"node", m.node},
            {"trace_id", m.trace_id}};
  if (!m.dedupe_key.empty()) j["dedupe_key"] = m.dedupe_key;
  if (m.trigger_parameters.is_object() && !m.trigger_parameters.empty()) {
    j["trigger_parameters"] = m.trigger_parameters;
  }
  return j;
}

std::string Encode(const TriggerInstanceMessage& m) {
  return Dump(ToJson(m));
}

Result<TriggerInstanceMessage> DecodeTriggerInstance(std::string_view text) {
  GALE_ASSIGN_OR_RETURN(auto doc, Parse(kTriggerInstanceSchema, text, "a trigger instance"));
  TriggerInstanceMessage m;
  m.id = doc["id"].get<std::string>();
  m.trigger = doc["trigger"].get<std::string>();
  m.payload = std::move(doc["payload"]);
  m.occurred_at = doc["occurred_at"].get<int64_t>();
  m.dedupe_key = OptionalString(doc, "dedupe_key");
  m.sensor = doc["sensor"].get<std::string>();
  m.node = doc["node"].get<std::string>();
  m.trace_id = doc["trace_id"].get<std::string>();
  if (auto it = doc.find("trigger_parameters"); it != doc.end()) {
    m.trigger_parameters = std::move(*it);
  }
  return m;
}

// ---- execution request -----------------------------------------------------------------------

Json ToJson(const ExecutionRequestMessage& m) {
  Json j = {{"id", m.id},
            {"action", m.action},
            {"parameters", m.parameters},
            {"trace_id", m.trace_id},
            {"requested_at", m.requested_at}};
  if (!m.rule.empty()) j["rule"] = m.rule;
  if (!m.trigger_instance.empty()) j["trigger_instance"] = m.trigger_instance;
  return j;
}

std::string Encode(const ExecutionRequestMessage& m) {
  return Dump(ToJson(m));
}

Result<ExecutionRequestMessage> DecodeExecutionRequest(std::string_view text) {
  GALE_ASSIGN_OR_RETURN(auto doc, Parse(kExecutionRequestSchema, text, "an execution request"));
  ExecutionRequestMessage m;
  m.id = doc["id"].get<std::string>();
  m.action = doc["action"].get<std::string>();
  m.parameters = std::move(doc["parameters"]);
  m.rule = OptionalString(doc, "rule");
  m.trigger_instance = OptionalString(doc, "trigger_instance");
  m.trace_id = doc["trace_id"].get<std::string>();
  m.requested_at = doc["requested_at"].get<int64_t>();
  return m;
}

// ---- execution event -------------------------------------------------------------------------

Json ToJson(const ExecutionEventMessage& m) {
  Json j = {{"id", m.id}, {"status", m.status}, {"at", m.at}, {"node", m.node}};
  if (m.result) j["result"] = *m.result;
  if (!m.parent.empty()) {
    j["parent"] = m.parent;
    j["task"] = m.task;
  }
  return j;
}

std::string Encode(const ExecutionEventMessage& m) {
  return Dump(ToJson(m));
}

Result<ExecutionEventMessage> DecodeExecutionEvent(std::string_view text) {
  GALE_ASSIGN_OR_RETURN(auto doc, Parse(kExecutionEventSchema, text, "an execution event"));
  ExecutionEventMessage m;
  m.id = doc["id"].get<std::string>();
  m.status = doc["status"].get<std::string>();
  m.at = doc["at"].get<int64_t>();
  m.node = doc["node"].get<std::string>();
  if (auto it = doc.find("result"); it != doc.end()) m.result = std::move(*it);
  m.parent = OptionalString(doc, "parent");
  m.task = OptionalString(doc, "task");
  return m;
}

// ---- dead letter -----------------------------------------------------------------------------

std::string Encode(const DeadLetterMessage& m) {
  return Dump({{"topic", m.topic},
               {"partition", m.partition},
               {"offset", m.offset},
               {"key", m.key},
               {"value", m.value},
               {"reason", m.reason},
               {"node", m.node},
               {"at", m.at}});
}

Result<DeadLetterMessage> DecodeDeadLetter(std::string_view text) {
  GALE_ASSIGN_OR_RETURN(auto doc, Parse(kDeadLetterSchema, text, "a dead letter"));
  DeadLetterMessage m;
  m.topic = doc["topic"].get<std::string>();
  m.partition = doc["partition"].get<int32_t>();
  m.offset = doc["offset"].get<int64_t>();
  m.key = doc["key"].get<std::string>();
  m.value = doc["value"].get<std::string>();
  m.reason = doc["reason"].get<std::string>();
  m.node = doc["node"].get<std::string>();
  m.at = doc["at"].get<int64_t>();
  return m;
}

namespace {

struct DeadLetterCounter {
  std::mutex mu;
  std::map<std::string, uint64_t> by_topic;
};

DeadLetterCounter& TheDeadLetterCounter() {
  static DeadLetterCounter* counter = new DeadLetterCounter();  // outlives every role
  return *counter;
}

}  // namespace

Status SendToDeadLetters(Producer& producer, const std::string& dead_letters_topic,
                         const Message& m, const std::string& reason, const std::string& node) {
  DeadLetterMessage letter;
  letter.topic = m.topic;
  letter.partition = m.partition;
  letter.offset = m.offset;
  letter.key = m.key;
  letter.value = m.value;
  letter.reason = reason;
  letter.node = node;
  letter.at = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  const std::string key =
      m.topic + "/" + std::to_string(m.partition) + "/" + std::to_string(m.offset);
  GALE_TRY(producer.Produce(dead_letters_topic, key, Encode(letter)));
  DeadLetterCounter& counter = TheDeadLetterCounter();
  std::lock_guard lock(counter.mu);
  counter.by_topic[m.topic]++;
  return Status::Ok();
}

std::vector<std::pair<std::string, uint64_t>> DeadLetterCounts() {
  DeadLetterCounter& counter = TheDeadLetterCounter();
  std::lock_guard lock(counter.mu);
  return {counter.by_topic.begin(), counter.by_topic.end()};
}

}  // namespace gale::bus

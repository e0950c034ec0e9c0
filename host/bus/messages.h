// The three messages Gale puts on its topics, typed: the one place an envelope is assembled or
// read (schemas/bus/*.json describe them for other tools). Encode() writes JSON text with one
// UTF-8 policy: invalid bytes in strings (an action's output, a sensor's payload) become U+FFFD
// rather than failing the message. Decode() parses and validates against the schema, so a
// consumer never sees a field of the wrong type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <utility>
#include <vector>

#include "host/bus/bus.h"
#include "host/common/json.h"
#include "host/common/result.h"

namespace gale::bus {

// gale.triggers, key = id.
struct TriggerInstanceMessage {
  std::string id;
  std::string trigger;  // trigger type ref
  Json payload = Json::object();
  int64_t occurred_at = 0;  // ms since the Unix epoch
  std::string dedupe_key;   // empty: none
  std::string sensor;       // sensor ref, or the host component (api, timers)
  std::string node;
  std::string trace_id;
  Json trigger_parameters = Json::object();  // empty: none (only a webhook's url, a timer's spec)

  // A new instance of `trigger` fired now by `sensor` on `node`: fresh id and trace id.
  static TriggerInstanceMessage New(std::string trigger, Json payload, std::string sensor,
                                    std::string node);
};

// gale.executions, key = id. A request names an execution; the runner runs what the store
// record says, so `parameters` is informational and has secret parameters masked.
struct ExecutionRequestMessage {
  std::string id;
  std::string action;
  Json parameters = Json::object();
  std::string rule;              // empty when run by hand
  std::string trigger_instance;  // empty when run by hand
  std::string trace_id;
  int64_t requested_at = 0;
};

// gale.execution-events, key = id.
struct ExecutionEventMessage {
  std::string id;
  std::string status;  // store::ToString(ExecStatus)
  int64_t at = 0;
  std::string node;
  std::optional<Json> result;
  // A workflow's task (host/workflow): its workflow's execution id and task name. Empty (absent
  // from the message) for an execution that is not a task, and in events of older nodes.
  std::string parent;
  std::string task;
};

// gale.dead-letters, key = "<topic>/<partition>/<offset>" of the message given up on.
struct DeadLetterMessage {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  std::string reason;
  std::string node;
  int64_t at = 0;
};

Json ToJson(const TriggerInstanceMessage& m);
Json ToJson(const ExecutionRequestMessage& m);
Json ToJson(const ExecutionEventMessage& m);

std::string Encode(const TriggerInstanceMessage& m);
std::string Encode(const ExecutionRequestMessage& m);
std::string Encode(const ExecutionEventMessage& m);
std::string Encode(const DeadLetterMessage& m);

// The message in `text`, or why it is not one ("not a trigger instance: <path>: <reason>").
Result<TriggerInstanceMessage> DecodeTriggerInstance(std::string_view text);
Result<ExecutionRequestMessage> DecodeExecutionRequest(std::string_view text);
Result<ExecutionEventMessage> DecodeExecutionEvent(std::string_view text);
Result<DeadLetterMessage> DecodeDeadLetter(std::string_view text);

class Producer;
// Gives up on `m` (read by a role from its topic): produces a dead letter saying `reason` and
// where `m` came from, and counts it (DeadLetterCounts). The caller commits past `m`; an error
// means the dead letter could not even be queued (the caller logs it and goes on).
Status SendToDeadLetters(Producer& producer, const std::string& dead_letters_topic,
                         const Message& m, const std::string& reason, const std::string& node);
// Dead letters this process sent since it started, by source topic (for /metrics).
std::vector<std::pair<std::string, uint64_t>> DeadLetterCounts();

}  // namespace gale::bus

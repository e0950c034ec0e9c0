// What a sensor host or an action may do with the store, request by request (protocol.h). One
// policy for both, kept apart from the sockets so that it can be tested on its own.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "host/common/json.h"
#include "host/common/result.h"
#include "host/store/key_cipher.h"
#include "host/store/store.h"

namespace gale::datastore {

// Who is asking, as the node knows it (never from a request).
struct Peer {
  enum class Kind { kSensorHost, kAction };
  Kind kind = Kind::kSensorHost;
  std::string pack;
  std::string node;
  // Actions only.
  std::string action;     // the action's ref
  std::string execution;  // the execution's id
  std::string user;       // whose keys scope "user" is
};

// A trigger instance an action asks to fire (op dispatch).
struct DispatchRequest {
  std::string trigger;
  Json payload = Json::object();
  std::string trace_tag;
};

// Fires it: checks the trigger type and payload, publishes, and returns what the caller is told
// ({"id", "trigger", "trace_id"}). An error that is the request's fault (unknown trigger type,
// payload against the schema) is not retryable; the bus's and the store's are.
using Dispatcher = std::function<Result<Json>(const Peer& peer, const DispatchRequest& request)>;

// What the policy works with; the store is required, the rest optional (absent: the ops that
// need them fail with the reason).
struct PolicyContext {
  store::Store* store = nullptr;
  const store::KeyCipher* cipher = nullptr;  // encrypt and decrypt
  Dispatcher dispatch;                       // op dispatch (actions)
  std::function<store::TimeMs()> clock;      // default store::NowMs
};

struct BrokerAnswer {
  Json message;         // {"ok": ..., "value"|"error": ..., "id"?}
  std::string refusal;  // why the request was refused (policy or malformed); empty otherwise
};

// Answers one request message. Store failures are answered ok:false but are not refusals.
BrokerAnswer AnswerRequest(const PolicyContext& context, const Peer& peer,
                           std::string_view request);

// The answer to a message too large to read (it is never parsed).
BrokerAnswer OversizeAnswer(std::size_t size);

// A refusal of `why`, echoing `id` when it is not null.
BrokerAnswer Refusal(std::string why, const Json& id = nullptr);

}  // namespace gale::datastore

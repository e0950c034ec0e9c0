// What a sensor host may do with the store, request by request (broker_protocol.h). Kept apart
// from the sockets so that the policy can be tested on its own.
#pragma once

#include <string>
#include <string_view>

#include "host/common/json.h"
#include "host/store/store.h"

namespace gale::sensors {

// Who is asking: the pack the node started the host for, and the node itself.
struct BrokerPeer {
  std::string pack;
  std::string node;
};

struct BrokerAnswer {
  Json message;         // {"ok": ..., "value"|"error": ..., "id"?}
  std::string refusal;  // why the request was refused (policy or malformed); empty otherwise
};

// Answers one request message. Store failures are answered ok:false but are not refusals.
BrokerAnswer AnswerBrokerRequest(store::Store& store, const BrokerPeer& peer,
                                 std::string_view request);

// The answer to a message too large to read (it is never parsed).
BrokerAnswer OversizeAnswer(std::size_t size);

}  // namespace gale::sensors

// The datastore broker between a sensor host and its node. A sensor host never opens the store:
// the node gives it one end of a socketpair(AF_UNIX, SOCK_SEQPACKET) as descriptor 3
// (`--broker-fd 3`) and answers on the other end, deciding what the host may do by the pack it
// started the host for (never by what a request says).
//
// One JSON object per message. Requests ("id" is echoed in the answer so a late answer is never
// taken for the next one):
//   {"id": 7, "op": "get", "name": "pack.Sensor:key"}        a key of the system scope, any name
//   {"id": 8, "op": "set", "name": "pack.Sensor:key", "value": "text"}
//                                                            system scope, names "<pack>." only
//   {"id": 9, "op": "counters", "dispatched": 1, "rejected": 0, "undelivered": 0}
//                                                            the host's counters, for /metrics
// Answers: {"id": 7, "ok": true, "value": ...} or {"id": 7, "ok": false, "error": "..."}.
// A "scope" other than "system", an unknown op or field, a message that is not a JSON object or
// is over kBrokerMaxMessage is refused (ok:false), counted and logged by the node.
#pragma once

#include <cstddef>

namespace gale::sensors {

inline constexpr std::size_t kBrokerMaxMessage = 1 << 20;  // bytes, requests and answers
// The descriptor number the supervisor gives the host's end.
inline constexpr int kBrokerFd = 3;

}  // namespace gale::sensors

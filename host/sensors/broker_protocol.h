// The sensor host's end of the datastore broker: the node gives each host one end of a
// socketpair(AF_UNIX, SOCK_SEQPACKET) as descriptor 3 (`--broker-fd 3`) and answers on the other
// end for the pack it started the host for. The protocol (ops, limits, what a peer may do) is
// host/datastore/protocol.h's.
#pragma once

#include "host/datastore/protocol.h"

namespace gale::sensors {

using datastore::kBrokerMaxMessage;
using datastore::kBrokerRequestsPerSecond;
// The descriptor number the supervisor gives the host's end.
inline constexpr int kBrokerFd = 3;

}  // namespace gale::sensors

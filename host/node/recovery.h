// What a node does when it starts on a fresh embedded bus. The embedded bus lives in the node's
// memory, so a crash loses every message on it; the store does not. Everything the store says
// is still waiting for the bus is produced again:
// - executions still `requested` (their request message is gone): the runner's claim
//   compare-and-set runs each at most once, however many requests name it;
// - trigger instances the API recorded `pending` before answering 2xx: the rules engine's
//   execution ids derive from the instance id and rule, so a second delivery requests nothing
//   twice.
// On a real Kafka the messages survive the node, and nothing is replayed.
#pragma once

#include <cstdint>

#include "host/bus/bus.h"
#include "host/common/result.h"
#include "host/store/store.h"

namespace gale::node {

struct Replayed {
  int64_t triggers = 0;
  int64_t executions = 0;
};

// Produces, oldest first, a trigger instance message for every `pending` trigger instance and
// an execution request for every `requested` execution, and waits for the bus to take them.
Result<Replayed> ReplayPending(store::Store& store, const bus::BusConfig& bus);

}  // namespace gale::node

// A trigger instance as a bus message and as a store record, both ways: the rules engine
// records what it consumes, the API records what it accepts before answering, and a node
// starting on a fresh embedded bus fires the still-pending records again (host/node/recovery.h).
#pragma once

#include "host/bus/messages.h"
#include "host/store/store.h"

namespace gale::requests {

store::TriggerInstance TriggerRecordOf(const bus::TriggerInstanceMessage& m,
                                       store::TriggerStatus status);
bus::TriggerInstanceMessage TriggerMessageOf(const store::TriggerInstance& record);

}  // namespace gale::requests

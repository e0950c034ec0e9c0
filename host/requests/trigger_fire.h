// Firing a trigger instance from outside a sensor, the same for every caller (the API's
// webhooks, actions through the datastore broker's dispatch): the trigger type must exist and
// the payload match its payload_schema; the instance is recorded `pending` before it is
// produced, so a node that dies before the rules engine has it fires it again when it starts
// (host/node/recovery.h), and one the bus refused is marked processing_failed (its caller was
// told, and may send it again).
#pragma once

#include <map>
#include <string>

#include "host/bus/bus.h"
#include "host/bus/messages.h"
#include "host/packs/catalog.h"
#include "host/schema/validator.h"
#include "host/store/store.h"

namespace gale::requests {

// Trigger type ref -> its payload's validator: the core trigger types and every valid pack's.
using PayloadValidators = std::map<std::string, schema::Validator>;
PayloadValidators PayloadValidatorsOf(const packs::Catalog& catalog);

// Why `payload` cannot fire `trigger` ("trigger type 'x' not found", "payload does not match
// trigger type 'x': ..."), or Ok.
Status CheckTriggerPayload(const PayloadValidators& validators, const std::string& trigger,
                           const Json& payload);

// Records `instance` pending, then produces it to `topic` and waits (at most `timeout`) for the
// bus. Errors start with "store: " or "bus: " and are retryable.
Status FireTrigger(store::Store& store, bus::Producer& producer, const std::string& topic,
                   const bus::TriggerInstanceMessage& instance,
                   std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace gale::requests

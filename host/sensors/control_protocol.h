// The node's channel to a running sensor host, the other way round from the datastore broker's
// (broker_protocol.h, where the host asks): the supervisor gives each host one end of a
// socketpair(AF_UNIX, SOCK_SEQPACKET) as descriptor 4 (`--control-fd 4`) and writes to it; the
// host only reads. One JSON object per message, at most kBrokerMaxMessage bytes:
//
//   {"op": "start", "config": {...}, "rule_triggers": [{"rule", "type", "parameters"}]}
//        first, once, right after the host starts. `config` is the pack's config as the node
//        resolved it (packs.configs_path/<pack>.yaml, else the pack's config.yaml, with
//        config.schema.yaml's defaults: what python-script actions get as self.config). It
//        travels here, never in argv, the environment or a file: it may hold secrets, and the
//        host (the action user) cannot read GALE_HOME. `rule_triggers`: the enabled rules of any
//        pack on this pack's trigger types, what its Python sensors' add_trigger() receives.
//   {"op": "add_trigger" | "update_trigger" | "remove_trigger",
//    "trigger": {"rule", "type", "parameters"}}
//        a rule on one of this pack's trigger types was created (or enabled), had its trigger
//        parameters changed, or was deleted (or disabled): the host calls that hook of each
//        Python sensor with the type, and keeps running.
#pragma once

#include "host/sensors/broker_protocol.h"

namespace gale::sensors {

// The descriptor number the supervisor gives the host's end.
inline constexpr int kControlFd = 4;

}  // namespace gale::sensors

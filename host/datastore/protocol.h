// The datastore broker: how pack code outside the node (sensor hosts, actions) reaches the store.
// Pack code never opens the store: it talks to a thread of the node over an AF_UNIX
// SOCK_SEQPACKET socket, and the node decides what it may do by who the node knows it to be
// (the pack it started a sensor host for, the execution it gave a token to), never by what a
// request says.
//
// Two ways in:
//  - sensor hosts: the supervisor gives each host one end of a socketpair as descriptor 3
//    (`--broker-fd 3`, host/sensors/broker_protocol.h); the peer is the pack.
//  - actions: each runner listens on one socket, $GALE_DATASTORE_SOCKET in every execution's
//    environment (every runner type; mode 0660, group the action user's, so only actions and
//    the node can connect). The first message on a connection must be
//      {"id": 1, "op": "hello", "token": "<$GALE_DATASTORE_TOKEN>"}
//    which binds the connection to the execution the runner gave that token to (its pack,
//    action, execution id and user). A token is 128 random bits, valid only while its
//    execution runs; an unknown or expired token is refused and the connection closed.
//
// One JSON object per message. Requests carry an integer "id" that the answer echoes, so a late
// answer is never taken for the next one's. Answers: {"id": 7, "ok": true, "value": ...} or
// {"id": 7, "ok": false, "error": "..."}.
//
//   {"op": "get", "name": N, "scope"?: S, "decrypt"?: bool}
//        the value (a string) or null. A secret's value is its ciphertext unless decrypt is
//        true, as StackStorm's.
//   {"op": "set", "name": N, "value": "text", "scope"?: S, "ttl"?: seconds, "encrypt"?: bool}
//        null. encrypt seals the value with the deployment's key (a secret); ttl > 0 expires it.
//   {"op": "delete", "name": N, "scope"?: S}             whether the key existed
//   {"op": "list", "prefix"?: P, "scope"?: S}
//        [{"name", "value", "secret", "scope", "expire_timestamp"}], by name, at most
//        kListMaxKeys keys and kListMaxBytes of them (secrets stay ciphertext).
//   {"op": "dispatch", "trigger": REF, "payload"?: {...}, "trace_tag"?: "text"}     actions only
//        fires a trigger instance on gale.triggers, as the webhook route does, after checking
//        the trigger type exists and the payload matches its payload_schema; the instance's
//        {"id", "trigger", "trace_id"}.
//   {"op": "counters", "dispatched": n, "rejected": n, "undelivered": n}      sensor hosts only
//        the host's counters, for the API's /metrics.
// Scopes: "system" (the default) and "user" (actions only: the keys of the execution's user).
// Reads of either are open. Writes (set, delete) take only names of the peer's own pack,
// "<pack>." (what `local=True` names are), in either scope: a pack never changes what another
// pack's rules and actions read. The gale scope (API key hashes, rule overrides, counters) is
// never reachable. An unknown op or field, a bad field, a message that is not a JSON object or
// is over kBrokerMaxMessage is refused (ok:false), counted and logged by the node; a peer gets
// at most kBrokerRequestsPerSecond requests served per connection (beyond that its socket is
// not read, so a flooding peer only slows itself down).
#pragma once

#include <cstddef>

namespace gale::datastore {

inline constexpr std::size_t kBrokerMaxMessage = 1 << 20;  // bytes, requests and answers
inline constexpr int kBrokerRequestsPerSecond = 200;       // per connection
inline constexpr std::size_t kListMaxKeys = 1000;          // keys in one list answer
inline constexpr std::size_t kListMaxBytes = 512 << 10;    // their JSON, at most

}  // namespace gale::datastore

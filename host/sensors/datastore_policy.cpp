#include "host/sensors/datastore_policy.h"
#include "host/common/input_limits.h"

#include <cstdint>
#include <limits>
#include <set>

#include "host/sensors/broker_protocol.h"

namespace gale::sensors {
namespace {

BrokerAnswer Refuse(std::string why, const Json& id = nullptr) {
  BrokerAnswer a;
  a.message = {{"ok", false}, {"error", why}};
  if (!id.is_null()) a.message["id"] = id;
  a.refusal = std::move(why);
  return a;
}

BrokerAnswer Answer(const Json& id, Json value) {
  BrokerAnswer a;
  a.message = {{"ok", true}, {"value", std::move(value)}};
  if (!id.is_null()) a.message["id"] = id;
  return a;
}

BrokerAnswer StoreFailure(const Json& id, const Status& status) {
  BrokerAnswer a;
  a.message = {{"ok", false}, {"error", status.message()}};
  if (!id.is_null()) a.message["id"] = id;
  return a;
}

// A member of `object`, or null (const operator[] must not be given a missing key).
const Json& Field(const Json& object, const std::string& key) {
  static const Json kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

// The first field of `request` outside `allowed`, or "".
std::string UnknownField(const Json& request, const std::set<std::string>& allowed) {
  for (const auto& [key, value] : request.items()) {
    if (!allowed.contains(key)) return key;
  }
  return "";
}

bool IsCount(const Json& v) {
  return v.is_number_unsigned() &&
         v.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<int64_t>::max());
}

BrokerAnswer Get(store::Store& store, const Json& request, const Json& id) {
  const Json& name = Field(request, "name");
  if (!name.is_string() || name.get<std::string>().empty()) {
    return Refuse("get: \"name\" must be a non-empty string", id);
  }
  auto kv = store.GetKey({name.get<std::string>(), store::KeyScope::kSystem, ""}, store::NowMs());
  if (!kv.ok()) return StoreFailure(id, kv.status());
  return Answer(id, kv->has_value() ? Json((*kv)->value) : Json(nullptr));
}

BrokerAnswer Set(store::Store& store, const BrokerPeer& peer, const Json& request, const Json& id) {
  const Json& name = Field(request, "name");
  const Json& value = Field(request, "value");
  if (!name.is_string() || !value.is_string()) {
    return Refuse("set: \"name\" and \"value\" must be strings", id);
  }
  const std::string& n = name.get_ref<const std::string&>();
  if (n.rfind(peer.pack + ".", 0) != 0) {
    return Refuse("set: '" + n + "' is not a key of pack " + peer.pack + " (names start with '" +
                      peer.pack + ".')",
                  id);
  }
  store::KeyValue kv;
  kv.name = n;
  kv.value = value.get<std::string>();
  kv.scope = store::KeyScope::kSystem;
  Status s = store.SetKey(kv, store::NowMs());
  return s.ok() ? Answer(id, nullptr) : StoreFailure(id, s);
}

// The host's dispatch counters, where the API's /metrics reads them (scope gale).
BrokerAnswer Counters(store::Store& store, const BrokerPeer& peer, const Json& request,
                      const Json& id) {
  for (const char* field : {"dispatched", "rejected", "undelivered"}) {
    if (!IsCount(Field(request, field))) {
      return Refuse(std::string("counters: \"") + field + "\" must be a non-negative integer", id);
    }
  }
  store::KeyValue kv;
  kv.name = "sensor-counters:" + peer.node + ":" + peer.pack;
  kv.scope = store::KeyScope::kGale;
  kv.value = Json{{"dispatched", Field(request, "dispatched")},
                  {"rejected", Field(request, "rejected")},
                  {"undelivered", Field(request, "undelivered")}}
                 .dump();
  Status s = store.SetKey(kv, store::NowMs());
  return s.ok() ? Answer(id, nullptr) : StoreFailure(id, s);
}

}  // namespace

BrokerAnswer OversizeAnswer(std::size_t size) {
  return Refuse("message of " + std::to_string(size) + " bytes is over the broker's limit of " +
                std::to_string(kBrokerMaxMessage));
}

BrokerAnswer AnswerBrokerRequest(store::Store& store, const BrokerPeer& peer,
                                 std::string_view text) {
  if (text.size() > kBrokerMaxMessage) return OversizeAnswer(text.size());
  if (Status within = CheckJsonText(text); !within.ok()) return Refuse(within.message());
  const Json request = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!request.is_object()) return Refuse("not a JSON object");
  const Json& id = Field(request, "id");
  if (!id.is_null() && !id.is_number_integer()) return Refuse("\"id\" must be an integer");
  const Json& op = Field(request, "op");
  if (!op.is_string()) return Refuse("\"op\" must be a string", id);
  // Sensors have the system scope only: the gale scope holds API key hashes, rule overrides
  // and every node's counters, the user scope other people's keys.
  if (request.contains("scope") && Field(request, "scope") != "system") {
    return Refuse("scope " + Field(request, "scope").dump() + " is not open to sensors", id);
  }
  try {
    if (op == "get") {
      if (auto f = UnknownField(request, {"id", "op", "scope", "name"}); !f.empty()) {
        return Refuse("get: unknown field '" + f + "'", id);
      }
      return Get(store, request, id);
    }
    if (op == "set") {
      if (auto f = UnknownField(request, {"id", "op", "scope", "name", "value"}); !f.empty()) {
        return Refuse("set: unknown field '" + f + "'", id);
      }
      return Set(store, peer, request, id);
    }
    if (op == "counters") {
      if (auto f = UnknownField(request, {"id", "op", "dispatched", "rejected", "undelivered"});
          !f.empty()) {
        return Refuse("counters: unknown field '" + f + "'", id);
      }
      return Counters(store, peer, request, id);
    }
  } catch (const std::exception& e) {
    return StoreFailure(id, Status::Error(e.what()));
  }
  return Refuse("unknown op " + op.dump(), id);
}

}  // namespace gale::sensors

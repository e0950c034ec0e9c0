#include "host/datastore/policy.h"

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <limits>
#include <map>
#include <set>

#include "host/common/input_limits.h"
#include "host/datastore/protocol.h"

// Like GALE_ASSIGN_OR_RETURN, for the request's own faults: refused with the reason.
#define DATASTORE_ASSIGN_OR_REFUSE(lhs, expr) \
  DATASTORE_ASSIGN_OR_REFUSE_IMPL_(GALE_RESULT_CONCAT_(refuse_or_, __LINE__), lhs, expr)
#define DATASTORE_ASSIGN_OR_REFUSE_IMPL_(result, lhs, expr) \
  auto result = (expr);                                     \
  if (!result.ok()) return Refusal(result.message(), id_);  \
  lhs = std::move(result).value()

namespace gale::datastore {
namespace {

using store::KeyScope;

BrokerAnswer Answer(const Json& id, Json value) {
  BrokerAnswer a;
  a.message = {{"ok", true}, {"value", std::move(value)}};
  if (!id.is_null()) a.message["id"] = id;
  return a;
}

// Not the request's fault (the store, the bus, the node's key): answered, not counted.
BrokerAnswer Failure(const Json& id, const std::string& why) {
  BrokerAnswer a;
  a.message = {{"ok", false}, {"error", why}};
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

const char* KindName(const Peer& peer) {
  return peer.kind == Peer::Kind::kAction ? "actions" : "sensors";
}

// "system" (the default) for everyone; "user", the execution's user's keys, for actions only:
// a sensor runs on behalf of no one. The gale scope is Gale's own records.
Result<store::KeyRef> KeyOf(const Peer& peer, const Json& request, std::string name) {
  const Json& scope = Field(request, "scope");
  if (scope.is_null() || scope == "system") return store::KeyRef{std::move(name)};
  if (scope == "user" && peer.kind == Peer::Kind::kAction) {
    if (peer.user.empty()) return Status::Error("scope \"user\": the execution has no user");
    return store::KeyRef{std::move(name), KeyScope::kUser, peer.user};
  }
  return Status::Error("scope " + scope.dump() + " is not open to " + KindName(peer));
}

// Writes take only the peer's own pack's names, in every scope.
std::string NotOwnKey(const Peer& peer, const std::string& op, const std::string& name) {
  if (name.rfind(peer.pack + ".", 0) == 0) return "";
  return op + ": '" + name + "' is not a key of pack " + peer.pack + " (names start with '" +
         peer.pack + ".')";
}

// The name of `request`, or why it has none.
Result<std::string> NameOf(const std::string& op, const Json& request) {
  const Json& name = Field(request, "name");
  if (!name.is_string() || name.get_ref<const std::string&>().empty()) {
    return Status::Error(op + ": \"name\" must be a non-empty string");
  }
  return name.get<std::string>();
}

Result<bool> FlagOf(const std::string& op, const Json& request, const std::string& field) {
  const Json& flag = Field(request, field);
  if (flag.is_null()) return false;
  if (!flag.is_boolean()) return Status::Error(op + ": \"" + field + "\" must be true or false");
  return flag.get<bool>();
}

// StackStorm's expire_timestamp: "2026-12-07T05:00:00.000000Z", or null when the key never
// expires.
Json ExpireTimestamp(store::TimeMs at) {
  if (at <= 0) return nullptr;
  const std::time_t seconds = static_cast<std::time_t>(at / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[40];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%06dZ", text, static_cast<int>(at % 1000) * 1000);
  return std::string(out);
}

std::string_view ScopeName(KeyScope scope) {
  return scope == KeyScope::kUser ? "user" : "system";
}

class Request {
 public:
  Request(const PolicyContext& context, const Peer& peer, const Json& request, const Json& id)
      : ctx_(context), peer_(peer), request_(request), id_(id) {}

  BrokerAnswer Get() {
    DATASTORE_ASSIGN_OR_REFUSE(auto name, NameOf("get", request_));
    DATASTORE_ASSIGN_OR_REFUSE(auto ref, KeyOf(peer_, request_, name));
    DATASTORE_ASSIGN_OR_REFUSE(bool decrypt, FlagOf("get", request_, "decrypt"));
    auto kv = ctx_.store->GetKey(ref, Now());
    if (!kv.ok()) return Failure(id_, kv.message());
    if (!kv->has_value()) return Answer(id_, nullptr);
    const store::KeyValue& got = **kv;
    if (!got.secret || !decrypt) return Answer(id_, got.value);  // a secret stays sealed
    if (ctx_.cipher == nullptr) return Failure(id_, "get: the datastore key is not available");
    auto plain = ctx_.cipher->Decrypt(ref, got.value);
    if (!plain.ok()) return Failure(id_, "get: " + plain.message());
    return Answer(id_, std::move(plain).value());
  }

  BrokerAnswer Set() {
    DATASTORE_ASSIGN_OR_REFUSE(auto name, NameOf("set", request_));
    const Json& value = Field(request_, "value");
    if (!value.is_string()) return Refusal("set: \"value\" must be a string", id_);
    DATASTORE_ASSIGN_OR_REFUSE(auto ref, KeyOf(peer_, request_, name));
    if (auto why = NotOwnKey(peer_, "set", name); !why.empty()) return Refusal(why, id_);
    DATASTORE_ASSIGN_OR_REFUSE(bool encrypt, FlagOf("set", request_, "encrypt"));
    const Json& ttl = Field(request_, "ttl");
    if (!ttl.is_null() && (!ttl.is_number() || ttl.get<double>() <= 0 ||
                           ttl.get<double>() > 100.0 * 365 * 24 * 3600)) {
      return Refusal("set: \"ttl\" must be a positive number of seconds", id_);
    }
    const store::TimeMs now = Now();
    store::KeyValue kv;
    kv.name = ref.name;
    kv.scope = ref.scope;
    kv.user = ref.user;
    kv.secret = encrypt;
    if (!ttl.is_null()) kv.expire_at = now + static_cast<store::TimeMs>(ttl.get<double>() * 1000);
    if (encrypt) {
      if (ctx_.cipher == nullptr) return Failure(id_, "set: the datastore key is not available");
      // Sealed for this key, as the API's PUT /v1/keys does: a copy moved elsewhere won't open.
      auto sealed = ctx_.cipher->Encrypt(ref, value.get_ref<const std::string&>());
      if (!sealed.ok()) return Failure(id_, "set: " + sealed.message());
      kv.value = std::move(sealed).value();
    } else {
      kv.value = value.get<std::string>();
    }
    Status s = ctx_.store->SetKey(kv, now);
    if (s.ok()) return Answer(id_, nullptr);
    // Size limits are the caller's; never echo the value back.
    return s.retryable() ? Failure(id_, s.message()) : Refusal("set: " + s.message(), id_);
  }

  BrokerAnswer Delete() {
    DATASTORE_ASSIGN_OR_REFUSE(auto name, NameOf("delete", request_));
    DATASTORE_ASSIGN_OR_REFUSE(auto ref, KeyOf(peer_, request_, name));
    if (auto why = NotOwnKey(peer_, "delete", name); !why.empty()) return Refusal(why, id_);
    auto deleted = ctx_.store->DeleteKey(ref);
    if (!deleted.ok()) return Failure(id_, deleted.message());
    return Answer(id_, *deleted);
  }

  BrokerAnswer List() {
    const Json& prefix = Field(request_, "prefix");
    if (!prefix.is_null() && !prefix.is_string()) {
      return Refusal("list: \"prefix\" must be a string", id_);
    }
    DATASTORE_ASSIGN_OR_REFUSE(auto ref, KeyOf(peer_, request_, ""));
    auto keys = ctx_.store->ListKeys(ref.scope, ref.user,
                                     prefix.is_null() ? "" : prefix.get<std::string>(), Now());
    if (!keys.ok()) return Failure(id_, keys.message());
    // Bounded: the first keys by name, within one answer's room.
    Json items = Json::array();
    size_t bytes = 0;
    for (const auto& kv : *keys) {
      Json item = {{"name", kv.name},
                   {"value", kv.value},
                   {"secret", kv.secret},
                   {"scope", ScopeName(kv.scope)},
                   {"expire_timestamp", ExpireTimestamp(kv.expire_at)}};
      bytes += item.dump(-1, ' ', false, Json::error_handler_t::replace).size() + 1;
      if (items.size() >= kListMaxKeys || bytes > kListMaxBytes) break;
      items.push_back(std::move(item));
    }
    return Answer(id_, std::move(items));
  }

  BrokerAnswer Dispatch() {
    if (peer_.kind != Peer::Kind::kAction) {
      return Refusal("dispatch is not open to sensors (their sensor service dispatches)", id_);
    }
    const Json& trigger = Field(request_, "trigger");
    if (!trigger.is_string() || trigger.get_ref<const std::string&>().empty()) {
      return Refusal("dispatch: \"trigger\" must be a non-empty string (a trigger type ref)", id_);
    }
    DispatchRequest d;
    d.trigger = trigger.get<std::string>();
    const Json& payload = Field(request_, "payload");
    if (!payload.is_null() && !payload.is_object()) {
      return Refusal("dispatch: \"payload\" must be an object", id_);
    }
    if (payload.is_object()) d.payload = payload;
    const Json& tag = Field(request_, "trace_tag");
    // It becomes the instance's trace id (at most 128 characters on the bus).
    if (!tag.is_null() && (!tag.is_string() || tag.get_ref<const std::string&>().size() > 128)) {
      return Refusal("dispatch: \"trace_tag\" must be a string of at most 128 characters", id_);
    }
    if (tag.is_string()) d.trace_tag = tag.get<std::string>();
    if (!ctx_.dispatch) return Failure(id_, "dispatch: this node cannot fire triggers");
    auto fired = ctx_.dispatch(peer_, d);
    if (fired.ok()) return Answer(id_, std::move(fired).value());
    return fired.status().retryable() ? Failure(id_, "dispatch: " + fired.message())
                                      : Refusal("dispatch: " + fired.message(), id_);
  }

  // The host's dispatch counters, where the API's /metrics reads them (scope gale).
  BrokerAnswer Counters() {
    if (peer_.kind != Peer::Kind::kSensorHost) {
      return Refusal("counters is not open to actions", id_);
    }
    for (const char* field : {"dispatched", "rejected", "undelivered"}) {
      if (!IsCount(Field(request_, field))) {
        return Refusal(std::string("counters: \"") + field + "\" must be a non-negative integer",
                       id_);
      }
    }
    store::KeyValue kv;
    kv.name = "sensor-counters:" + peer_.node + ":" + peer_.pack;
    kv.scope = KeyScope::kGale;
    kv.value = Json{{"dispatched", Field(request_, "dispatched")},
                    {"rejected", Field(request_, "rejected")},
                    {"undelivered", Field(request_, "undelivered")}}
                   .dump();
    Status s = ctx_.store->SetKey(kv, Now());
    return s.ok() ? Answer(id_, nullptr) : Failure(id_, s.message());
  }

 private:
  store::TimeMs Now() const { return ctx_.clock ? ctx_.clock() : store::NowMs(); }

  const PolicyContext& ctx_;
  const Peer& peer_;
  const Json& request_;
  const Json& id_;
};

struct OpFields {
  std::set<std::string> fields;  // besides id and op
  BrokerAnswer (Request::*answer)();
};

const std::map<std::string, OpFields>& Ops() {
  static const std::map<std::string, OpFields> ops = {
      {"get", {{"scope", "name", "decrypt"}, &Request::Get}},
      {"set", {{"scope", "name", "value", "ttl", "encrypt"}, &Request::Set}},
      {"delete", {{"scope", "name"}, &Request::Delete}},
      {"list", {{"scope", "prefix"}, &Request::List}},
      {"dispatch", {{"trigger", "payload", "trace_tag"}, &Request::Dispatch}},
      {"counters", {{"dispatched", "rejected", "undelivered"}, &Request::Counters}},
  };
  return ops;
}

}  // namespace

BrokerAnswer Refusal(std::string why, const Json& id) {
  BrokerAnswer a;
  a.message = {{"ok", false}, {"error", why}};
  if (!id.is_null()) a.message["id"] = id;
  a.refusal = std::move(why);
  return a;
}

BrokerAnswer OversizeAnswer(std::size_t size) {
  return Refusal("message of " + std::to_string(size) + " bytes is over the broker's limit of " +
                 std::to_string(kBrokerMaxMessage));
}

BrokerAnswer AnswerRequest(const PolicyContext& context, const Peer& peer, std::string_view text) {
  if (text.size() > kBrokerMaxMessage) return OversizeAnswer(text.size());
  if (Status within = CheckJsonText(text); !within.ok()) return Refusal(within.message());
  const Json request = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!request.is_object()) return Refusal("not a JSON object");
  const Json& id = Field(request, "id");
  if (!id.is_null() && !id.is_number_integer()) return Refusal("\"id\" must be an integer");
  const Json& op = Field(request, "op");
  if (!op.is_string()) return Refusal("\"op\" must be a string", id);
  auto found = Ops().find(op.get<std::string>());
  if (found == Ops().end()) return Refusal("unknown op " + op.dump(), id);
  const std::string& name = found->first;
  std::set<std::string> allowed = found->second.fields;
  allowed.insert({"id", "op"});
  if (auto f = UnknownField(request, allowed); !f.empty()) {
    return Refusal(name + ": unknown field '" + f + "'", id);
  }
  if (context.store == nullptr) return Failure(id, "the node has no store");
  try {
    Request r(context, peer, request, id);
    return (r.*(found->second.answer))();
  } catch (const std::exception& e) {
    return Failure(id, e.what());
  }
}

}  // namespace gale::datastore

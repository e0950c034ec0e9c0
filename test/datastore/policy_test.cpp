// The datastore policy request by request, for sensor hosts and for actions: every op, what each
// may reach, sealed values, expiry and the bounds of a list.
#include "host/datastore/policy.h"

#include <gtest/gtest.h>

#include "host/datastore/protocol.h"
#include "host/store/open.h"
#include "test/support/pack_dir.h"

namespace gale::datastore {
namespace {

using store::KeyScope;
using testing::TempDir;

class PolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::OpenStore("sqlite://" + dir_.str() + "/gale.db");
    ASSERT_TRUE(opened.ok()) << opened.message();
    store_ = std::move(opened).value();
    auto cipher = store::KeyCipher::LoadOrCreate(dir_.str() + "/keys/datastore.key");
    ASSERT_TRUE(cipher.ok()) << cipher.message();
    cipher_ = *cipher;
    context_.store = store_.get();
    context_.cipher = &*cipher_;
    context_.clock = [this] { return now_; };
    context_.dispatch = [this](const Peer& peer, const DispatchRequest& d) -> Result<Json> {
      dispatched_.push_back({peer, d});
      if (d.trigger == "nope.missing")
        return Status::Error("trigger type 'nope.missing' not found");
      if (d.trigger == "bus.down") return Status::Error("bus: down", /*retryable=*/true);
      return Json{{"id", "ti-1"}, {"trigger", d.trigger}};
    };
  }
  BrokerAnswer AskSensor(const Json& request) {
    return AnswerRequest(context_, sensor_, request.dump());
  }
  BrokerAnswer AskAction(const Json& request) {
    return AnswerRequest(context_, action_, request.dump());
  }
  std::optional<store::KeyValue> Key(const std::string& name, KeyScope scope,
                                     const std::string& user = "") {
    auto kv = store_->GetKey({name, scope, user}, now_);
    if (!kv.ok() || !kv->has_value()) return std::nullopt;
    return **kv;
  }

  TempDir dir_;
  store::StorePtr store_;
  std::optional<store::KeyCipher> cipher_;
  PolicyContext context_;
  store::TimeMs now_ = 1'800'000'000'000;
  std::vector<std::pair<Peer, DispatchRequest>> dispatched_;
  Peer sensor_{Peer::Kind::kSensorHost, "mypack", "node-1"};
  Peer action_{Peer::Kind::kAction, "mypack", "node-1", "mypack.act", "ex-1", "alice"};
};

TEST_F(PolicyTest, SensorsReadAnySystemKeyAndWriteTheirPacks) {
  auto set = AskSensor({{"id", 1}, {"op", "set"}, {"name", "mypack.Sensor:k"}, {"value", "v"}});
  EXPECT_EQ(set.message, (Json{{"id", 1}, {"ok", true}, {"value", nullptr}}));
  EXPECT_TRUE(set.refusal.empty());
  EXPECT_EQ(Key("mypack.Sensor:k", KeyScope::kSystem)->value, "v");
  auto get =
      AskSensor({{"id", 2}, {"op", "get"}, {"name", "mypack.Sensor:k"}, {"scope", "system"}});
  EXPECT_EQ(get.message, (Json{{"id", 2}, {"ok", true}, {"value", "v"}}));
  // Any system key may be read (StackStorm's st2kv.system); an absent one is null.
  ASSERT_TRUE(store_->SetKey({"shared", "s"}, now_).ok());
  EXPECT_EQ(AskSensor({{"op", "get"}, {"name", "shared"}}).message["value"], "s");
  EXPECT_EQ(AskSensor({{"op", "get"}, {"name", "absent"}}).message["value"], nullptr);
  // Sensors delete and list too (the Python sensor service has the same calls).
  EXPECT_EQ(AskSensor({{"op", "delete"}, {"name", "mypack.Sensor:k"}}).message["value"], true);
  EXPECT_EQ(AskSensor({{"op", "delete"}, {"name", "mypack.Sensor:k"}}).message["value"], false);
  auto listed = AskSensor({{"op", "list"}, {"prefix", "sha"}});
  ASSERT_EQ(listed.message["value"].size(), 1u) << listed.message.dump();
  EXPECT_EQ(listed.message["value"][0]["name"], "shared");
  // And seal and open secrets as actions do (StackStorm's sensor_service has decrypt too).
  ASSERT_EQ(AskSensor({{"op", "set"}, {"name", "mypack.s"}, {"value", "pw"}, {"encrypt", true}})
                .message["ok"],
            true);
  EXPECT_TRUE(Key("mypack.s", KeyScope::kSystem)->secret);
  EXPECT_EQ(AskSensor({{"op", "get"}, {"name", "mypack.s"}, {"decrypt", true}}).message["value"],
            "pw");
}

TEST_F(PolicyTest, CountersGoToTheGaleScopeUnderTheNodeAndPack) {
  auto a = AskSensor({{"op", "counters"}, {"dispatched", 7}, {"rejected", 1}, {"undelivered", 0}});
  EXPECT_EQ(a.message["ok"], true) << a.message.dump();
  EXPECT_EQ(Key("sensor-counters:node-1:mypack", KeyScope::kGale)->value,
            R"({"dispatched":7,"rejected":1,"undelivered":0})");
  // An action has no counters to report, and cannot overwrite a host's.
  EXPECT_EQ(AskAction({{"op", "counters"}, {"dispatched", 0}, {"rejected", 0}, {"undelivered", 0}})
                .refusal,
            "counters is not open to actions");
}

TEST_F(PolicyTest, EverythingElseIsRefusedWithTheReason) {
  const std::vector<std::pair<Json, std::string>> cases = {
      {{{"op", "set"}, {"name", "other.Sensor:k"}, {"value", "v"}},
       "set: 'other.Sensor:k' is not a key of pack mypack (names start with 'mypack.')"},
      {{{"op", "set"}, {"name", "mypack"}, {"value", "v"}},
       "set: 'mypack' is not a key of pack mypack (names start with 'mypack.')"},
      {{{"op", "delete"}, {"name", "other.x"}},
       "delete: 'other.x' is not a key of pack mypack (names start with 'mypack.')"},
      {{{"op", "set"}, {"scope", "gale"}, {"name", "mypack.x"}, {"value", "v"}},
       "scope \"gale\" is not open to sensors"},
      {{{"op", "get"}, {"scope", "user"}, {"name", "mypack.x"}},
       "scope \"user\" is not open to sensors"},
      {{{"op", "list"}, {"scope", "user"}}, "scope \"user\" is not open to sensors"},
      {{{"op", "set"}, {"name", "mypack.x"}, {"value", 3}}, "set: \"value\" must be a string"},
      {{{"op", "set"}, {"name", "mypack.x"}, {"value", "v"}, {"ttl", 0}},
       "set: \"ttl\" must be a positive number of seconds"},
      {{{"op", "set"}, {"name", "mypack.x"}, {"value", "v"}, {"ttl", "10"}},
       "set: \"ttl\" must be a positive number of seconds"},
      {{{"op", "set"}, {"name", "mypack.x"}, {"value", "v"}, {"encrypt", "yes"}},
       "set: \"encrypt\" must be true or false"},
      {{{"op", "get"}, {"name", "x"}, {"decrypt", 1}}, "get: \"decrypt\" must be true or false"},
      {{{"op", "get"}, {"name", ""}}, "get: \"name\" must be a non-empty string"},
      {{{"op", "delete"}}, "delete: \"name\" must be a non-empty string"},
      {{{"op", "list"}, {"prefix", 1}}, "list: \"prefix\" must be a string"},
      {{{"op", "get"}, {"name", "x"}, {"user", "root"}}, "get: unknown field 'user'"},
      {{{"op", "dispatch"}, {"trigger", "mypack.t"}},
       "dispatch is not open to sensors (their sensor service dispatches)"},
      {{{"op", "counters"}, {"dispatched", -1}, {"rejected", 0}, {"undelivered", 0}},
       "counters: \"dispatched\" must be a non-negative integer"},
      {{{"op", "counters"}, {"dispatched", 1}, {"rejected", 0.5}, {"undelivered", 0}},
       "counters: \"rejected\" must be a non-negative integer"},
      {{{"op", "counters"}, {"dispatched", 1}, {"rejected", 0}},
       "counters: \"undelivered\" must be a non-negative integer"},
      {{{"op", "counters"}, {"dispatched", 1}, {"rejected", 0}, {"undelivered", 0}, {"node", "x"}},
       "counters: unknown field 'node'"},
      {{{"op", "hello"}, {"token", "x"}}, "unknown op \"hello\""},
      {{{"name", "mypack.x"}}, "\"op\" must be a string"},
      {{{"op", "get"}, {"id", "7"}}, "\"id\" must be an integer"},
      {Json::array({1, 2}), "not a JSON object"},
  };
  for (const auto& [request, why] : cases) {
    auto a = AskSensor(request);
    EXPECT_EQ(a.message["ok"], false) << request.dump();
    EXPECT_EQ(a.message["error"], why) << request.dump();
    EXPECT_EQ(a.refusal, why) << request.dump();
  }
  EXPECT_EQ(AnswerRequest(context_, sensor_, "{not json").refusal, "not a JSON object");
  EXPECT_EQ(AnswerRequest(context_, sensor_, std::string(kBrokerMaxMessage + 1, ' ')).refusal,
            "message of 1048577 bytes is over the broker's limit of 1048576");
  EXPECT_EQ(Key("other.Sensor:k", KeyScope::kSystem), std::nullopt);
  EXPECT_EQ(Key("mypack.x", KeyScope::kGale), std::nullopt);
  EXPECT_EQ(Key("mypack.x", KeyScope::kSystem), std::nullopt);
  EXPECT_TRUE(dispatched_.empty());
}

TEST_F(PolicyTest, AnActionWritesItsPacksKeysInTheSystemAndItsUsersScope) {
  EXPECT_TRUE(AskAction({{"op", "set"}, {"name", "mypack.a:k"}, {"value", "sys"}}).refusal.empty());
  EXPECT_TRUE(AskAction({{"op", "set"}, {"scope", "user"}, {"name", "mypack.a:k"}, {"value", "u"}})
                  .refusal.empty());
  EXPECT_EQ(Key("mypack.a:k", KeyScope::kSystem)->value, "sys");
  EXPECT_EQ(Key("mypack.a:k", KeyScope::kUser, "alice")->value, "u");
  EXPECT_EQ(Key("mypack.a:k", KeyScope::kUser, "bob"), std::nullopt);
  // Reads: any system key, and its user's keys only (never another user's).
  ASSERT_TRUE(store_->SetKey({"bobs", "b", KeyScope::kUser, "bob"}, now_).ok());
  ASSERT_TRUE(store_->SetKey({"alices", "a", KeyScope::kUser, "alice"}, now_).ok());
  EXPECT_EQ(AskAction({{"op", "get"}, {"scope", "user"}, {"name", "alices"}}).message["value"],
            "a");
  EXPECT_EQ(AskAction({{"op", "get"}, {"scope", "user"}, {"name", "bobs"}}).message["value"],
            nullptr);
  auto listed = AskAction({{"op", "list"}, {"scope", "user"}});
  ASSERT_EQ(listed.message["value"].size(), 2u) << listed.message.dump();
  EXPECT_EQ(listed.message["value"][0], (Json{{"name", "alices"},
                                              {"value", "a"},
                                              {"secret", false},
                                              {"scope", "user"},
                                              {"expire_timestamp", nullptr}}));
  EXPECT_EQ(listed.message["value"][1]["name"], "mypack.a:k");
  // Writes of other packs' names are refused in the user scope too; the gale scope never opens.
  EXPECT_EQ(
      AskAction({{"op", "set"}, {"scope", "user"}, {"name", "alices"}, {"value", "x"}}).refusal,
      "set: 'alices' is not a key of pack mypack (names start with 'mypack.')");
  EXPECT_EQ(AskAction({{"op", "delete"}, {"scope", "user"}, {"name", "alices"}}).refusal,
            "delete: 'alices' is not a key of pack mypack (names start with 'mypack.')");
  EXPECT_EQ(AskAction({{"op", "get"}, {"scope", "gale"}, {"name", "x"}}).refusal,
            "scope \"gale\" is not open to actions");
  EXPECT_EQ(Key("alices", KeyScope::kUser, "alice")->value, "a");
  EXPECT_EQ(
      AskAction({{"op", "delete"}, {"scope", "user"}, {"name", "mypack.a:k"}}).message["value"],
      true);
  EXPECT_EQ(Key("mypack.a:k", KeyScope::kUser, "alice"), std::nullopt);
  EXPECT_EQ(Key("mypack.a:k", KeyScope::kSystem)->value, "sys");
  // An execution without a user has no user scope.
  Peer nobody = action_;
  nobody.user.clear();
  EXPECT_EQ(AnswerRequest(context_, nobody, R"({"op":"get","scope":"user","name":"x"})").refusal,
            "scope \"user\": the execution has no user");
}

TEST_F(PolicyTest, EncryptedValuesAreSealedForTheirKeyAndOpenOnlyWithDecrypt) {
  for (const char* scope : {"system", "user"}) {
    SCOPED_TRACE(scope);
    auto set = AskAction({{"op", "set"},
                          {"scope", scope},
                          {"name", "mypack.secret"},
                          {"value", "hunter2"},
                          {"encrypt", true}});
    ASSERT_EQ(set.message["ok"], true) << set.message.dump();
    const KeyScope ks = std::string(scope) == "user" ? KeyScope::kUser : KeyScope::kSystem;
    auto stored = Key("mypack.secret", ks, ks == KeyScope::kUser ? "alice" : "");
    ASSERT_TRUE(stored.has_value());
    EXPECT_TRUE(stored->secret);
    EXPECT_EQ(stored->value.find("hunter2"), std::string::npos);
    EXPECT_EQ(stored->value.rfind("aes256gcm2:", 0), 0u) << stored->value;
    // Without decrypt the ciphertext, as StackStorm's get_value; with it the plain text.
    auto sealed = AskAction({{"op", "get"}, {"scope", scope}, {"name", "mypack.secret"}});
    EXPECT_EQ(sealed.message["value"], stored->value);
    auto plain =
        AskAction({{"op", "get"}, {"scope", scope}, {"name", "mypack.secret"}, {"decrypt", true}});
    EXPECT_EQ(plain.message["value"], "hunter2") << plain.message.dump();
    auto listed = AskAction({{"op", "list"}, {"scope", scope}, {"prefix", "mypack.sec"}});
    EXPECT_EQ(listed.message["value"][0]["secret"], true);
    EXPECT_EQ(listed.message["value"][0]["value"], stored->value);
  }
  // A value sealed by the API (`gale key set --encrypt`) opens the same way; decrypt of a plain
  // value is the value.
  store::KeyValue api{"apikey", "", KeyScope::kSystem, "", 0, true};
  api.value = *cipher_->Encrypt({"apikey"}, "from-the-api");
  ASSERT_TRUE(store_->SetKey(api, now_).ok());
  EXPECT_EQ(AskAction({{"op", "get"}, {"name", "apikey"}, {"decrypt", true}}).message["value"],
            "from-the-api");
  ASSERT_TRUE(store_->SetKey({"plain", "p"}, now_).ok());
  EXPECT_EQ(AskAction({{"op", "get"}, {"name", "plain"}, {"decrypt", true}}).message["value"], "p");
  // A secret moved into another key does not open there (the cipher's binding).
  store::KeyValue moved = api;
  moved.name = "mypack.moved";
  ASSERT_TRUE(store_->SetKey(moved, now_).ok());
  auto refused = AskAction({{"op", "get"}, {"name", "mypack.moved"}, {"decrypt", true}});
  EXPECT_EQ(refused.message["ok"], false);
  EXPECT_EQ(refused.message.dump().find("from-the-api"), std::string::npos);
  // Without the node's key, sealing and opening fail with the reason (not refusals).
  context_.cipher = nullptr;
  auto no_key = AskAction({{"op", "get"}, {"name", "apikey"}, {"decrypt", true}});
  EXPECT_EQ(no_key.message["error"], "get: the datastore key is not available");
  EXPECT_TRUE(no_key.refusal.empty());
  EXPECT_EQ(AskAction({{"op", "set"}, {"name", "mypack.s"}, {"value", "v"}, {"encrypt", true}})
                .message["error"],
            "set: the datastore key is not available");
  EXPECT_EQ(Key("mypack.s", KeyScope::kSystem), std::nullopt);
}

TEST_F(PolicyTest, ATtlExpiresTheKey) {
  ASSERT_EQ(
      AskAction({{"op", "set"}, {"name", "mypack.t"}, {"value", "v"}, {"ttl", 30}}).message["ok"],
      true);
  auto listed = AskAction({{"op", "list"}, {"prefix", "mypack.t"}});
  // 1'800'000'030'000 ms: 2027-01-15T08:00:30Z.
  EXPECT_EQ(listed.message["value"][0]["expire_timestamp"], "2027-01-15T08:00:30.000000Z");
  now_ += 29'000;
  EXPECT_EQ(AskAction({{"op", "get"}, {"name", "mypack.t"}}).message["value"], "v");
  now_ += 2'000;
  EXPECT_EQ(AskAction({{"op", "get"}, {"name", "mypack.t"}}).message["value"], nullptr);
  EXPECT_EQ(AskAction({{"op", "list"}, {"prefix", "mypack.t"}}).message["value"], Json::array());
}

TEST_F(PolicyTest, AListIsBoundedInKeysAndBytes) {
  for (size_t i = 0; i < kListMaxKeys + 5; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "many.%05zu", i);
    ASSERT_TRUE(store_->SetKey({name, "v"}, now_).ok());
  }
  auto many = AskAction({{"op", "list"}, {"prefix", "many."}});
  ASSERT_EQ(many.message["value"].size(), kListMaxKeys);
  EXPECT_EQ(many.message["value"].back()["name"], "many.00999");  // the first, by name
  const std::string big(100 << 10, 'x');
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(store_->SetKey({"big." + std::to_string(i), big}, now_).ok());
  }
  auto large = AskAction({{"op", "list"}, {"prefix", "big."}});
  EXPECT_EQ(large.message["value"].size(), kListMaxBytes / big.size());
  EXPECT_LE(large.message.dump().size(), kListMaxBytes + 1024);
}

TEST_F(PolicyTest, DispatchHandsTheTriggerToTheNodeWithTheActionAsPeer) {
  auto fired = AskAction({{"id", 4},
                          {"op", "dispatch"},
                          {"trigger", "mypack.event"},
                          {"payload", {{"a", 1}}},
                          {"trace_tag", "tag-1"}});
  EXPECT_EQ(
      fired.message,
      (Json{{"id", 4}, {"ok", true}, {"value", {{"id", "ti-1"}, {"trigger", "mypack.event"}}}}));
  ASSERT_EQ(dispatched_.size(), 1u);
  EXPECT_EQ(dispatched_[0].first.execution, "ex-1");
  EXPECT_EQ(dispatched_[0].second.payload, (Json{{"a", 1}}));
  EXPECT_EQ(dispatched_[0].second.trace_tag, "tag-1");
  // The payload defaults to {}; bad fields are refused before the node sees them.
  ASSERT_EQ(AskAction({{"op", "dispatch"}, {"trigger", "mypack.event"}}).message["ok"], true);
  EXPECT_EQ(dispatched_.back().second.payload, Json::object());
  EXPECT_EQ(AskAction({{"op", "dispatch"}, {"trigger", "t"}, {"payload", "x"}}).refusal,
            "dispatch: \"payload\" must be an object");
  EXPECT_EQ(AskAction({{"op", "dispatch"}, {"trigger", "t"}, {"trace_tag", 3}}).refusal,
            "dispatch: \"trace_tag\" must be a string of at most 128 characters");
  EXPECT_EQ(AskAction({{"op", "dispatch"}, {"trigger", "t"}, {"trace_tag", std::string(129, 't')}})
                .refusal,
            "dispatch: \"trace_tag\" must be a string of at most 128 characters");
  EXPECT_EQ(AskAction({{"op", "dispatch"}}).refusal,
            "dispatch: \"trigger\" must be a non-empty string (a trigger type ref)");
  EXPECT_EQ(dispatched_.size(), 2u);
  // The node's verdict: the request's fault is a refusal, the bus's is not.
  EXPECT_EQ(AskAction({{"op", "dispatch"}, {"trigger", "nope.missing"}}).refusal,
            "dispatch: trigger type 'nope.missing' not found");
  auto down = AskAction({{"op", "dispatch"}, {"trigger", "bus.down"}});
  EXPECT_EQ(down.message["error"], "dispatch: bus: down");
  EXPECT_TRUE(down.refusal.empty());
}

}  // namespace
}  // namespace gale::datastore

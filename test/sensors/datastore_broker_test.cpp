// The sensor hosts' datastore broker: the policy request by request, and the socket side (a
// client talking to the node's thread, floods, oversize and garbage).
#include "host/sensors/datastore_broker.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host/sensors/broker_client.h"
#include "host/sensors/broker_protocol.h"
#include "host/sensors/datastore_policy.h"
#include "host/store/open.h"
#include "test/support/pack_dir.h"

namespace gale::sensors {
namespace {

using testing::TempDir;

class DatastoreBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::OpenStore("sqlite://" + dir_.str() + "/gale.db");
    ASSERT_TRUE(opened.ok()) << opened.message();
    store_ = std::move(opened).value();
  }
  BrokerAnswer Ask(const Json& request) {
    return AnswerBrokerRequest(*store_, peer_, request.dump());
  }
  std::optional<std::string> Key(const std::string& name, store::KeyScope scope) {
    auto kv = store_->GetKey({name, scope, ""}, store::NowMs());
    if (!kv.ok() || !kv->has_value()) return std::nullopt;
    return (*kv)->value;
  }

  TempDir dir_;
  store::StorePtr store_;
  BrokerPeer peer_{"mypack", "node-1"};
};

TEST_F(DatastoreBrokerTest, PackKeysAreReadAndWrittenInTheSystemScope) {
  auto set = Ask({{"id", 1}, {"op", "set"}, {"name", "mypack.Sensor:k"}, {"value", "v"}});
  EXPECT_EQ(set.message, (Json{{"id", 1}, {"ok", true}, {"value", nullptr}}));
  EXPECT_TRUE(set.refusal.empty());
  EXPECT_EQ(Key("mypack.Sensor:k", store::KeyScope::kSystem), "v");
  auto get = Ask({{"id", 2}, {"op", "get"}, {"name", "mypack.Sensor:k"}, {"scope", "system"}});
  EXPECT_EQ(get.message, (Json{{"id", 2}, {"ok", true}, {"value", "v"}}));
  // Any system key may be read (StackStorm's st2kv.system); an absent one is null.
  ASSERT_TRUE(store_->SetKey({"shared", "s"}, store::NowMs()).ok());
  EXPECT_EQ(Ask({{"op", "get"}, {"name", "shared"}}).message["value"], "s");
  EXPECT_EQ(Ask({{"op", "get"}, {"name", "absent"}}).message["value"], nullptr);
}

TEST_F(DatastoreBrokerTest, CountersGoToTheGaleScopeUnderTheNodeAndPack) {
  auto a = Ask({{"op", "counters"}, {"dispatched", 7}, {"rejected", 1}, {"undelivered", 0}});
  EXPECT_EQ(a.message["ok"], true) << a.message.dump();
  EXPECT_EQ(Key("sensor-counters:node-1:mypack", store::KeyScope::kGale),
            R"({"dispatched":7,"rejected":1,"undelivered":0})");
}

TEST_F(DatastoreBrokerTest, EverythingElseIsRefusedWithTheReason) {
  const std::vector<std::pair<Json, std::string>> cases = {
      {{{"op", "set"}, {"name", "other.Sensor:k"}, {"value", "v"}},
       "set: 'other.Sensor:k' is not a key of pack mypack (names start with 'mypack.')"},
      {{{"op", "set"}, {"name", "mypack"}, {"value", "v"}},
       "set: 'mypack' is not a key of pack mypack (names start with 'mypack.')"},
      {{{"op", "set"}, {"scope", "gale"}, {"name", "mypack.x"}, {"value", "v"}},
       "scope \"gale\" is not open to sensors"},
      {{{"op", "get"}, {"scope", "user"}, {"name", "mypack.x"}},
       "scope \"user\" is not open to sensors"},
      {{{"op", "set"}, {"name", "mypack.x"}, {"value", 3}},
       "set: \"name\" and \"value\" must be strings"},
      {{{"op", "get"}, {"name", ""}}, "get: \"name\" must be a non-empty string"},
      {{{"op", "get"}, {"name", "x"}, {"user", "root"}}, "get: unknown field 'user'"},
      {{{"op", "counters"}, {"dispatched", -1}, {"rejected", 0}, {"undelivered", 0}},
       "counters: \"dispatched\" must be a non-negative integer"},
      {{{"op", "counters"}, {"dispatched", 1}, {"rejected", 0.5}, {"undelivered", 0}},
       "counters: \"rejected\" must be a non-negative integer"},
      {{{"op", "counters"}, {"dispatched", 1}, {"rejected", 0}},
       "counters: \"undelivered\" must be a non-negative integer"},
      {{{"op", "counters"}, {"dispatched", 1}, {"rejected", 0}, {"undelivered", 0}, {"node", "x"}},
       "counters: unknown field 'node'"},
      {{{"op", "delete"}, {"name", "mypack.x"}}, "unknown op \"delete\""},
      {{{"name", "mypack.x"}}, "\"op\" must be a string"},
      {{{"op", "get"}, {"id", "7"}}, "\"id\" must be an integer"},
      {Json::array({1, 2}), "not a JSON object"},
  };
  for (const auto& [request, why] : cases) {
    auto a = Ask(request);
    EXPECT_EQ(a.message["ok"], false) << request.dump();
    EXPECT_EQ(a.message["error"], why) << request.dump();
    EXPECT_EQ(a.refusal, why) << request.dump();
  }
  EXPECT_EQ(AnswerBrokerRequest(*store_, peer_, "{not json").refusal, "not a JSON object");
  EXPECT_EQ(AnswerBrokerRequest(*store_, peer_, std::string(kBrokerMaxMessage + 1, ' ')).refusal,
            "message of 1048577 bytes is over the broker's limit of 1048576");
  EXPECT_EQ(Key("other.Sensor:k", store::KeyScope::kSystem), std::nullopt);
  EXPECT_EQ(Key("mypack.x", store::KeyScope::kGale), std::nullopt);
}

TEST_F(DatastoreBrokerTest, AClientTalksToTheBrokerThreadAndAFloodStaysWithItsHost) {
  DatastoreBroker broker(store_.get(), "node-1");
  ASSERT_TRUE(broker.Start().ok());
  auto good_fd = broker.Connect("mypack");
  auto bad_fd = broker.Connect("flooder");
  ASSERT_TRUE(good_fd.ok() && bad_fd.ok());
  auto client = BrokerClient::Adopt(*good_fd);
  ASSERT_TRUE(client.ok()) << client.message();
  ASSERT_TRUE((*client)->Set("mypack.S:k", "v").ok());
  auto got = (*client)->Get("mypack.S:k");
  ASSERT_TRUE(got.ok()) << got.message();
  EXPECT_EQ(*got, "v");
  auto refused = (*client)->Set("other.S:k", "v");
  EXPECT_EQ(refused.message(),
            "set: 'other.S:k' is not a key of pack mypack (names start with 'mypack.')");
  EXPECT_EQ(broker.refused("mypack"), 1);

  // The flooder sends garbage as fast as its socket takes it and reads nothing.
  int sent = 0;
  for (int i = 0; i < 50000; ++i) {
    sent += send(*bad_fd, "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1;
  }
  EXPECT_GT(sent, 0);
  // Meanwhile the other host is answered promptly, however many the flooder queued.
  for (int i = 0; i < 20; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto value = (*client)->Get("mypack.S:k");
    ASSERT_TRUE(value.ok()) << value.message();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
  }
  EXPECT_GE(broker.refused("flooder"), 1);
  EXPECT_LE(broker.refused("flooder"), sent);
  close(*bad_fd);
  broker.Stop();
  // A stopped broker's client gets an error, not a hang.
  (*client)->call_timeout = std::chrono::milliseconds(500);
  EXPECT_FALSE((*client)->Get("mypack.S:k").ok());
}

TEST_F(DatastoreBrokerTest, AnAdoptedDescriptorMustBeASeqpacketSocket) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  auto c = BrokerClient::Adopt(p[0]);
  EXPECT_EQ(c.message(), "datastore broker: descriptor " + std::to_string(p[0]) +
                             ": Socket operation on non-socket");
  close(p[0]);
  close(p[1]);
}

}  // namespace
}  // namespace gale::sensors

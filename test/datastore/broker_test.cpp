// The datastore broker's sockets: a sensor host's socketpair, actions' connections to the
// listening socket bound by a hello token, floods, oversize and garbage.
#include "host/datastore/broker.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "host/datastore/protocol.h"
#include "host/sensors/broker_client.h"
#include "host/store/open.h"
#include "test/support/node_harness.h"
#include "test/support/pack_dir.h"

namespace gale::datastore {
namespace {

using sensors::BrokerClient;
using testing::TempDir;

class DatastoreBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::OpenStore("sqlite://" + dir_.str() + "/gale.db");
    ASSERT_TRUE(opened.ok()) << opened.message();
    store_ = std::move(opened).value();
  }
  // A connection to `path` as an action makes it, adopted by a client.
  std::unique_ptr<BrokerClient> Dial(const std::string& path) {
    const int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << strerror(errno);
    auto client = BrokerClient::Adopt(fd);
    EXPECT_TRUE(client.ok()) << client.message();
    if (!client.ok()) return nullptr;
    (*client)->call_timeout = std::chrono::seconds(5);
    return std::move(client).value();
  }
  Result<Json> Call(BrokerClient& c, Json request) {
    return c.Call(std::move(request), std::chrono::seconds(5));
  }

  TempDir dir_;
  store::StorePtr store_;
};

TEST_F(DatastoreBrokerTest, AClientTalksToTheBrokerThreadAndAFloodStaysWithItsHost) {
  DatastoreBroker broker({.store = store_.get()}, "node-1");
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

TEST_F(DatastoreBrokerTest, AnActionsConnectionIsBoundByItsTokenWhileItsExecutionRuns) {
  DatastoreBroker broker({.store = store_.get()}, "node-1");
  const std::string path = dir_.str() + "/datastore.sock";
  ASSERT_TRUE(broker.Listen(path, std::nullopt).ok());
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);  // no action group: the node's user only
  ASSERT_TRUE(broker.Start().ok());
  auto token =
      broker.Register({Peer::Kind::kAction, "mypack", "node-1", "mypack.act", "ex-1", "alice"});
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->size(), 32u);
  auto other = broker.Register({Peer::Kind::kAction, "other", "node-1", "other.a", "ex-2", "bob"});
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*token, *other);

  auto c = Dial(path);
  ASSERT_TRUE(c);
  auto hello = Call(*c, {{"op", "hello"}, {"token", *token}});
  ASSERT_TRUE(hello.ok()) << hello.message();
  EXPECT_EQ(*hello, (Json{{"pack", "mypack"}, {"execution", "ex-1"}}));
  // The connection is the execution's: its pack's keys, its user's scope, whatever it claims.
  ASSERT_TRUE(Call(*c, {{"op", "set"}, {"name", "mypack.k"}, {"value", "v"}}).ok());
  ASSERT_TRUE(
      Call(*c, {{"op", "set"}, {"scope", "user"}, {"name", "mypack.k"}, {"value", "u"}}).ok());
  EXPECT_EQ(Call(*c, {{"op", "set"}, {"name", "other.k"}, {"value", "v"}}).message(),
            "set: 'other.k' is not a key of pack mypack (names start with 'mypack.')");
  EXPECT_EQ(Call(*c, {{"op", "hello"}, {"token", *other}}).message(), "unknown op \"hello\"");
  EXPECT_EQ(broker.refused("mypack"), 2);
  auto user_key = store_->GetKey({"mypack.k", store::KeyScope::kUser, "alice"}, store::NowMs());
  ASSERT_TRUE(user_key.ok() && user_key->has_value());

  // A forged token, or a first message that is not a hello, is refused and the connection closed.
  auto forged = Dial(path);
  ASSERT_TRUE(forged);
  EXPECT_EQ(Call(*forged, {{"op", "hello"}, {"token", std::string(32, '0')}}).message(),
            "unknown token (a token is valid only while its execution runs)");
  EXPECT_FALSE(Call(*forged, {{"op", "get"}, {"name", "mypack.k"}}).ok());
  auto rude = Dial(path);
  ASSERT_TRUE(rude);
  EXPECT_EQ(Call(*rude, {{"op", "get"}, {"name", "mypack.k"}}).message(),
            "the first message must be {\"op\": \"hello\", \"token\": $GALE_DATASTORE_TOKEN}");

  // Once its execution ends, the token binds nothing and its connections are closed.
  broker.Unregister(*token);
  EXPECT_FALSE(Call(*c, {{"op", "get"}, {"name", "mypack.k"}}).ok());
  auto late = Dial(path);
  ASSERT_TRUE(late);
  EXPECT_EQ(Call(*late, {{"op", "hello"}, {"token", *token}}).message(),
            "unknown token (a token is valid only while its execution runs)");
  // The other execution's token still works.
  auto c2 = Dial(path);
  ASSERT_TRUE(c2);
  ASSERT_TRUE(Call(*c2, {{"op", "hello"}, {"token", *other}}).ok());
  EXPECT_EQ((*Call(*c2, {{"op", "get"}, {"name", "mypack.k"}})), "v");
  broker.Stop();
}

TEST_F(DatastoreBrokerTest, ATokenHasABoundedNumberOfConnections) {
  DatastoreBroker broker({.store = store_.get()}, "node-1");
  const std::string path = dir_.str() + "/datastore.sock";
  ASSERT_TRUE(broker.Listen(path, std::nullopt).ok());
  ASSERT_TRUE(broker.Start().ok());
  auto token = broker.Register({Peer::Kind::kAction, "mypack", "node-1", "mypack.a", "ex-1", ""});
  ASSERT_TRUE(token.ok());
  std::vector<std::unique_ptr<BrokerClient>> open;
  for (int i = 0; i < kConnectionsPerToken; ++i) {
    open.push_back(Dial(path));
    ASSERT_TRUE(Call(*open.back(), {{"op", "hello"}, {"token", *token}}).ok()) << i;
  }
  auto one_more = Dial(path);
  EXPECT_EQ(Call(*one_more, {{"op", "hello"}, {"token", *token}}).message(),
            "execution ex-1 has 8 datastore connections open already");
  // A closed one frees its place.
  open.pop_back();
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        auto again = Dial(path);
        return Call(*again, {{"op", "hello"}, {"token", *token}}).ok();
      },
      std::chrono::seconds(5)));
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
}  // namespace gale::datastore

// The crash-loop guard's count (store/message_attempts.h): the same message begun again counts
// up, whether Kafka redelivers it at its offset or a new embedded bus replays it at a lower one;
// a later message with the same key (a delayed execution requested again) starts over at 1.
#include "host/store/message_attempts.h"

#include "test/store/store_fixture.h"

namespace gale::store::testing {
namespace {

using MessageAttemptsTest = StoreTest;

int Begin(MessageAttempts& a, const std::string& key, int64_t offset, int32_t partition = 0) {
  auto n = a.Begin("t.executions", partition, key, offset);
  EXPECT_TRUE(n.ok()) << n.message();
  return n.ok() ? *n : -1;
}

TEST_P(MessageAttemptsTest, RedeliveriesCountUpAndALaterRequestOfTheSameKeyStartsOver) {
  MessageAttempts a(&store(), "g.runners");
  EXPECT_EQ(Begin(a, "ex-1", 10), 1);
  EXPECT_EQ(Begin(a, "ex-1", 10), 2) << "redelivered at its offset";
  EXPECT_EQ(Begin(a, "ex-1", 3), 3) << "replayed onto a new bus, at a lower offset";
  EXPECT_EQ(Begin(a, "ex-1", 4), 1) << "a later message with the same key is a new request";
  EXPECT_EQ(Begin(a, "ex-2", 5), 1);
  EXPECT_EQ(Begin(a, "ex-2", 5, 1), 1) << "partitions count apart";
  EXPECT_EQ(Begin(a, "ex-2", 5), 2);
  MessageAttempts other(&store(), "g.rules");
  EXPECT_EQ(Begin(other, "ex-2", 5), 1) << "groups count apart";
}

TEST_P(MessageAttemptsTest, TheOlderRecordWithoutAnOffsetStillCounts) {
  KeyValue kv;
  kv.name = "bus-attempts/g.runners/t.executions/0";
  kv.scope = KeyScope::kGale;
  kv.value = "2 ex 1";  // "<count> <key>", a key with a space
  ASSERT_TRUE(store().SetKey(kv, NowMs()).ok());
  MessageAttempts a(&store(), "g.runners");
  EXPECT_EQ(Begin(a, "ex 1", 40), 3);
  EXPECT_EQ(Begin(a, "ex 1", 40), 4);
}

INSTANTIATE_TEST_SUITE_P(Backends, MessageAttemptsTest,
                         ::testing::Values(Backend::kSqlite, Backend::kMongo), BackendName);

}  // namespace
}  // namespace gale::store::testing

// Conformance: execution output (append with sequence numbers, read from an offset, follow).
#include <atomic>
#include <map>
#include <thread>

#include "host/store/follow.h"
#include "test/store/store_fixture.h"

namespace gale::store::testing {
namespace {

using OutputTest = StoreTest;

Execution Running(const std::string& id) {
  Execution e;
  e.id = id;
  e.action = "core.local";
  e.requested_at = 1;
  return e;
}

TEST_P(OutputTest, AppendsNumberFromOneAndReadFromAnOffset) {
  std::string binary("a\0b\xff\"'\n", 7);
  for (int i = 1; i <= 5; ++i) {
    auto seq = store().AppendOutput("ex-1", i % 2 ? "stdout" : "stderr",
                                    "line " + std::to_string(i) + binary, 100 + i);
    ASSERT_TRUE(seq.ok()) << seq.message();
    EXPECT_EQ(*seq, i);
  }
  auto other = store().AppendOutput("ex-2", "stdout", "x", 1);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(*other, 1) << "numbers are per execution";

  auto all = store().ReadOutput("ex-1", 0);
  ASSERT_TRUE(all.ok()) << all.message();
  ASSERT_EQ(all->size(), 5u);
  for (int i = 0; i < 5; ++i) {
    const OutputChunk& c = (*all)[i];
    EXPECT_EQ(c.execution_id, "ex-1");
    EXPECT_EQ(c.seq, i + 1);
    EXPECT_EQ(c.stream, (i + 1) % 2 ? "stdout" : "stderr");
    EXPECT_EQ(c.data, "line " + std::to_string(i + 1) + binary);
    EXPECT_EQ(c.at, 101 + i);
  }
  auto tail = store().ReadOutput("ex-1", 3);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ((*tail)[0].seq, 4);
  auto limited = store().ReadOutput("ex-1", 0, 2);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->size(), 2u);
  auto none = store().ReadOutput("ex-1", 5);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto empty = store().AppendOutput("ex-1", "stdout", "", 200);
  ASSERT_TRUE(empty.ok()) << empty.message();
  EXPECT_EQ((*store().ReadOutput("ex-1", 5))[0].data, "");
}

TEST_P(OutputTest, OversizedChunkIsRefused) {
  auto r = store().AppendOutput("ex-1", "stdout", std::string(kMaxOutputChunkBytes + 1, 'x'), 1);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("bytes"), std::string::npos) << r.message();
}

TEST_P(OutputTest, ConcurrentAppendsReadBackCompleteAndInOrderWhileFollowed) {
  constexpr int kWriters = 4;
  constexpr int kChunksEach = 150;
  ASSERT_TRUE(store().CreateExecution(Running("ex-1")).ok());
  ASSERT_TRUE(*store().ClaimExecution("ex-1", "node-a", 1 << 30, 1));

  std::vector<OutputChunk> followed;
  Status follow_status = Status::Ok();
  std::thread follower([&] {
    FollowOptions options;
    options.poll_interval = std::chrono::milliseconds(2);
    auto r = FollowOutput(
        store(), "ex-1", 0,
        [&](const OutputChunk& c) {
          followed.push_back(c);
          return true;
        },
        options);
    if (!r.ok()) follow_status = r.status();
  });
  std::atomic<int> errors{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kChunksEach; ++i) {
        auto r = store().AppendOutput("ex-1", "stdout",
                                      "w" + std::to_string(w) + ":" + std::to_string(i), i);
        if (!r.ok()) errors.fetch_add(1);
      }
    });
  }
  for (auto& t : writers) t.join();
  ASSERT_TRUE(*store().TransitionExecution(
      {"ex-1", {ExecStatus::kRunning}, ExecStatus::kSucceeded, 5, std::string("node-a")}));
  follower.join();
  ASSERT_EQ(errors.load(), 0);
  ASSERT_TRUE(follow_status.ok()) << follow_status.message();

  auto check = [&](const std::vector<OutputChunk>& chunks, const char* who) {
    ASSERT_EQ(chunks.size(), static_cast<size_t>(kWriters * kChunksEach)) << who;
    std::map<int, int> next_of_writer;
    for (size_t i = 0; i < chunks.size(); ++i) {
      ASSERT_EQ(chunks[i].seq, static_cast<int64_t>(i + 1)) << who << ": gap or reorder";
      int w = chunks[i].data[1] - '0';
      int n = std::stoi(chunks[i].data.substr(3));
      EXPECT_EQ(n, next_of_writer[w]++) << who << ": writer " << w << " out of order";
    }
  };
  check(followed, "follower");
  std::vector<OutputChunk> read;
  int64_t after = 0;
  while (true) {
    auto page = store().ReadOutput("ex-1", after, 128);
    ASSERT_TRUE(page.ok()) << page.message();
    if (page->empty()) break;
    after = page->back().seq;
    read.insert(read.end(), page->begin(), page->end());
  }
  check(read, "reader");
}

TEST_P(OutputTest, FollowStopsWhenAsked) {
  ASSERT_TRUE(store().CreateExecution(Running("ex-1")).ok());
  ASSERT_TRUE(store().AppendOutput("ex-1", "stdout", "one", 1).ok());
  ASSERT_TRUE(store().AppendOutput("ex-1", "stdout", "two", 2).ok());
  int seen = 0;
  auto r = FollowOutput(store(), "ex-1", 0, [&](const OutputChunk&) { return ++seen < 1; });
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(*r, 1);
  FollowOptions stop_now;
  stop_now.stop = [] { return true; };
  auto rest = FollowOutput(
      store(), "ex-1", 1, [&](const OutputChunk&) { return true; }, stop_now);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(*rest, 2);
  EXPECT_FALSE(FollowOutput(store(), "missing", 0, [](const OutputChunk&) { return true; }).ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, OutputTest, ::testing::Values(Backend::kSqlite, Backend::kMongo),
                         BackendName);

}  // namespace
}  // namespace gale::store::testing

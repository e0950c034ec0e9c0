// Guarantees that need other processes: a claim race between processes sharing one SQLite file,
// and durability of acknowledged writes and batches across kill -9 of the writer (both
// backends), with nothing of a batch left that was killed before it committed (SQLite).
#include <signal.h>
#include <sys/wait.h>

#include <map>
#include <set>

#include "test/store/store_fixture.h"

namespace gale::store::testing {
namespace {

using ProcessTest = StoreTest;

TEST_P(ProcessTest, AcknowledgedWritesSurviveKillDashNine) {
  constexpr int kRecords = 400;
  Child writer({HelperPath(), "write", url_, std::to_string(kRecords)});
  ASSERT_TRUE(writer.ok());
  // Kill it in the middle of writing: every record it acknowledged must be there afterwards.
  int acked = -1;
  std::string line;
  while (acked < kRecords / 2 && writer.ReadLine(&line)) {
    ASSERT_EQ(line.rfind("ack ", 0), 0u) << line;
    acked = std::stoi(line.substr(4));
  }
  writer.Kill(SIGKILL);
  int status = writer.Wait();
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ASSERT_GE(acked, kRecords / 2);

  store_.reset();
  StorePtr reopened = Reopen();
  ASSERT_NE(reopened, nullptr);
  for (int i = 0; i <= acked; ++i) {
    std::string n = std::to_string(i);
    auto e = reopened->GetExecution("dur-" + n);
    ASSERT_TRUE(e.ok()) << e.message();
    ASSERT_TRUE(e->has_value()) << "acknowledged execution dur-" << n << " lost";
    auto kv = reopened->GetKey({"dur-" + n}, 0);
    ASSERT_TRUE(kv.ok() && kv->has_value()) << "acknowledged key dur-" << n << " lost";
    EXPECT_EQ((*kv)->value, std::string("value\0", 6) + n);
  }
  auto output = reopened->ReadOutput("dur-output", 0, kRecords + 10);
  ASSERT_TRUE(output.ok()) << output.message();
  ASSERT_GE(output->size(), static_cast<size_t>(acked + 1));
  for (int i = 0; i <= acked; ++i) EXPECT_EQ((*output)[i].data, std::to_string(i));
  // The store is still writable after the crash.
  Execution e;
  e.id = "after";
  e.action = "core.noop";
  EXPECT_TRUE(*reopened->CreateExecution(e));
}

TEST_P(ProcessTest, CommittedBatchesSurviveKillDashNineAndAKilledBatchLeavesNothing) {
  constexpr int kBatches = 6;
  Child writer({HelperPath(), "batch", url_, std::to_string(kBatches)});
  ASSERT_TRUE(writer.ok());
  int acked = -1;
  std::string line;
  while (writer.ReadLine(&line) && line != "holding") {
    ASSERT_EQ(line.rfind("ack ", 0), 0u) << line;
    acked = std::stoi(line.substr(4));
  }
  ASSERT_EQ(line, "holding");
  ASSERT_EQ(acked, kBatches - 2);
  // Killed with the last batch's 50 records written but not committed.
  writer.Kill(SIGKILL);
  int status = writer.Wait();
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  store_.reset();
  StorePtr reopened = Reopen();
  ASSERT_NE(reopened, nullptr);
  auto count = [&](int k) {
    int n = 0;
    for (int i = 0; i < 50; ++i) {
      auto e = reopened->GetExecution("bat-" + std::to_string(k) + "-" + std::to_string(i));
      EXPECT_TRUE(e.ok()) << e.message();
      n += e.ok() && e->has_value();
    }
    return n;
  };
  for (int k = 0; k <= acked; ++k) EXPECT_EQ(count(k), 50) << "acknowledged batch " << k;
  if (GetParam() == Backend::kSqlite) {
    EXPECT_EQ(count(kBatches - 1), 0) << "the batch killed before its commit left records";
  }
  // The store is still writable after the crash.
  Execution e;
  e.id = "after";
  e.action = "core.noop";
  EXPECT_TRUE(*reopened->CreateExecution(e));
}

TEST_P(ProcessTest, FourProcessesClaimEachExecutionExactlyOnce) {
  if (GetParam() != Backend::kSqlite) {
    GTEST_SKIP() << "SKIPPED: the multi-process race is for SQLite (Mongo: threads in "
                    "ExecutionsTest, and each process is just another client)";
  }
  constexpr int kExecutions = 1000;
  constexpr int kProcesses = 4;
  for (int i = 0; i < kExecutions; ++i) {
    Execution e;
    e.id = "race-" + std::to_string(i);
    e.action = "core.noop";
    ASSERT_TRUE(*store().CreateExecution(e));
  }
  std::vector<std::unique_ptr<Child>> children;
  std::string line;
  for (int p = 0; p < kProcesses; ++p) {
    children.push_back(std::make_unique<Child>(std::vector<std::string>{
        HelperPath(), "claim", url_, "proc-" + std::to_string(p), std::to_string(kExecutions)}));
    ASSERT_TRUE(children.back()->ok());
    ASSERT_TRUE(children.back()->ReadLine(&line));
    ASSERT_EQ(line, "ready");
  }
  for (auto& c : children) c->WriteLine("go");
  std::map<std::string, int> owner;
  for (int p = 0; p < kProcesses; ++p) {
    bool done = false;
    while (children[p]->ReadLine(&line)) {
      if (line == "done") {
        done = true;
        break;
      }
      ASSERT_EQ(line.rfind("claimed ", 0), 0u) << "process " << p << ": " << line;
      std::string id = line.substr(8);
      EXPECT_TRUE(owner.emplace(id, p).second) << id << " claimed by two processes";
    }
    EXPECT_TRUE(done) << "process " << p << " did not finish";
    int status = children[p]->Wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_EQ(owner.size(), static_cast<size_t>(kExecutions));
  std::set<int> winners;
  for (const auto& [id, p] : owner) winners.insert(p);
  for (int i = 0; i < kExecutions; i += 50) {
    std::string id = "race-" + std::to_string(i);
    auto e = store().GetExecution(id);
    ASSERT_TRUE(e.ok() && e->has_value());
    EXPECT_EQ((*e)->node, "proc-" + std::to_string(owner[id]));
    EXPECT_EQ((*e)->attempt, 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ProcessTest,
                         ::testing::Values(Backend::kSqlite, Backend::kMongo), BackendName);

}  // namespace
}  // namespace gale::store::testing

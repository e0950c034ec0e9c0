// Conformance: batches (Store::Batch, Store::ClaimExecutions) and group commit of concurrent
// writers. What both backends promise is checked on both; the all-or-nothing of a batch is
// SQLite's alone (store.h says why), and is checked there.
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "test/store/store_fixture.h"

namespace gale::store::testing {
namespace {

using BatchTest = StoreTest;

Execution BatchExecution(const std::string& id) {
  Execution e;
  e.id = id;
  e.action = "core.local";
  e.parameters = {{"cmd", "true"}};
  e.trace_id = "trace-" + id;
  e.requested_at = 1000;
  return e;
}

bool BatchExists(Store& st, const std::string& id) {
  auto e = st.GetExecution(id);
  EXPECT_TRUE(e.ok()) << e.message();
  return e.ok() && e->has_value();
}

TEST_P(BatchTest, ABatchCommitsEverythingItDidAndSeesItsOwnWrites) {
  Status s = store().Batch([&](Store& batch) -> Status {
    for (int i = 0; i < 50; ++i) {
      GALE_ASSIGN_OR_RETURN(bool created,
                            batch.CreateExecution(BatchExecution("b-" + std::to_string(i))));
      EXPECT_TRUE(created);
    }
    // Its own writes, read back inside it.
    GALE_ASSIGN_OR_RETURN(auto got, batch.GetExecution("b-7"));
    EXPECT_TRUE(got.has_value());
    GALE_ASSIGN_OR_RETURN(bool again, batch.CreateExecution(BatchExecution("b-7")));
    EXPECT_FALSE(again) << "create-if-absent inside a batch sees the batch's own insert";
    GALE_ASSIGN_OR_RETURN(bool claimed, batch.ClaimExecution("b-3", "node-a", 9000, 2000));
    EXPECT_TRUE(claimed);
    KeyValue kv;
    kv.name = "batched";
    kv.value = "yes";
    return batch.SetKey(kv, 1000);
  });
  ASSERT_TRUE(s.ok()) << s.message();
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(BatchExists(store(), "b-" + std::to_string(i))) << i;
  auto claimed = store().GetExecution("b-3");
  ASSERT_TRUE(claimed.ok() && claimed->has_value());
  EXPECT_EQ((*claimed)->status, ExecStatus::kRunning);
  auto kv = store().GetKey({"batched"}, 1000);
  ASSERT_TRUE(kv.ok() && kv->has_value());
  EXPECT_EQ((*kv)->value, "yes");
}

TEST_P(BatchTest, AnOperationRefusedInsideABatchLeavesTheOthersStanding) {
  Status s = store().Batch([&](Store& batch) -> Status {
    EXPECT_TRUE(batch.CreateExecution(BatchExecution("ok-1")).ok());
    auto refused = batch.CreateExecution(BatchExecution(""));  // no id: refused
    EXPECT_FALSE(refused.ok());
    EXPECT_FALSE(refused.status().retryable()) << refused.message();
    EXPECT_TRUE(batch.CreateExecution(BatchExecution("ok-2")).ok());
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_TRUE(BatchExists(store(), "ok-1"));
  EXPECT_TRUE(BatchExists(store(), "ok-2"));
}

TEST_P(BatchTest, AFailedBatchLeavesNothingOnSqlite) {
  if (GetParam() != Backend::kSqlite) {
    GTEST_SKIP() << "SKIPPED: a MongoDB batch applies each operation as it runs (store.h)";
  }
  ASSERT_TRUE(store().CreateExecution(BatchExecution("before")).ok());
  Status s = store().Batch([&](Store& batch) -> Status {
    EXPECT_TRUE(batch.CreateExecution(BatchExecution("rolled-1")).ok());
    EXPECT_TRUE(*batch.ClaimExecution("before", "node-a", 9000, 2000));
    EXPECT_TRUE(batch.CreateExecution(BatchExecution("rolled-2")).ok());
    return Status::Error("the caller changed its mind", true);
  });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "the caller changed its mind");
  EXPECT_TRUE(s.retryable());
  EXPECT_FALSE(BatchExists(store(), "rolled-1"));
  EXPECT_FALSE(BatchExists(store(), "rolled-2"));
  auto before = store().GetExecution("before");
  ASSERT_TRUE(before.ok() && before->has_value());
  EXPECT_EQ((*before)->status, ExecStatus::kRequested) << "the claim was rolled back with it";
  // And the store goes on as before.
  EXPECT_TRUE(*store().ClaimExecution("before", "node-b", 9000, 2000));
}

TEST_P(BatchTest, AWriteThroughTheOuterStoreInsideABatchFailsInsteadOfWaitingForever) {
  if (GetParam() != Backend::kSqlite) {
    GTEST_SKIP() << "SKIPPED: MongoDB batches hold nothing a write could wait for";
  }
  Status s = store().Batch([&](Store&) -> Status {
    auto r = store().CreateExecution(BatchExecution("outer"));
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.message().find("use the batch's Store"), std::string::npos) << r.message();
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_FALSE(BatchExists(store(), "outer"));
}

TEST_P(BatchTest, ClaimExecutionsClaimsWhatIsClaimableAndReturnsTheRecordsAsClaimed) {
  for (const char* id : {"c-1", "c-2", "c-3", "c-4"}) {
    ASSERT_TRUE(store().CreateExecution(BatchExecution(id)).ok());
  }
  ASSERT_TRUE(*store().ClaimExecution("c-2", "node-x", 5000, 1500));  // someone else's already
  store::Transition done;
  done.id = "c-3";
  done.from = {ExecStatus::kRequested};
  done.to = ExecStatus::kCanceled;
  done.at = 1600;
  ASSERT_TRUE(*store().TransitionExecution(done));

  auto claims =
      store().ClaimExecutions({"c-1", "c-2", "c-3", "absent", "c-4", "c-1"}, "node-a", 31000, 2000);
  ASSERT_TRUE(claims.ok()) << claims.message();
  ASSERT_EQ(claims->size(), 6u);
  std::vector<std::string> order;
  for (const auto& c : *claims) {
    order.push_back(c.id);
    EXPECT_TRUE(c.status.ok()) << c.id << ": " << c.status.message();
  }
  EXPECT_EQ(order, (std::vector<std::string>{"c-1", "c-2", "c-3", "absent", "c-4", "c-1"}));
  EXPECT_TRUE((*claims)[0].execution.has_value());
  EXPECT_FALSE((*claims)[1].execution.has_value()) << "running on node-x";
  EXPECT_FALSE((*claims)[2].execution.has_value()) << "canceled";
  EXPECT_FALSE((*claims)[3].execution.has_value()) << "no such execution";
  EXPECT_TRUE((*claims)[4].execution.has_value());
  EXPECT_FALSE((*claims)[5].execution.has_value()) << "claimed once, by the first of the two";

  // The record given back is the record stored: no need to read it again.
  const Execution& claimed = *(*claims)[0].execution;
  auto stored = store().GetExecution("c-1");
  ASSERT_TRUE(stored.ok() && stored->has_value());
  for (const Execution* e : std::vector<const Execution*>{&claimed, &**stored}) {
    EXPECT_EQ(e->status, ExecStatus::kRunning);
    EXPECT_EQ(e->node, "node-a");
    EXPECT_EQ(e->lease_expires_at, 31000);
    EXPECT_EQ(e->started_at, 2000);
    EXPECT_EQ(e->attempt, 1);
    EXPECT_EQ(e->action, "core.local");
    EXPECT_EQ(e->parameters, (Json{{"cmd", "true"}}));
    EXPECT_EQ(e->trace_id, "trace-c-1");
    ASSERT_EQ(e->log.size(), 2u);
    EXPECT_EQ(e->log[1].status, ExecStatus::kRunning);
    EXPECT_EQ(e->log[1].node, "node-a");
  }
}

TEST_P(BatchTest, ConcurrentBatchClaimsClaimEachExecutionExactlyOnce) {
  constexpr int kExecutions = 300;
  constexpr int kThreads = 4;
  std::vector<std::string> ids;
  for (int i = 0; i < kExecutions; ++i) {
    ids.push_back("race-" + std::to_string(i));
    ASSERT_TRUE(store().CreateExecution(BatchExecution(ids.back())).ok());
  }
  std::mutex mu;
  std::map<std::string, std::string> owner;
  std::atomic<int> duplicates{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string node = "node-" + std::to_string(t);
      // Every thread goes for every id, in batches of 16, each from its own starting point.
      for (int start = 0; start < kExecutions; start += 16) {
        std::vector<std::string> batch;
        for (int k = 0; k < 16 && start + k < kExecutions; ++k) {
          batch.push_back(ids[(start + k + t * 75) % kExecutions]);
        }
        auto claims = store().ClaimExecutions(batch, node, 99000, 2000);
        if (!claims.ok()) {
          errors++;
          continue;
        }
        for (const auto& c : *claims) {
          if (!c.status.ok()) errors++;
          if (!c.execution) continue;
          std::lock_guard lock(mu);
          if (!owner.emplace(c.id, node).second) duplicates++;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(duplicates.load(), 0) << "an execution was claimed twice";
  EXPECT_EQ(owner.size(), static_cast<size_t>(kExecutions));
  for (int i = 0; i < kExecutions; i += 37) {
    auto e = store().GetExecution(ids[i]);
    ASSERT_TRUE(e.ok() && e->has_value());
    EXPECT_EQ((*e)->node, owner[ids[i]]);
    EXPECT_EQ((*e)->attempt, 1);
  }
}

// Group commit: many threads writing at once each get their own answer, as if alone.
TEST_P(BatchTest, ConcurrentWritersEachGetTheirOwnAnswer) {
  constexpr int kThreads = 8;
  constexpr int kEach = 60;
  for (int i = 0; i < kEach; ++i) {
    ASSERT_TRUE(store().CreateExecution(BatchExecution("cas-" + std::to_string(i))).ok());
  }
  std::atomic<int> wins{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // Its own records, one refused write, and a race on a shared one.
        if (!store()
                 .CreateExecution(BatchExecution("t" + std::to_string(t) + "-" + std::to_string(i)))
                 .ok()) {
          errors++;
        }
        if (store().CreateExecution(BatchExecution("")).ok()) errors++;
        store::Transition t1;
        t1.id = "cas-" + std::to_string(i);
        t1.from = {ExecStatus::kRequested};
        t1.to = ExecStatus::kCanceled;
        t1.at = 5000;
        auto won = store().TransitionExecution(t1);
        if (!won.ok()) {
          errors++;
        } else if (*won) {
          wins++;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(wins.load(), kEach) << "each compare-and-set won exactly once";
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kEach; i += 7) {
      EXPECT_TRUE(BatchExists(store(), "t" + std::to_string(t) + "-" + std::to_string(i)));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, BatchTest, ::testing::Values(Backend::kSqlite, Backend::kMongo),
                         BackendName);

}  // namespace
}  // namespace gale::store::testing

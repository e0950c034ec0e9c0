// Conformance: executions (create-if-absent, claim, lease, transitions, abandonment, queries).
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "test/store/store_fixture.h"

namespace gale::store::testing {
namespace {

using ExecutionsTest = StoreTest;

Execution MakeExecution(const std::string& id, TimeMs requested_at = 1000) {
  Execution e;
  e.id = id;
  e.action = "core.local";
  e.parameters = {{"cmd", "echo 'hi' \"there\""}};
  e.rule = "examples.on_file";
  e.trigger_instance = "ti-1";
  e.trace_id = "trace-" + id;
  e.requested_at = requested_at;
  return e;
}

TEST_P(ExecutionsTest, CreateIsIdempotentAndKeepsTheFirst) {
  Execution e = MakeExecution("ex-1");
  e.secret_parameters = {{"token", "aes256gcm2:00"}};
  Result<bool> first = store().CreateExecution(e);
  ASSERT_TRUE(first.ok()) << first.message();
  EXPECT_TRUE(*first);

  Execution other = MakeExecution("ex-1", 5000);
  other.action = "core.noop";
  Result<bool> second = store().CreateExecution(other);
  ASSERT_TRUE(second.ok()) << second.message();
  EXPECT_FALSE(*second) << "a second create with the same id must say 'already exists'";

  auto got = store().GetExecution("ex-1");
  ASSERT_TRUE(got.ok()) << got.message();
  ASSERT_TRUE(got->has_value());
  const Execution& g = **got;
  EXPECT_EQ(g.action, "core.local");
  EXPECT_EQ(g.parameters, e.parameters);
  EXPECT_EQ(g.secret_parameters, e.secret_parameters);
  EXPECT_EQ(g.rule, "examples.on_file");
  EXPECT_EQ(g.trigger_instance, "ti-1");
  EXPECT_EQ(g.trace_id, "trace-ex-1");
  EXPECT_EQ(g.status, ExecStatus::kRequested);
  EXPECT_EQ(g.requested_at, 1000);
  EXPECT_EQ(g.attempt, 0);
  EXPECT_TRUE(g.result.is_null());
  ASSERT_EQ(g.log.size(), 1u);
  EXPECT_EQ(g.log[0].status, ExecStatus::kRequested);
  EXPECT_EQ(g.log[0].at, 1000);
  EXPECT_EQ(g.parent, "");  // not a workflow's task
}

// A workflow's task names its workflow and task; both are kept and listed (host/workflow).
TEST_P(ExecutionsTest, WorkflowTaskKeepsParentAndTask) {
  Execution e = MakeExecution("ex-task");
  e.parent = "ex-workflow";
  e.task = "first";
  ASSERT_TRUE(store().CreateExecution(e).ok());
  auto got = store().GetExecution("ex-task");
  ASSERT_TRUE(got.ok() && got->has_value()) << got.message();
  EXPECT_EQ((*got)->parent, "ex-workflow");
  EXPECT_EQ((*got)->task, "first");
  auto page = store().ListExecutions({});
  ASSERT_TRUE(page.ok()) << page.message();
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].parent, "ex-workflow");
  EXPECT_EQ(page->items[0].task, "first");
}

TEST_P(ExecutionsTest, UnknownExecutionReadsAsAbsentAndCannotBeClaimed) {
  auto got = store().GetExecution("nope");
  ASSERT_TRUE(got.ok()) << got.message();
  EXPECT_FALSE(got->has_value());
  auto claimed = store().ClaimExecution("nope", "node-a", 2000, 1000);
  ASSERT_TRUE(claimed.ok()) << claimed.message();
  EXPECT_FALSE(*claimed);
}

TEST_P(ExecutionsTest, BadInputIsRefusedWithAMessage) {
  Execution no_id = MakeExecution("");
  auto r = store().CreateExecution(no_id);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("id"), std::string::npos) << r.message();
  Execution no_action = MakeExecution("ex-x");
  no_action.action.clear();
  EXPECT_FALSE(store().CreateExecution(no_action).ok());
}

TEST_P(ExecutionsTest, ClaimSetsOwnerLeaseAndLog) {
  ASSERT_TRUE(store().CreateExecution(MakeExecution("ex-1")).ok());
  auto claimed = store().ClaimExecution("ex-1", "node-a", 31000, 1000);
  ASSERT_TRUE(claimed.ok()) << claimed.message();
  EXPECT_TRUE(*claimed);
  auto again = store().ClaimExecution("ex-1", "node-b", 32000, 1001);
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_FALSE(*again);

  auto got = store().GetExecution("ex-1");
  ASSERT_TRUE(got.ok() && got->has_value());
  const Execution& g = **got;
  EXPECT_EQ(g.status, ExecStatus::kRunning);
  EXPECT_EQ(g.node, "node-a");
  EXPECT_EQ(g.lease_expires_at, 31000);
  EXPECT_EQ(g.started_at, 1000);
  EXPECT_EQ(g.attempt, 1);
  ASSERT_EQ(g.log.size(), 2u);
  EXPECT_EQ(g.log[1].status, ExecStatus::kRunning);
  EXPECT_EQ(g.log[1].node, "node-a");
}

TEST_P(ExecutionsTest, EightThreadsClaimEachOfAThousandExecutionsExactlyOnce) {
  constexpr int kExecutions = 1000;
  constexpr int kThreads = 8;
  for (int i = 0; i < kExecutions; ++i) {
    auto r = store().CreateExecution(MakeExecution("race-" + std::to_string(i), i));
    ASSERT_TRUE(r.ok() && *r) << r.message();
  }
  std::vector<std::vector<int>> won(kThreads);
  std::atomic<int> errors{0};
  std::string first_error;
  std::mutex error_mu;
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      std::string node = "node-" + std::to_string(t);
      for (int i = 0; i < kExecutions; ++i) {
        auto r = store().ClaimExecution("race-" + std::to_string(i), node, 60000, 1000);
        if (!r.ok()) {
          errors.fetch_add(1);
          std::lock_guard lock(error_mu);
          if (first_error.empty()) first_error = r.message();
        } else if (*r) {
          won[t].push_back(i);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(errors.load(), 0) << first_error;

  std::map<int, int> winner;
  for (int t = 0; t < kThreads; ++t) {
    for (int i : won[t]) {
      EXPECT_TRUE(winner.emplace(i, t).second) << "execution " << i << " claimed twice";
    }
  }
  EXPECT_EQ(winner.size(), static_cast<size_t>(kExecutions));
  for (int i = 0; i < kExecutions; i += 97) {
    auto got = store().GetExecution("race-" + std::to_string(i));
    ASSERT_TRUE(got.ok() && got->has_value());
    EXPECT_EQ((*got)->node, "node-" + std::to_string(winner[i]));
    EXPECT_EQ((*got)->attempt, 1);
  }
}

TEST_P(ExecutionsTest, OnlyTheOwnerRenewsAndOnlyWhileRunning) {
  ASSERT_TRUE(store().CreateExecution(MakeExecution("ex-1")).ok());
  auto early = store().RenewLease("ex-1", "node-a", 5000);
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(*early) << "not claimed yet";
  ASSERT_TRUE(*store().ClaimExecution("ex-1", "node-a", 2000, 1000));
  auto renewed = store().RenewLease("ex-1", "node-a", 9000);
  ASSERT_TRUE(renewed.ok()) << renewed.message();
  EXPECT_TRUE(*renewed);
  auto stranger = store().RenewLease("ex-1", "node-b", 99000);
  ASSERT_TRUE(stranger.ok());
  EXPECT_FALSE(*stranger);
  EXPECT_EQ((*store().GetExecution("ex-1"))->lease_expires_at, 9000);

  auto abandoned = store().MarkAbandoned(10000);
  ASSERT_TRUE(abandoned.ok()) << abandoned.message();
  ASSERT_EQ(abandoned->size(), 1u);
  auto late = store().RenewLease("ex-1", "node-a", 20000);
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(*late) << "an abandoned execution's lease cannot be renewed";
}

TEST_P(ExecutionsTest, TransitionsAreCompareAndSet) {
  ASSERT_TRUE(store().CreateExecution(MakeExecution("ex-1")).ok());
  ASSERT_TRUE(*store().ClaimExecution("ex-1", "node-a", 60000, 1000));

  Transition wrong_owner{"ex-1", {ExecStatus::kRunning}, ExecStatus::kSucceeded,
                         2000,   std::string("node-b"),  Json{{"stolen", true}}};
  auto stolen = store().TransitionExecution(wrong_owner);
  ASSERT_TRUE(stolen.ok()) << stolen.message();
  EXPECT_FALSE(*stolen);

  Transition finish{"ex-1", {ExecStatus::kRunning}, ExecStatus::kSucceeded,
                    3000,   std::string("node-a"),  Json{{"stdout", "hi\n"}, {"exit_code", 0}}};
  auto done = store().TransitionExecution(finish);
  ASSERT_TRUE(done.ok()) << done.message();
  EXPECT_TRUE(*done);

  Transition again = finish;
  again.to = ExecStatus::kFailed;
  again.result = Json{{"error", "late"}};
  auto twice = store().TransitionExecution(again);
  ASSERT_TRUE(twice.ok());
  EXPECT_FALSE(*twice) << "a finished execution cannot be finished again";

  auto got = store().GetExecution("ex-1");
  ASSERT_TRUE(got.ok() && got->has_value());
  const Execution& g = **got;
  EXPECT_EQ(g.status, ExecStatus::kSucceeded);
  EXPECT_EQ(g.finished_at, 3000);
  EXPECT_EQ(g.result, (Json{{"stdout", "hi\n"}, {"exit_code", 0}}));
  ASSERT_EQ(g.log.size(), 3u);
  EXPECT_EQ(g.log[2].status, ExecStatus::kSucceeded);
  EXPECT_EQ(g.log[2].at, 3000);
  EXPECT_EQ(g.log[2].node, "node-a");
}

// Policies (host/policies): a retry names its chain, a delayed execution is claimable only
// once moved back to requested, and due retries are found by requested_at.
TEST_P(ExecutionsTest, RetryLinksAndTheDelayedStatusRoundTrip) {
  Execution retry = MakeExecution("ex-1-retry-2", 9000);
  retry.status = ExecStatus::kScheduled;
  retry.retry_of = "ex-1";
  retry.retry_attempt = 2;
  ASSERT_TRUE(*store().CreateExecution(retry));
  ASSERT_TRUE(*store().CreateExecution(MakeExecution("ex-2", 1000)));
  auto got = store().GetExecution("ex-1-retry-2");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((**got).retry_of, "ex-1");
  EXPECT_EQ((**got).retry_attempt, 2);
  EXPECT_EQ((**store().GetExecution("ex-2")).retry_of, "");
  ExecutionQuery due;
  due.statuses = {ExecStatus::kScheduled};
  due.until = 9000;
  EXPECT_TRUE(store().ListExecutions(due)->items.empty()) << "not due before 9000";
  due.until = 9001;
  ASSERT_EQ(store().ListExecutions(due)->items.size(), 1u);
  EXPECT_EQ(store().ListExecutions(due)->items[0].retry_attempt, 2);

  Transition delay{"ex-2", {ExecStatus::kRequested}, ExecStatus::kDelayed, 1100, {}, {}};
  ASSERT_TRUE(*store().TransitionExecution(delay));
  EXPECT_FALSE(*store().ClaimExecution("ex-2", "node-a", 60000, 1200))
      << "delayed is not claimable";
  Transition back{"ex-2", {ExecStatus::kDelayed}, ExecStatus::kRequested, 1300, {}, {}};
  ASSERT_TRUE(*store().TransitionExecution(back));
  EXPECT_FALSE(*store().TransitionExecution(back)) << "only one mover wins";
  EXPECT_TRUE(*store().ClaimExecution("ex-2", "node-a", 60000, 1400));
  auto claimed = store().GetExecution("ex-2");
  ASSERT_EQ((**claimed).log.size(), 4u);
  EXPECT_EQ((**claimed).log[1].status, ExecStatus::kDelayed);
  EXPECT_EQ((**claimed).attempt, 1);
}

TEST_P(ExecutionsTest, TwoNodesCannotBothFinishOneExecution) {
  constexpr int kExecutions = 50;
  for (int i = 0; i < kExecutions; ++i) {
    std::string id = "fin-" + std::to_string(i);
    ASSERT_TRUE(store().CreateExecution(MakeExecution(id)).ok());
    ASSERT_TRUE(*store().ClaimExecution(id, "node-a", 60000, 1000));
  }
  std::atomic<int> wins{0}, errors{0};
  auto finisher = [&](ExecStatus to) {
    for (int i = 0; i < kExecutions; ++i) {
      Transition t{"fin-" + std::to_string(i),
                   {ExecStatus::kRunning, ExecStatus::kCanceling},
                   to,
                   2000,
                   std::nullopt,
                   Json{{"by", std::string(ToString(to))}}};
      auto r = store().TransitionExecution(t);
      if (!r.ok()) errors.fetch_add(1);
      if (r.ok() && *r) wins.fetch_add(1);
    }
  };
  std::thread a(finisher, ExecStatus::kSucceeded), b(finisher, ExecStatus::kTimeout);
  a.join();
  b.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(wins.load(), kExecutions);
  for (int i = 0; i < kExecutions; ++i) {
    auto g = store().GetExecution("fin-" + std::to_string(i));
    ASSERT_TRUE(g.ok() && g->has_value());
    EXPECT_EQ((*g)->result["by"], ToString((*g)->status)) << "result and status from one writer";
    EXPECT_EQ((*g)->log.size(), 3u);
  }
}

// A workflow's pause and resume (host/workflow): pausing, paused and resuming are stored,
// listed and parsed like any status, none is final, and none is a lease (no node abandons a
// paused workflow).
TEST_P(ExecutionsTest, PauseAndResumeStatusesAreKeptAndNotFinal) {
  for (ExecStatus s : {ExecStatus::kPausing, ExecStatus::kPaused, ExecStatus::kResuming}) {
    EXPECT_FALSE(IsFinal(s)) << ToString(s);
    EXPECT_EQ(ParseExecStatus(ToString(s)), s);
  }
  EXPECT_EQ(ToString(ExecStatus::kPausing), "pausing");
  EXPECT_EQ(ToString(ExecStatus::kPaused), "paused");
  EXPECT_EQ(ToString(ExecStatus::kResuming), "resuming");
  ASSERT_TRUE(store().CreateExecution(MakeExecution("wf-1")).ok());
  ASSERT_TRUE(*store().ClaimExecution("wf-1", "node-a", 2000, 1000));
  const std::vector<std::pair<ExecStatus, ExecStatus>> steps = {
      {ExecStatus::kRunning, ExecStatus::kPausing},
      {ExecStatus::kPausing, ExecStatus::kPaused},
      {ExecStatus::kPaused, ExecStatus::kResuming}};
  TimeMs at = 1100;
  for (const auto& [from, to] : steps) {
    ASSERT_TRUE(*store().TransitionExecution(Transition{"wf-1", {from}, to, at += 100}))
        << ToString(to);
  }
  // Paused and resuming past the lease: not abandoned.
  auto abandoned = store().MarkAbandoned(10000);
  ASSERT_TRUE(abandoned.ok()) << abandoned.message();
  EXPECT_TRUE(abandoned->empty());
  ExecutionQuery q;
  q.statuses = {ExecStatus::kResuming};
  auto page = store().ListExecutions(q);
  ASSERT_TRUE(page.ok()) << page.message();
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].id, "wf-1");
  ASSERT_TRUE(*store().TransitionExecution(
      Transition{"wf-1", {ExecStatus::kResuming}, ExecStatus::kRunning, at += 100}));
  auto g = store().GetExecution("wf-1");
  ASSERT_TRUE(g.ok() && *g);
  EXPECT_EQ((*g)->finished_at, 0);
  std::vector<ExecStatus> seen;
  for (const auto& c : (*g)->log) seen.push_back(c.status);
  EXPECT_EQ(seen, (std::vector<ExecStatus>{ExecStatus::kRequested, ExecStatus::kRunning,
                                           ExecStatus::kPausing, ExecStatus::kPaused,
                                           ExecStatus::kResuming, ExecStatus::kRunning}));
}

TEST_P(ExecutionsTest, CancelGoesThroughCanceling) {
  ASSERT_TRUE(store().CreateExecution(MakeExecution("ex-1")).ok());
  ASSERT_TRUE(*store().ClaimExecution("ex-1", "node-a", 60000, 1000));
  Transition cancel{"ex-1",
                    {ExecStatus::kRequested, ExecStatus::kScheduled, ExecStatus::kRunning},
                    ExecStatus::kCanceling,
                    2000};
  ASSERT_TRUE(*store().TransitionExecution(cancel));
  EXPECT_TRUE(*store().RenewLease("ex-1", "node-a", 70000)) << "still running while canceling";
  Transition canceled{
      "ex-1", {ExecStatus::kCanceling}, ExecStatus::kCanceled, 2500, std::string("node-a")};
  ASSERT_TRUE(*store().TransitionExecution(canceled));
  auto g = store().GetExecution("ex-1");
  EXPECT_EQ((*g)->status, ExecStatus::kCanceled);
  EXPECT_EQ((*g)->finished_at, 2500);
  EXPECT_FALSE(*store().ClaimExecution("ex-1", "node-b", 90000, 3000));
}

TEST_P(ExecutionsTest, ExpiredLeasesBecomeAbandonedOnce) {
  for (const char* id : {"a", "b", "c", "d"}) {
    ASSERT_TRUE(store().CreateExecution(MakeExecution(id)).ok());
  }
  ASSERT_TRUE(*store().ClaimExecution("a", "node-a", 5000, 1000));
  ASSERT_TRUE(*store().ClaimExecution("b", "node-a", 9000, 1000));
  ASSERT_TRUE(*store().ClaimExecution("c", "node-b", 5000, 1000));
  ASSERT_TRUE(*store().TransitionExecution(
      {"c", {ExecStatus::kRunning}, ExecStatus::kSucceeded, 1500, std::string("node-b")}));
  // "d" stays requested: never claimed, never abandoned.

  auto none = store().MarkAbandoned(4999);
  ASSERT_TRUE(none.ok()) << none.message();
  EXPECT_TRUE(none->empty());

  auto first = store().MarkAbandoned(6000);
  ASSERT_TRUE(first.ok()) << first.message();
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].id, "a");
  EXPECT_EQ((*first)[0].status, ExecStatus::kAbandoned);
  EXPECT_EQ((*first)[0].finished_at, 6000);

  auto again = store().MarkAbandoned(6000);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
  EXPECT_EQ((*store().GetExecution("b"))->status, ExecStatus::kRunning);
  EXPECT_EQ((*store().GetExecution("c"))->status, ExecStatus::kSucceeded);
  EXPECT_EQ((*store().GetExecution("d"))->status, ExecStatus::kRequested);
  EXPECT_FALSE(*store().TransitionExecution(
      {"a", {ExecStatus::kRunning}, ExecStatus::kSucceeded, 7000, std::string("node-a")}))
      << "a runner that comes back late cannot finish an abandoned execution";
}

TEST_P(ExecutionsTest, RenewalAndAbandonmentNeverBothWin) {
  constexpr int kExecutions = 100;
  for (int i = 0; i < kExecutions; ++i) {
    std::string id = "lease-" + std::to_string(i);
    ASSERT_TRUE(store().CreateExecution(MakeExecution(id)).ok());
    ASSERT_TRUE(*store().ClaimExecution(id, "node-a", 5000, 1000));
  }
  std::set<std::string> renewed;
  std::set<std::string> abandoned;
  std::thread renewer([&] {
    for (int i = 0; i < kExecutions; ++i) {
      std::string id = "lease-" + std::to_string(i);
      auto r = store().RenewLease(id, "node-a", 100000);
      if (r.ok() && *r) renewed.insert(id);
    }
  });
  std::thread reaper([&] {
    for (int round = 0; round < 20; ++round) {
      auto r = store().MarkAbandoned(6000, 7);
      if (r.ok()) {
        for (const Execution& e : *r) abandoned.insert(e.id);
      }
    }
  });
  renewer.join();
  reaper.join();
  auto rest = store().MarkAbandoned(6000);
  ASSERT_TRUE(rest.ok());
  for (const Execution& e : *rest) abandoned.insert(e.id);
  for (int i = 0; i < kExecutions; ++i) {
    std::string id = "lease-" + std::to_string(i);
    bool r = renewed.count(id) > 0, a = abandoned.count(id) > 0;
    EXPECT_NE(r, a) << id << (r ? " renewed and abandoned" : " neither renewed nor abandoned");
    auto g = store().GetExecution(id);
    EXPECT_EQ((*g)->status, r ? ExecStatus::kRunning : ExecStatus::kAbandoned) << id;
  }
}

TEST_P(ExecutionsTest, ListsNewestFirstWithFiltersAndPages) {
  // 30 executions: requested_at 100..129; action a/b alternating; rule r1 for multiples of 3.
  for (int i = 0; i < 30; ++i) {
    Execution e = MakeExecution("list-" + std::to_string(100 + i), 100 + i);
    e.action = i % 2 == 0 ? "pack.a" : "pack.b";
    e.rule = i % 3 == 0 ? "pack.r1" : "";
    ASSERT_TRUE(store().CreateExecution(e).ok());
  }
  // Two with the same time, ordered by id descending.
  ASSERT_TRUE(store().CreateExecution(MakeExecution("same-1", 200)).ok());
  ASSERT_TRUE(store().CreateExecution(MakeExecution("same-2", 200)).ok());
  for (int i = 0; i < 30; i += 5) {
    ASSERT_TRUE(*store().ClaimExecution("list-" + std::to_string(100 + i), "n", 9000, 1));
  }

  std::vector<std::string> all;
  ExecutionQuery q;
  q.limit = 7;
  int pages = 0;
  while (true) {
    auto page = store().ListExecutions(q);
    ASSERT_TRUE(page.ok()) << page.message();
    ++pages;
    for (const Execution& e : page->items) all.push_back(e.id);
    if (page->next_cursor.empty()) break;
    q.cursor = page->next_cursor;
    // Something new arriving meanwhile does not shift the pages.
    if (pages == 2) {
      ASSERT_TRUE(store().CreateExecution(MakeExecution("new", 300)).ok());
    }
  }
  ASSERT_EQ(all.size(), 32u);
  EXPECT_EQ(pages, 5);
  EXPECT_EQ(all[0], "same-2");
  EXPECT_EQ(all[1], "same-1");
  EXPECT_EQ(all[2], "list-129");
  EXPECT_EQ(all.back(), "list-100");

  ExecutionQuery by_action;
  by_action.action = "pack.a";
  by_action.limit = 100;
  auto a = store().ListExecutions(by_action);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->items.size(), 15u);
  EXPECT_TRUE(a->next_cursor.empty());

  ExecutionQuery by_rule_and_time;
  by_rule_and_time.rule = "pack.r1";
  by_rule_and_time.since = 110;
  by_rule_and_time.until = 120;
  auto r = store().ListExecutions(by_rule_and_time);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->items.size(), 3u);  // 112, 115, 118
  EXPECT_EQ(r->items[0].id, "list-118");
  EXPECT_EQ(r->items[2].id, "list-112");

  // Counts use the same filters and ignore paging.
  auto count = [&](ExecutionQuery cq) {
    cq.limit = 1;
    auto n = store().CountExecutions(cq);
    EXPECT_TRUE(n.ok()) << n.message();
    return n.ok() ? *n : -1;
  };
  EXPECT_EQ(count({}), 33);
  EXPECT_EQ(count(by_action), 15);
  EXPECT_EQ(count(by_rule_and_time), 3);
  ExecutionQuery running;
  running.statuses = {ExecStatus::kRunning};
  EXPECT_EQ(count(running), 6);

  ExecutionQuery by_status;
  by_status.statuses = {ExecStatus::kRunning};
  auto s = store().ListExecutions(by_status);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->items.size(), 6u);
  EXPECT_EQ(s->items[0].id, "list-125");

  ExecutionQuery offset;
  offset.offset = 3;
  offset.limit = 2;
  auto o = store().ListExecutions(offset);
  ASSERT_TRUE(o.ok());
  ASSERT_EQ(o->items.size(), 2u);
  EXPECT_EQ(o->items[0].id, "list-129");  // after new, same-2, same-1
  EXPECT_EQ(o->items[1].id, "list-128");

  ExecutionQuery bad;
  bad.cursor = "garbage";
  EXPECT_FALSE(store().ListExecutions(bad).ok());
}

TEST_P(ExecutionsTest, DataSurvivesReopening) {
  ASSERT_TRUE(store().CreateExecution(MakeExecution("ex-1")).ok());
  ASSERT_TRUE(*store().ClaimExecution("ex-1", "node-a", 60000, 1000));
  StorePtr again = Reopen();
  ASSERT_NE(again, nullptr);
  auto g = again->GetExecution("ex-1");
  ASSERT_TRUE(g.ok() && g->has_value());
  EXPECT_EQ((*g)->status, ExecStatus::kRunning);
  EXPECT_FALSE(*again->ClaimExecution("ex-1", "node-b", 70000, 2000));
}

INSTANTIATE_TEST_SUITE_P(Backends, ExecutionsTest,
                         ::testing::Values(Backend::kSqlite, Backend::kMongo), BackendName);

}  // namespace
}  // namespace gale::store::testing

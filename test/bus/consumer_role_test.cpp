// ConsumerRole on the embedded broker: offsets are committed only after work is done, in the
// done prefix, every commit_every messages, before a pause and on revocation. Where the group
// committed is read back the way the next owner sees it: a new member starts there.
#include "host/bus/consumer_role.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "test/bus/bus_suite.h"

namespace gale::bus::test {
namespace {

using namespace std::chrono_literals;

class ConsumerRoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = EmbeddedBroker::Start();
    ASSERT_TRUE(broker.ok()) << broker.message();
    broker_ = std::move(*broker);
    config_.brokers = broker_->bootstrap();
    config_.embedded = true;
    config_.client_id = "gale-consumer-role-test";
    // Quicker rebalances: the mock broker waits session.timeout.ms - 1 s for members to rejoin.
    config_.properties["consumer.session.timeout.ms"] = "6000";
    config_.properties["consumer.heartbeat.interval.ms"] = "500";
    // One partition: offsets are the order of production, so expectations are exact.
    ASSERT_TRUE(broker_->CreateTopic(topic_, 1).ok());
    auto producer = Producer::Create(config_);
    ASSERT_TRUE(producer.ok()) << producer.message();
    for (int i = 0; i < 10; ++i) {
      auto sent = (*producer)->ProduceSync(topic_, "", "m" + std::to_string(i), 10s);
      ASSERT_TRUE(sent.ok()) << sent.message();
    }
  }

  ConsumerRole::Options RoleOptions() {
    ConsumerRole::Options o;
    o.name = "test role";
    o.consumer.group_id = group_;
    o.consumer.topics = {topic_};
    o.on_commit = [this](const ConsumerRole::Commit& c) {
      EXPECT_TRUE(c.status.ok()) << c.status.message();
      commits_.push_back(c);
    };
    return o;
  }
  std::unique_ptr<ConsumerRole> NewRole(ConsumerRole::Options o) {
    auto role = ConsumerRole::Create(config_, std::move(o));
    EXPECT_TRUE(role.ok()) << role.message();
    return role.ok() ? std::move(*role) : nullptr;
  }
  // Polls `role` until `n` messages are taken (or a minute passes).
  std::vector<Message> Take(ConsumerRole& role, size_t n) {
    std::vector<Message> out;
    const auto deadline = Clock::now() + 60s;
    while (out.size() < n && Clock::now() < deadline) {
      auto m = role.Poll(100ms);
      if (!m.ok()) {
        ADD_FAILURE() << m.message();
        break;
      }
      if (*m) out.push_back(std::move(**m));
    }
    return out;
  }
  // Where a new member of the group starts: the offset the group committed.
  int64_t NextOwnerStartsAt() {
    auto next = NewRole(RoleOptions());
    if (!next) return -2;
    auto got = Take(*next, 1);
    return got.empty() ? -1 : got[0].offset;
  }

  std::unique_ptr<EmbeddedBroker> broker_;
  BusConfig config_;
  const std::string topic_ = "gale-test.t";
  const std::string group_ = "gale-test.role";
  std::vector<ConsumerRole::Commit> commits_;
};

TEST_F(ConsumerRoleTest, CommitEveryCommitsOnceThatManyMessagesAreDone) {
  auto o = RoleOptions();
  o.commit_every = 3;
  auto role = NewRole(std::move(o));
  ASSERT_TRUE(role);
  auto got = Take(*role, 10);
  ASSERT_EQ(got.size(), 10u);
  EXPECT_TRUE(commits_.empty()) << "committed before any work was done";
  for (size_t i = 0; i < 7; ++i) role->Done(got[i]);
  ASSERT_EQ(commits_.size(), 2u);  // after the 3rd and the 6th
  EXPECT_EQ(commits_[0].messages, 3u);
  EXPECT_EQ(commits_[0].partitions, 1u);
  EXPECT_EQ(role->offsets().done_since_commit(), 1u);
  // Without commit_every, the role says when.
  role->CommitDone();
  ASSERT_EQ(commits_.size(), 3u);
  EXPECT_EQ(commits_[2].messages, 1u);
  role->CommitDone();  // nothing new done: no commit
  EXPECT_EQ(commits_.size(), 3u);
  ASSERT_TRUE(role->Close().ok());
  EXPECT_EQ(commits_.size(), 3u);  // 7, 8 and 9 were in flight: not committed on the way out
  EXPECT_EQ(NextOwnerStartsAt(), 7);
}

TEST_F(ConsumerRoleTest, OutOfOrderCompletionCommitsOnlyTheDonePrefix) {
  auto role = NewRole(RoleOptions());
  ASSERT_TRUE(role);
  auto got = Take(*role, 5);
  ASSERT_EQ(got.size(), 5u);
  role->Done(got[0]);
  role->Done(got[2]);
  role->Done(got[3]);
  role->CommitDone();
  ASSERT_EQ(commits_.size(), 1u);
  EXPECT_EQ(commits_[0].messages, 3u);
  ASSERT_TRUE(role->Close().ok());
  // got[1] never finished: the next owner starts at it (and redoes 2 and 3).
  EXPECT_EQ(NextOwnerStartsAt(), 1);
}

TEST_F(ConsumerRoleTest, RevocationCommitsDoneWorkAndHandsInFlightWorkToTheNextOwner) {
  auto o = RoleOptions();
  std::vector<TopicPartition> revoked;
  o.consumer.on_revoked = [&](const std::vector<TopicPartition>& tps) {
    // The role's own bookkeeping ran first: done work committed, the partition forgotten.
    EXPECT_EQ(commits_.size(), 1u);
    revoked = tps;
  };
  auto role = NewRole(std::move(o));
  ASSERT_TRUE(role);
  auto got = Take(*role, 5);
  ASSERT_EQ(got.size(), 5u);
  role->Done(got[0]);
  role->Done(got[1]);
  role->Done(got[3]);
  EXPECT_TRUE(commits_.empty());
  EXPECT_EQ(role->offsets().in_flight(), 2u);

  ASSERT_TRUE(role->Close().ok());  // revokes every partition
  ASSERT_EQ(revoked.size(), 1u);
  ASSERT_EQ(commits_.size(), 1u);
  EXPECT_TRUE(commits_[0].status.ok()) << commits_[0].status.message();
  EXPECT_EQ(commits_[0].messages, 3u);
  EXPECT_EQ(role->offsets().in_flight(), 0u);
  // got[2] finishing late commits nothing: it is the next owner's now, and it starts there.
  role->Done(got[2]);
  role->CommitDone();
  EXPECT_EQ(commits_.size(), 1u);
  EXPECT_EQ(NextOwnerStartsAt(), 2);
}

TEST_F(ConsumerRoleTest, RebalanceOffersDoneWorkBeforeForgettingTheRest) {
  auto o = RoleOptions();
  o.on_commit = [this](const ConsumerRole::Commit& c) {
    // Not checked: the embedded broker refuses commits while the group rebalances
    // (REBALANCE_IN_PROGRESS), a real one takes them; either way the work is redone safely.
    commits_.push_back(c);
  };
  size_t revocations = 0;
  o.consumer.on_revoked = [&](const std::vector<TopicPartition>&) {
    EXPECT_EQ(commits_.size(), 1u) << "done work is committed before the role hears of it";
    ++revocations;
  };
  auto first = NewRole(std::move(o));
  ASSERT_TRUE(first);
  auto got = Take(*first, 5);
  ASSERT_EQ(got.size(), 5u);
  first->Done(got[0]);
  first->Done(got[1]);
  first->Done(got[3]);

  // A second member joins: the (eager) rebalance revokes the partition from the first inside
  // its Poll(). What the first returns meanwhile (it fetched ahead) is taken, then forgotten.
  auto second = NewRole(RoleOptions());
  ASSERT_TRUE(second);
  const auto deadline = Clock::now() + 60s;
  while (revocations == 0 && Clock::now() < deadline) {
    for (ConsumerRole* r : {first.get(), second.get()}) ASSERT_TRUE(r->Poll(100ms).ok());
  }
  ASSERT_EQ(revocations, 1u);
  ASSERT_EQ(commits_.size(), 1u);
  EXPECT_EQ(commits_[0].messages, 3u);
  EXPECT_EQ(commits_[0].partitions, 1u);
  EXPECT_EQ(first->offsets().in_flight(), 0u);
  first->Done(got[2]);
  first->CommitDone();
  EXPECT_EQ(commits_.size(), 1u);
}

TEST_F(ConsumerRoleTest, PauseCommitsDoneWorkAndResumeContinuesWithoutGapOrDuplicate) {
  auto role = NewRole(RoleOptions());
  ASSERT_TRUE(role);
  auto got = Take(*role, 3);
  ASSERT_EQ(got.size(), 3u);
  for (const auto& m : got) role->Done(m);

  EXPECT_TRUE(role->Pause());
  EXPECT_TRUE(role->paused());
  ASSERT_EQ(commits_.size(), 1u) << "done work waits out no pause";
  EXPECT_EQ(commits_[0].messages, 3u);
  EXPECT_FALSE(role->Pause()) << "paused already";
  const auto until = Clock::now() + 1s;
  while (Clock::now() < until) {
    role->PollWhilePaused();
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(role->offsets().in_flight(), 0u) << "nothing taken while paused";

  EXPECT_TRUE(role->Resume());
  EXPECT_FALSE(role->paused());
  EXPECT_TRUE(role->Resume()) << "not paused: nothing to do";
  auto rest = Take(*role, 7);
  ASSERT_EQ(rest.size(), 7u);
  for (size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(rest[i].offset, static_cast<int64_t>(3 + i));
  auto more = role->Poll(500ms);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(more->has_value()) << "a duplicate after resume";
}

TEST(WhereTest, NamesTopicPartitionAndOffset) {
  Message m;
  m.topic = "gale.triggers";
  m.partition = 2;
  m.offset = 41;
  EXPECT_EQ(Where(m), "gale.triggers[2]@41");
}

}  // namespace
}  // namespace gale::bus::test

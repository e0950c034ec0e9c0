// OffsetTracker on its own: what a role may commit, with no broker.
#include "host/bus/offset_tracker.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gale::bus::test {
namespace {

Message At(int32_t partition, int64_t offset, const std::string& topic = "t") {
  Message m;
  m.topic = topic;
  m.partition = partition;
  m.offset = offset;
  return m;
}

// (topic, partition, offset) triples, for readable failures.
std::vector<std::string> Offsets(const std::vector<TopicPartition>& tps) {
  std::vector<std::string> out;
  for (const auto& tp : tps) {
    out.push_back(tp.topic + "[" + std::to_string(tp.partition) + "]=" + std::to_string(tp.offset));
  }
  return out;
}

TEST(OffsetTrackerTest, NothingIsCommittableBeforeWorkIsDone) {
  OffsetTracker t;
  t.Take(At(0, 0));
  t.Take(At(0, 1));
  EXPECT_TRUE(t.Committable().empty());
  EXPECT_EQ(t.in_flight(), 2u);
  EXPECT_EQ(t.done_since_commit(), 0u);
}

TEST(OffsetTrackerTest, OutOfOrderCompletionCommitsOnlyTheContiguousDonePrefix) {
  OffsetTracker t;
  for (int64_t o = 0; o < 5; ++o) t.Take(At(0, o));
  t.Done(At(0, 2));
  t.Done(At(0, 3));
  EXPECT_TRUE(t.Committable().empty()) << "offset 0 is still in flight";
  t.Done(At(0, 0));
  EXPECT_EQ(Offsets(t.Committable()), std::vector<std::string>{"t[0]=1"});
  t.Done(At(0, 1));
  // 0..3 done, 4 in flight: the next owner would start at 4.
  EXPECT_EQ(Offsets(t.Committable()), std::vector<std::string>{"t[0]=4"});
  EXPECT_EQ(t.done_since_commit(), 4u);
  EXPECT_EQ(t.in_flight(), 1u);
  t.Committed();
  EXPECT_TRUE(t.Committable().empty());
  EXPECT_EQ(t.done_since_commit(), 0u);
  t.Done(At(0, 4));
  EXPECT_EQ(Offsets(t.Committable()), std::vector<std::string>{"t[0]=5"});
}

TEST(OffsetTrackerTest, GapsBetweenOffsetsDoNotHoldThePrefixBack) {
  // Kafka offsets skip (transaction markers, compaction): only the taken ones count.
  OffsetTracker t;
  t.Take(At(0, 10));
  t.Take(At(0, 14));
  t.Done(At(0, 14));
  EXPECT_TRUE(t.Committable().empty());
  t.Done(At(0, 10));
  EXPECT_EQ(Offsets(t.Committable()), std::vector<std::string>{"t[0]=15"});
}

TEST(OffsetTrackerTest, PartitionsAreTrackedApart) {
  OffsetTracker t;
  t.Take(At(0, 0));
  t.Take(At(1, 7));
  t.Take(At(1, 8));
  t.Take(At(0, 0, "u"));
  t.Done(At(1, 7));
  t.Done(At(0, 0, "u"));
  EXPECT_EQ(Offsets(t.Committable()), (std::vector<std::string>{"t[1]=8", "u[0]=1"}));
  t.Committed();
  // Only partitions whose prefix grew since the last commit are committed again.
  t.Done(At(0, 0));
  EXPECT_EQ(Offsets(t.Committable()), std::vector<std::string>{"t[0]=1"});
}

TEST(OffsetTrackerTest, RevocationForgetsInFlightWork) {
  OffsetTracker t;
  t.Take(At(0, 0));
  t.Take(At(0, 1));
  t.Take(At(1, 0));
  t.Done(At(0, 0));
  // The role commits what is done (t[0]=1), then forgets the revoked partitions.
  EXPECT_EQ(Offsets(t.Committable()), std::vector<std::string>{"t[0]=1"});
  t.Committed();
  t.Forget({{"t", 0, -1}});
  EXPECT_EQ(t.in_flight(), 1u);  // t[1]@0 stays
  // Work on a forgotten message finishing late commits nothing: the next owner redoes it.
  t.Done(At(0, 1));
  EXPECT_TRUE(t.Committable().empty());
  EXPECT_EQ(t.done_since_commit(), 0u);
  // Assigned again, the partition starts over from where the group committed.
  t.Take(At(0, 1));
  t.Done(At(0, 1));
  EXPECT_EQ(Offsets(t.Committable()), std::vector<std::string>{"t[0]=2"});
}

TEST(OffsetTrackerTest, DoneTwiceCountsOnce) {
  OffsetTracker t;
  t.Take(At(0, 0));
  t.Take(At(0, 1));
  t.Done(At(0, 1));
  t.Done(At(0, 1));
  EXPECT_EQ(t.done_since_commit(), 1u);
  EXPECT_EQ(t.in_flight(), 1u);
}

}  // namespace
}  // namespace gale::bus::test

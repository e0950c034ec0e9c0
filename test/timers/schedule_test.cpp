// Timer schedules: StackStorm's IntervalTimer, CronTimer (APScheduler's field rules) and
// DateTimer parameters, computed in UTC.
#include "host/timers/schedule.h"

#include <gtest/gtest.h>

#include <ctime>

namespace gale::timers {
namespace {

TimeMs At(int y, int mon, int d, int h = 0, int mi = 0, int s = 0) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<TimeMs>(timegm(&tm)) * 1000;
}

std::unique_ptr<Schedule> Make(const std::string& type, const Json& p) {
  auto s = MakeSchedule(type, p);
  EXPECT_TRUE(s.ok()) << type << " " << p << ": " << s.message();
  return s.ok() ? std::move(s).value() : nullptr;
}

std::string Error(const std::string& type, const Json& p) {
  auto s = MakeSchedule(type, p);
  EXPECT_FALSE(s.ok()) << type << " " << p;
  return s.ok() ? "" : s.message();
}

TEST(ScheduleTest, IntervalTicksAreAlignedToTheEpoch) {
  auto s = Make("core.st2.IntervalTimer", {{"unit", "seconds"}, {"delta", 5}});
  EXPECT_EQ(*s->NextAfter(At(2026, 12, 4, 9, 0, 1)), At(2026, 12, 4, 9, 0, 5));
  EXPECT_EQ(*s->NextAfter(At(2026, 12, 4, 9, 0, 5)), At(2026, 12, 4, 9, 0, 10)) << "strictly after";
  auto h = Make("core.st2.IntervalTimer", {{"unit", "hours"}, {"delta", 2}});
  EXPECT_EQ(*h->NextAfter(At(2026, 12, 4, 9, 30)), At(2026, 12, 4, 10));
  EXPECT_NE(Error("core.st2.IntervalTimer", {{"unit", "fortnights"}, {"delta", 1}}).find("unit"),
            std::string::npos);
  EXPECT_NE(Error("core.st2.IntervalTimer", {{"unit", "seconds"}, {"delta", 0}}).find("delta"),
            std::string::npos);
}

TEST(ScheduleTest, CronFieldsFollowApschedulerDefaults) {
  // {minute: "*/15"}: second defaults to 0, hour and above to *.
  auto q = Make("core.st2.CronTimer", {{"minute", "*/15"}});
  EXPECT_EQ(*q->NextAfter(At(2026, 12, 4, 9, 7, 30)), At(2026, 12, 4, 9, 15));
  EXPECT_EQ(*q->NextAfter(At(2026, 12, 4, 9, 45)), At(2026, 12, 4, 10, 0));
  // {hour: 9}: daily at 09:00:00.
  auto daily = Make("core.st2.CronTimer", {{"hour", 9}});
  EXPECT_EQ(*daily->NextAfter(At(2026, 12, 4, 9, 0, 0)), At(2026, 12, 5, 9));
  // Weekdays (mon = 0) at 08:30; 2026-12-04 is a Friday.
  auto weekdays =
      Make("core.st2.CronTimer", {{"day_of_week", "mon-fri"}, {"hour", 8}, {"minute", 30}});
  EXPECT_EQ(*weekdays->NextAfter(At(2026, 12, 4, 9)), At(2026, 12, 7, 8, 30));
  auto sunday = Make("core.st2.CronTimer", {{"day_of_week", 6}, {"hour", 0}});
  EXPECT_EQ(*sunday->NextAfter(At(2026, 12, 4)), At(2026, 12, 6));
  // Every second: {second: "*"}.
  auto every = Make("core.st2.CronTimer", {{"second", "*"}});
  EXPECT_EQ(*every->NextAfter(At(2026, 12, 4, 9) + 300), At(2026, 12, 4, 9, 0, 1));
  // Month names, lists, ranges with steps, the last day of the month.
  auto quarter = Make("core.st2.CronTimer", {{"month", "jan,apr,jul,oct"}, {"day", 1}});
  EXPECT_EQ(*quarter->NextAfter(At(2026, 12, 4)), At(2027, 1, 1));
  auto last = Make("core.st2.CronTimer", {{"day", "last"}, {"hour", 23}});
  EXPECT_EQ(*last->NextAfter(At(2027, 2, 3)), At(2027, 2, 28, 23));
  EXPECT_EQ(*last->NextAfter(At(2028, 2, 3)), At(2028, 2, 29, 23)) << "leap year";
  auto odd = Make("core.st2.CronTimer", {{"hour", "1-7/2"}, {"minute", 0}});
  EXPECT_EQ(*odd->NextAfter(At(2026, 12, 4, 3, 0)), At(2026, 12, 4, 5));
  // ISO week 1 of 2027 starts on Monday 2027-01-04.
  auto week1 = Make("core.st2.CronTimer", {{"week", 1}, {"day_of_week", "mon"}, {"hour", 0}});
  EXPECT_EQ(*week1->NextAfter(At(2026, 12, 4)), At(2027, 1, 4));
  auto gone = Make("core.st2.CronTimer", {{"year", 2020}});
  EXPECT_FALSE(gone->NextAfter(At(2026, 12, 4)).has_value());
}

TEST(ScheduleTest, BadCronFieldsAreNamed) {
  EXPECT_EQ(Error("core.st2.CronTimer", {{"minute", "*/0"}}),
            "core.st2.CronTimer minute: '*/0': step must be a positive number");
  EXPECT_NE(Error("core.st2.CronTimer", {{"hour", 24}}).find("within 0..23"), std::string::npos);
  EXPECT_NE(Error("core.st2.CronTimer", {{"day_of_week", "funday"}}).find("day_of_week"),
            std::string::npos);
  EXPECT_NE(Error("core.st2.CronTimer", {{"hour", "5-2"}}).find("low to high"), std::string::npos);
}

TEST(ScheduleTest, DateTimerFiresOnce) {
  auto d = Make("core.st2.DateTimer", {{"date", "2026-12-24 18:00:00"}, {"timezone", "UTC"}});
  EXPECT_EQ(*d->NextAfter(At(2026, 12, 4)), At(2026, 12, 24, 18));
  EXPECT_FALSE(d->NextAfter(At(2026, 12, 24, 18)).has_value());
  EXPECT_NE(Error("core.st2.DateTimer", {{"date", "next tuesday"}}).find("ISO 8601"),
            std::string::npos);
  EXPECT_EQ(ExecutedAt(At(2026, 12, 4, 9) + 250), "2026-12-04 09:00:00.250000+00:00");
}

// The wall clock of `timezone` (IANA names, the system's tz database), through DST changes.
TEST(ScheduleTest, TimezonesReadCronFieldsAndDatesOnTheirWallClock) {
  auto paris = Make("core.st2.CronTimer", {{"hour", 9}, {"timezone", "Europe/Paris"}});
  EXPECT_EQ(*paris->NextAfter(At(2026, 12, 4)), At(2026, 12, 4, 8)) << "CET = UTC+1";
  EXPECT_EQ(*paris->NextAfter(At(2027, 7, 1)), At(2027, 7, 1, 7)) << "CEST = UTC+2";
  // 02:30 does not exist on 2027-03-28 in Paris (02:00 -> 03:00): it fires at the jump.
  auto gap =
      Make("core.st2.CronTimer", {{"hour", 2}, {"minute", 30}, {"timezone", "Europe/Paris"}});
  EXPECT_EQ(*gap->NextAfter(At(2027, 3, 27, 12)), At(2027, 3, 28, 1));
  EXPECT_EQ(*gap->NextAfter(At(2027, 3, 28, 1)), At(2027, 3, 29, 0, 30));
  auto ny = Make("core.st2.DateTimer",
                 {{"date", "2026-12-24 18:00:00"}, {"timezone", "America/New_York"}});
  EXPECT_EQ(*ny->NextAfter(At(2026, 12, 4)), At(2026, 12, 24, 23));
  auto explicit_offset = Make("core.st2.DateTimer",
                              {{"date", "2026-12-24T18:00:00Z"}, {"timezone", "America/New_York"}});
  EXPECT_EQ(*explicit_offset->NextAfter(At(2026, 12, 4)), At(2026, 12, 24, 18));
  EXPECT_NE(Error("core.st2.CronTimer", {{"hour", 9}, {"timezone", "Mars/Olympus"}})
                .find("'Mars/Olympus' is not a time zone"),
            std::string::npos);
}

}  // namespace
}  // namespace gale::timers

#include "host/timers/schedule.h"

#include <date/tz.h>

#include <array>
#include <cctype>
#include <charconv>
#include <ctime>
#include <vector>

#include "host/expr/iso8601.h"

namespace gale::timers {
namespace {

constexpr std::string_view kInterval = "core.st2.IntervalTimer";
constexpr std::string_view kCron = "core.st2.CronTimer";
constexpr std::string_view kDate = "core.st2.DateTimer";

// The parameters' `timezone` (an IANA name, as StackStorm takes it): null for UTC.
Result<const date::time_zone*> Zone(std::string_view type, const Json& p) {
  if (!p.contains("timezone") || p["timezone"].is_null()) return nullptr;
  if (!p["timezone"].is_string()) {
    return Status::Error(std::string(type) + " timezone: must be a name such as Europe/Paris");
  }
  const std::string tz = p["timezone"].get<std::string>();
  if (tz == "UTC" || tz == "utc" || tz == "Etc/UTC" || tz == "Z") return nullptr;
  try {
    return date::locate_zone(tz);
  } catch (const std::exception&) {
    return Status::Error(std::string(type) + " timezone: '" + tz +
                         "' is not a time zone (an IANA name such as Europe/Paris, or UTC)");
  }
}

using Seconds = std::chrono::seconds;

// Wall-clock seconds in `zone` of the UTC instant `t` (seconds), and back. Back: a wall time
// that exists twice takes the first; one in a DST gap maps to the moment the clock jumps.
int64_t ToLocal(const date::time_zone* zone, int64_t t) {
  if (zone == nullptr) return t;
  return zone->to_local(date::sys_seconds(Seconds(t))).time_since_epoch().count();
}
int64_t ToSys(const date::time_zone* zone, int64_t local) {
  if (zone == nullptr) return local;
  // With a `choose`, to_sys never throws: it resolves both the ambiguous and the missing case.
  return zone->to_sys(date::local_seconds(Seconds(local)), date::choose::earliest)
      .time_since_epoch()
      .count();
}

class IntervalSchedule : public Schedule {
 public:
  explicit IntervalSchedule(TimeMs period) : period_(period) {}
  std::optional<TimeMs> NextAfter(TimeMs after) const override {
    const TimeMs n = after >= 0 ? after / period_ + 1 : -((-after) / period_);
    return n * period_;
  }

 private:
  TimeMs period_;
};

class DateSchedule : public Schedule {
 public:
  explicit DateSchedule(TimeMs at) : at_(at) {}
  std::optional<TimeMs> NextAfter(TimeMs after) const override {
    if (at_ > after) return at_;
    return std::nullopt;
  }

 private:
  TimeMs at_;
};

// ---- cron (APScheduler's CronTrigger fields)

enum Field { kYear, kMonth, kDay, kWeek, kDayOfWeek, kHour, kMinute, kSecond, kFields };
constexpr std::array<const char*, kFields> kNames = {"year",        "month", "day",    "week",
                                                     "day_of_week", "hour",  "minute", "second"};
constexpr std::array<int, kFields> kMin = {1970, 1, 1, 1, 0, 0, 0, 0};
constexpr std::array<int, kFields> kMax = {9999, 12, 31, 53, 6, 23, 59, 59};
// APScheduler's DEFAULT_VALUES, used for fields less significant than every given one.
constexpr std::array<const char*, kFields> kDefault = {"*", "1", "1", "*", "*", "0", "0", "0"};

struct Term {
  int lo = 0, hi = 0, step = 1;
  bool last = false;  // day: the month's last day
};

struct CronField {
  std::vector<Term> terms;
  bool Matches(int v, int last_day = 31) const {
    for (const Term& t : terms) {
      if (t.last) {
        if (v == last_day) return true;
        continue;
      }
      if (v >= t.lo && v <= t.hi && (v - t.lo) % t.step == 0) return true;
    }
    return false;
  }
};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<int> Value(Field f, const std::string& text) {
  static const std::array<const char*, 12> months = {"jan", "feb", "mar", "apr", "may", "jun",
                                                     "jul", "aug", "sep", "oct", "nov", "dec"};
  static const std::array<const char*, 7> days = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  const std::string t = Lower(text);
  if (f == kMonth) {
    for (size_t i = 0; i < months.size(); ++i) {
      if (t == months[i]) return static_cast<int>(i) + 1;
    }
  }
  if (f == kDayOfWeek) {
    for (size_t i = 0; i < days.size(); ++i) {
      if (t == days[i]) return static_cast<int>(i);
    }
  }
  int v = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || ptr != t.data() + t.size()) return std::nullopt;
  return v;
}

Result<CronField> ParseField(Field f, const std::string& expr) {
  const std::string where = std::string(kCron) + " " + kNames[f] + ": '" + expr + "': ";
  CronField field;
  size_t start = 0;
  while (start <= expr.size()) {
    size_t comma = expr.find(',', start);
    if (comma == std::string::npos) comma = expr.size();
    std::string part = expr.substr(start, comma - start);
    part.erase(0, part.find_first_not_of(' '));
    part.erase(part.find_last_not_of(' ') + 1);
    start = comma + 1;
    Term term{kMin[f], kMax[f], 1, false};
    if (f == kDay && Lower(part) == "last") {
      term.last = true;
      field.terms.push_back(term);
      continue;
    }
    std::string range = part;
    if (size_t slash = part.find('/'); slash != std::string::npos) {
      range = part.substr(0, slash);
      auto step = Value(kSecond, part.substr(slash + 1));
      if (!step || *step <= 0) return Status::Error(where + "step must be a positive number");
      term.step = *step;
    }
    if (range != "*") {
      const size_t dash = range.find('-');
      auto lo = Value(f, range.substr(0, dash));
      auto hi = dash == std::string::npos ? lo : Value(f, range.substr(dash + 1));
      if (!lo || !hi) {
        return Status::Error(where + "expected *, a value, a-b, */n or a-b/n" +
                             (f == kDay ? " (or last)" : ""));
      }
      if (*lo < kMin[f] || *hi > kMax[f] || *lo > *hi) {
        return Status::Error(where + "values must be within " + std::to_string(kMin[f]) + ".." +
                             std::to_string(kMax[f]) + ", low to high");
      }
      term.lo = *lo;
      // "a/n" means from a to the maximum, as in APScheduler.
      term.hi = dash == std::string::npos && part.find('/') != std::string::npos ? kMax[f] : *hi;
    }
    field.terms.push_back(term);
    if (comma == expr.size()) break;
  }
  if (field.terms.empty()) return Status::Error(where + "empty");
  return field;
}

int DaysInMonth(int year, int month) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : days[month - 1];
}

int IsoWeek(const std::tm& tm) {
  // ISO 8601: the week with the year's first Thursday is week 1.
  const int wday = (tm.tm_wday + 6) % 7;  // mon = 0
  const int thursday_yday = tm.tm_yday - wday + 3;
  const int year = tm.tm_year + 1900;
  auto days_in = [](int y) { return (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 366 : 365; };
  if (thursday_yday < 0) return (thursday_yday + days_in(year - 1)) / 7 + 1;
  if (thursday_yday >= days_in(year)) return 1;
  return thursday_yday / 7 + 1;
}

class CronSchedule : public Schedule {
 public:
  CronSchedule(std::array<CronField, kFields> fields, const date::time_zone* zone)
      : f_(std::move(fields)), zone_(zone) {}

  // The fields are matched against the wall clock of the timer's zone.
  std::optional<TimeMs> NextAfter(TimeMs after) const override {
    const int64_t after_s = after >= 0 ? after / 1000 : -1;
    int64_t from = ToLocal(zone_, std::max<int64_t>(after_s, 0)) + (after_s >= 0 ? 1 : 0);
    for (int tries = 0; tries < 1000; ++tries) {
      auto local = NextLocal(from);
      if (!local) return std::nullopt;
      const int64_t sys = ToSys(zone_, *local);
      if (sys > after_s) return sys * 1000;
      from = *local + 1;  // the repeated hour's first pass is already behind us
    }
    return std::nullopt;
  }

 private:
  // The first wall time >= `from` (seconds, on a UTC-like scale) the fields match.
  std::optional<int64_t> NextLocal(int64_t from) const {
    std::time_t t = static_cast<std::time_t>(std::max<int64_t>(from, 0));
    for (int guard = 0; guard < 2'000'000; ++guard) {
      std::tm tm{};
      gmtime_r(&t, &tm);
      const int year = tm.tm_year + 1900;
      if (year > kMax[kYear]) return std::nullopt;
      auto at = [&](int y, int mon, int d, int h, int mi, int s) {
        std::tm next{};
        next.tm_year = y - 1900;
        next.tm_mon = mon - 1;
        next.tm_mday = d;
        next.tm_hour = h;
        next.tm_min = mi;
        next.tm_sec = s;
        return timegm(&next);  // normalizes overflow (month 13, day 32, hour 24, ...)
      };
      if (!f_[kYear].Matches(year)) {
        t = at(year + 1, 1, 1, 0, 0, 0);
        continue;
      }
      if (!f_[kMonth].Matches(tm.tm_mon + 1)) {
        t = at(year, tm.tm_mon + 2, 1, 0, 0, 0);
        continue;
      }
      if (!f_[kDay].Matches(tm.tm_mday, DaysInMonth(year, tm.tm_mon + 1)) ||
          !f_[kWeek].Matches(IsoWeek(tm)) || !f_[kDayOfWeek].Matches((tm.tm_wday + 6) % 7)) {
        t = at(year, tm.tm_mon + 1, tm.tm_mday + 1, 0, 0, 0);
        continue;
      }
      if (!f_[kHour].Matches(tm.tm_hour)) {
        t = at(year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour + 1, 0, 0);
        continue;
      }
      if (!f_[kMinute].Matches(tm.tm_min)) {
        t = at(year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min + 1, 0);
        continue;
      }
      if (!f_[kSecond].Matches(tm.tm_sec)) {
        t += 1;
        continue;
      }
      return static_cast<int64_t>(t);
    }
    return std::nullopt;
  }

  std::array<CronField, kFields> f_;
  const date::time_zone* zone_;
};

Result<std::unique_ptr<Schedule>> MakeCron(const Json& p, const date::time_zone* zone) {
  std::array<std::string, kFields> exprs;
  int last_given = -1;
  for (int f = 0; f < kFields; ++f) {
    if (p.contains(kNames[f]) && !p[kNames[f]].is_null()) last_given = f;
  }
  for (int f = 0; f < kFields; ++f) {
    const Json* v = p.contains(kNames[f]) && !p[kNames[f]].is_null() ? &p[kNames[f]] : nullptr;
    if (v != nullptr) {
      exprs[f] = v->is_string() ? v->get<std::string>() : v->dump();
    } else {
      exprs[f] = f > last_given ? kDefault[f] : "*";
    }
  }
  std::array<CronField, kFields> fields;
  for (int f = 0; f < kFields; ++f) {
    GALE_ASSIGN_OR_RETURN(auto parsed, ParseField(static_cast<Field>(f), exprs[f]));
    fields[f] = std::move(parsed);
  }
  return std::unique_ptr<Schedule>(new CronSchedule(std::move(fields), zone));
}

}  // namespace

bool IsTimerTrigger(std::string_view trigger_type) {
  return trigger_type == kInterval || trigger_type == kCron || trigger_type == kDate;
}

Result<std::unique_ptr<Schedule>> MakeSchedule(std::string_view type, const Json& p) {
  if (!p.is_object()) return Status::Error(std::string(type) + ": parameters must be a mapping");
  GALE_ASSIGN_OR_RETURN(auto zone, Zone(type, p));
  if (type == kInterval) {
    static const std::array<std::pair<const char*, TimeMs>, 5> units = {
        {{"weeks", 7 * 86'400'000LL},
         {"days", 86'400'000LL},
         {"hours", 3'600'000LL},
         {"minutes", 60'000LL},
         {"seconds", 1'000LL}}};
    const std::string unit = p.value("unit", "");
    const Json delta = p.value("delta", Json());
    if (!delta.is_number_integer() || delta.get<int64_t>() < 1) {
      return Status::Error(std::string(type) + " delta: a positive integer is required");
    }
    for (const auto& [name, ms] : units) {
      if (unit == name) {
        return std::unique_ptr<Schedule>(new IntervalSchedule(ms * delta.get<int64_t>()));
      }
    }
    return Status::Error(std::string(type) + " unit: '" + unit +
                         "' (weeks, days, hours, minutes or seconds)");
  }
  if (type == kCron) return MakeCron(p, zone);
  if (type == kDate) {
    const std::string date = p.value("date", "");
    auto at = expr::ParseIsoDateTime(date);
    if (!at) {
      return Status::Error(std::string(type) + " date: '" + date +
                           "' is not an ISO 8601 time (e.g. 2026-12-24 18:00:00)");
    }
    TimeMs ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(at->time_since_epoch()).count();
    // A date without an offset is a wall time of the timer's zone.
    const bool has_offset = date.size() > 10 && date.find_first_of("Zz+-", 10) != std::string::npos;
    if (zone != nullptr && !has_offset) ms = ToSys(zone, ms / 1000) * 1000 + ms % 1000;
    return std::unique_ptr<Schedule>(new DateSchedule(ms));
  }
  return Status::Error("'" + std::string(type) + "' is not a timer trigger type");
}

std::string ExecutedAt(TimeMs at) {
  std::time_t secs = static_cast<std::time_t>(at / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00:00", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(at % 1000) * 1000);
  return buf;
}

}  // namespace gale::timers

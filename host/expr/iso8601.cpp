#include "host/expr/iso8601.h"

#include <cstdint>

namespace gale::expr {

namespace {

bool Digits(std::string_view s, std::size_t& i, int count, int* out) {
  int v = 0;
  for (int k = 0; k < count; ++k) {
    if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i++] - '0');
  }
  *out = v;
  return true;
}

bool IsLeap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int DaysInMonth(int y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> ParseIsoDateTime(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n'))
    s.remove_suffix(1);
  std::size_t i = 0;
  int year = 0, month = 0, day = 0;
  if (!Digits(s, i, 4, &year)) return std::nullopt;
  bool extended = i < s.size() && s[i] == '-';
  if (extended) ++i;
  if (!Digits(s, i, 2, &month)) return std::nullopt;
  if (extended && (i >= s.size() || s[i++] != '-')) return std::nullopt;
  if (!Digits(s, i, 2, &day)) return std::nullopt;
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month)) {
    return std::nullopt;
  }
  int hour = 0, minute = 0, second = 0;
  std::int64_t micros = 0;
  int offset_minutes = 0;
  if (i < s.size()) {
    char sep = s[i++];
    if (sep != 'T' && sep != 't' && sep != ' ') return std::nullopt;
    if (!Digits(s, i, 2, &hour)) return std::nullopt;
    bool colon = i < s.size() && s[i] == ':';
    if (colon) ++i;
    if (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (!Digits(s, i, 2, &minute)) return std::nullopt;
      if (i < s.size() && (colon ? s[i] == ':' : (s[i] >= '0' && s[i] <= '9'))) {
        if (colon) ++i;
        if (!Digits(s, i, 2, &second)) return std::nullopt;
        if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
          ++i;
          int n = 0;
          std::int64_t frac = 0;
          while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            if (n < 6) frac = frac * 10 + (s[i] - '0'), ++n;
            ++i;
          }
          if (n == 0) return std::nullopt;
          for (; n < 6; ++n) frac *= 10;
          micros = frac;
        }
      }
    } else if (colon) {
      return std::nullopt;
    }
    if (i < s.size()) {
      char z = s[i++];
      if (z == 'Z' || z == 'z') {
        if (i != s.size()) return std::nullopt;
      } else if (z == '+' || z == '-') {
        int oh = 0, om = 0;
        if (!Digits(s, i, 2, &oh)) return std::nullopt;
        if (i < s.size() && s[i] == ':') ++i;
        if (i < s.size() && !Digits(s, i, 2, &om)) return std::nullopt;
        if (i != s.size() || oh > 23 || om > 59) return std::nullopt;
        offset_minutes = (z == '+' ? 1 : -1) * (oh * 60 + om);
      } else {
        return std::nullopt;
      }
    }
  }
  if (hour > 23 || minute > 59 || second > 59) return std::nullopt;
  std::int64_t days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  std::int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  // system_clock counts nanoseconds in 64 bits (1677-09-21 to 2262-04-11 with libstdc++): a
  // date beyond is refused, not wrapped around (found by test/fuzz/criteria).
  constexpr std::int64_t kMaxSecs =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::duration::max())
          .count() -
      1;
  if (secs > kMaxSecs || secs < -kMaxSecs) return std::nullopt;
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::microseconds(secs * 1'000'000 + micros)));
}

}  // namespace gale::expr

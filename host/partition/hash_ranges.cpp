#include "host/partition/hash_ranges.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace gale::partition {
namespace {

constexpr uint64_t kMax = uint64_t{1} << 32;

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Result<uint64_t> Bound(const std::string& text, const std::string& range) {
  const std::string lower = Lower(text);
  if (lower == "min") return uint64_t{0};
  if (lower == "max") return kMax;
  // Python's int(): an optional sign, digits.
  std::string_view digits = text;
  bool negative = false;
  if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) {
    negative = digits.front() == '-';
    digits.remove_prefix(1);
  }
  if (digits.empty() ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Status::Error("hash range '" + range + "': '" + text + "' is not a number, min or max");
  }
  if (negative) return uint64_t{0};
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || value > kMax) return kMax;  // clamped, as StackStorm does
  return value;
}

}  // namespace

uint32_t St2SensorHash(std::string_view ref) {
  unsigned char md[16];
  unsigned int len = 0;
  EVP_Digest(ref.data(), ref.size(), md, &len, EVP_md5(), nullptr);
  unsigned __int128 n = 0;
  for (unsigned char b : md) n = (n << 8) | b;
  // Python's str(int) digits, consumed from the last one (reversed()).
  std::string digits;
  do {
    digits += static_cast<char>('0' + static_cast<int>(n % 10));
    n /= 10;
  } while (n != 0);
  uint32_t h = 0;
  for (char d : digits) {  // `digits` is already least significant first
    const uint32_t higher = h & 0xf8000000u;
    h = h << 5;
    h = h ^ (higher >> 27);
    h = h ^ static_cast<uint32_t>(d - '0');
  }
  return h;
}

Result<std::vector<HashRange>> ParseHashRanges(std::string_view text) {
  std::vector<HashRange> ranges;
  size_t start = 0;
  while (true) {
    const size_t bar = text.find('|', start);
    const std::string range = Trim(
        text.substr(start, bar == std::string_view::npos ? std::string_view::npos : bar - start));
    const size_t dots = range.find("..");
    if (dots == std::string::npos || range.find("..", dots + 2) != std::string::npos) {
      return Status::Error("hash range '" + range +
                           "': expected START..END (e.g. 0..1024|2048..max)");
    }
    GALE_ASSIGN_OR_RETURN(auto lo, Bound(Trim(std::string_view(range).substr(0, dots)), range));
    GALE_ASSIGN_OR_RETURN(auto hi, Bound(Trim(std::string_view(range).substr(dots + 2)), range));
    if (lo > hi) return Status::Error("hash range '" + range + "': start is after end");
    ranges.push_back({lo, hi});
    if (bar == std::string_view::npos) break;
    start = bar + 1;
  }
  return ranges;
}

bool InRanges(const std::vector<HashRange>& ranges, uint32_t hash) {
  return std::any_of(ranges.begin(), ranges.end(),
                     [&](const HashRange& r) { return hash >= r.start && hash < r.end; });
}

}  // namespace gale::partition

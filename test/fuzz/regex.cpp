// The linear-time regex engine (host/expr/regex.cpp): a flags byte, then a pattern, "%%", a
// subject. Checks that the DFA (Search on ASCII text) and the Pike VM (Find with groups) agree,
// and that fnmatch-style globs always translate to a pattern that compiles.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "host/expr/regex.h"
#include "test/fuzz/split_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const auto parts = gale::fuzz::SplitInput(data + 1, size - 1, 2);
  const std::string_view pattern = parts[0], subject = parts[1];

  if (!gale::expr::Regex::Compile(gale::expr::GlobToRegex(pattern)).ok()) std::abort();

  gale::expr::Regex::Options options;
  options.ignore_case = flags & 1;
  options.dot_all = flags & 2;
  options.multiline = flags & 4;
  auto re = gale::expr::Regex::Compile(pattern, options);
  if (!re.ok()) return 0;
  const auto searched = re->Search(subject);
  const auto matched = re->Match(subject);
  std::vector<gale::expr::Regex::Group> groups;
  const auto found = re->Find(subject, 0, false, &groups);
  const auto found_at_start = re->Find(subject, 0, true, nullptr);
  // Each pair answers the same question by different machinery (nullopt: out of budget).
  if (searched && found && *searched != *found) std::abort();
  if (matched && found_at_start && *matched != *found_at_start) std::abort();
  if (found && *found) {
    if (groups.size() != re->group_count() + 1) std::abort();
    for (const auto& g : groups) {
      if (g.matched() && (g.begin > g.end || static_cast<size_t>(g.end) > subject.size())) {
        std::abort();
      }
    }
  }
  re->Find(subject, subject.size() / 2, flags & 8, nullptr);
  re->GroupIndex(subject);
  return 0;
}

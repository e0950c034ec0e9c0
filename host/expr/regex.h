// Regular expressions in Python `re` syntax with guaranteed linear-time matching.
//
// StackStorm compiles rule patterns with Python's `re`. Gale cannot use the standard library's
// regex for them: libstdc++'s backtracking matcher overflows the stack on long inputs, and its
// `__polynomial` mode (which JSON Schema patterns used before) measured 48 s for `(a|aa)*c` on
// 20,000 characters and minutes for `x*y` searched in 100,000 'x'. A rule's regex must never hang
// the engine, so this is a Thompson-NFA (Pike VM) matcher: time O(text × pattern), stack and memory
// bounded, plus a step budget after which a match gives up (the caller treats that as "no match").
//
// Syntax: Python's, minus what needs backtracking. Supported: literals and escapes (\n \t \xhh
// \uXXXX \UXXXXXXXX, octal \0oo), . ^ $ \A \Z \b \B, classes [...] [^...] with ranges and \d \w
// \s \D \W \S, groups (...) (?:...) (?P<name>...), comments (?#...), alternation, greedy and lazy
// quantifiers * + ? {m} {m,} {,n} {m,n} (a `{` that is not a quantifier is a literal, as in
// Python), flags (?aimsux) at the start and scoped (?i:...) (?-i:...).
// Refused at compile time with a reason (StackStorm would accept them; such a criterion then
// never matches): back-references (\1, (?P=name)), lookaround ((?=...) (?!...) (?<=...)
// (?<!...)), conditionals, atomic groups and possessive quantifiers, \N{...}, and patterns whose
// compiled program exceeds 20,000 instructions (e.g. a{1,50000}).
// Differences from Python that remain: IGNORECASE uses simple 1:1 case mappings (no 'ß' ~ 'ss');
// \d matches the common Unicode digit blocks, \w uses the C.UTF-8 locale's alnum class; offsets
// reported by Find are byte offsets into the UTF-8 text; when a repeated group can match the
// empty string ((a*)*), the span Find reports for it can differ from Python's (whether there is
// a match, and where the whole match is, agree).
// Matching yes/no on ASCII text runs on a lazily built DFA shared by all threads (about 1-3 ns
// per character); other text and capture groups use the Pike VM. A Regex is immutable and safe
// to use from several threads at once.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/common/result.h"

namespace gale::expr {

struct RegexOptions {
  bool ignore_case = false;  // re.IGNORECASE
  bool dot_all = false;      // re.DOTALL
  bool multiline = false;    // re.MULTILINE
};

class Regex {
 public:
  using Options = RegexOptions;
  // Work (NFA thread steps) one match may take before it gives up.
  static constexpr std::size_t kStepBudget = 10'000'000;

  // Never throws; errors read like Python's ("nothing to repeat at position 0").
  static Result<Regex> Compile(std::string_view pattern, Options options = {});

  // re.search(pattern, text) is not None. nullopt: the step budget ran out.
  std::optional<bool> Search(std::string_view text) const;
  // re.match(pattern, text) is not None (anchored at the start only).
  std::optional<bool> Match(std::string_view text) const;

  // One capture group's byte span in the text; begin < 0 when the group did not participate.
  struct Group {
    std::ptrdiff_t begin = -1;
    std::ptrdiff_t end = -1;
    bool matched() const { return begin >= 0; }
  };
  // The leftmost match (Python's leftmost-first choice among alternatives) starting at or after
  // byte `start`, or exactly at `start` when `anchored`. On true, `groups` (when given) holds
  // group_count() + 1 spans, [0] being the whole match.
  std::optional<bool> Find(std::string_view text, std::size_t start, bool anchored,
                           std::vector<Group>* groups) const;

  std::size_t group_count() const;
  // Index of a (?P<name>...) group, or -1.
  int GroupIndex(std::string_view name) const;
  const std::string& pattern() const;

  struct Program;

 private:
  explicit Regex(std::shared_ptr<const Program> program) : program_(std::move(program)) {}
  std::shared_ptr<const Program> program_;
};

// fnmatch.translate(): a shell glob (* ? [seq] [!seq], case-sensitive as on POSIX) as a Regex
// source that, used with Match(), accepts exactly the texts the glob matches as a whole.
std::string GlobToRegex(std::string_view glob);

}  // namespace gale::expr

// A rule's criteria, compiled once and matched against trigger instances, with StackStorm's
// operators and edge semantics (st2common/operators.py, st2reactor/rules/filter.py):
//
//   criteria:
//     trigger.body.status: {type: equals, pattern: "open"}
//     trigger.items[0].name: {type: exists}
//     trigger.count#2: {type: lt, pattern: "{{ st2kv.system.max }}"}   # '#...' keeps keys unique
//
// Operators (names are case-insensitive, aliases in parentheses): equals (eq), nequals (neq),
// iequals (ieq), lessthan (lt), greaterthan (gt), matchwildcard, regex, iregex, matchregex,
// contains, ncontains, icontains, incontains, startswith, istartswith, endswith, iendswith,
// exists, nexists, inside (in), ninside (nin), timediff_lt (td_lt), timediff_gt (td_gt), search
// (condition any | all | all2any | any2any, pattern: nested criteria on `item.*` keys).
//
// Semantics, as StackStorm evaluates them in Python:
//  - Several criteria are ANDed. With any criteria, an empty or null payload never matches.
//  - A missing key reads as null, exactly like a JSON null: `exists` is false for both, so
//    `nexists`, `nequals` and `ninside` (null not in the list) can match a missing key.
//  - No coercion between numbers and strings ("1" != 1), but 1 == 1.0 and, Python's bool being an
//    int, true == 1 and false == 0 (so `equals 1` matches a payload `true`; kept on purpose:
//    StackStorm rules behave that way).
//  - A null pattern never matches, except for `nequals` (value != None), `exists` and `nexists`,
//    which ignore the pattern.
//  - An operator that raises in Python does not match, negated ones included: a type mismatch
//    (`contains` on a number, `iequals` on a non-string, `lessthan` between a string and a
//    number), an invalid regex, an unparsable date. `Matches` never fails.
//  - contains: pattern in value (substring, list member, dict key); inside: value in pattern.
//  - regex/iregex search anywhere; matchregex anchors at the start (DOTALL); matchwildcard is
//    fnmatch: the glob must match the whole value (case-sensitive).
//  - timediff_lt/gt compare (now - value) in seconds with float(pattern); the value is an ISO
//    8601 date (naive means UTC).
//  - A string pattern is a Jinja template rendered with `trigger` (the payload) and st2kv; a
//    `{{ ... }}` pattern keeps its JSON type (StackStorm's to_complex round trip, reproduced
//    line by line, so a loop that prints a JSON list yields a list), so
//    `pattern: "{{ trigger.limit }}"` compares as a number. A pattern that fails to render (an
//    undefined name, a datastore error) does not match. As Jinja drops a template's trailing
//    newline, `pattern: "abc\n"` (a YAML block scalar) compares as "abc".
// Differences from StackStorm, all refusing at load what could never match there:
//  - An unknown operator, a criterion without `type`, a non-mapping criterion, a `search`
//    without a valid condition or with a non-mapping pattern, and a key that is not a path
//    under `trigger` (or `item` inside `search`) are compile errors.
//  - `trigger.list.0` indexes the list (jsonpath-rw cannot parse it, so it never matches there).
//  - Datastore values in patterns are strings (StackStorm fails json.dumps on its lookup object
//    in a `{{ }}` pattern and then never matches).
//  - Regexes use Gale's linear-time engine (see regex.h): back-references and lookaround are
//    rejected, and such a pattern never matches (as any invalid regex).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "host/common/json.h"
#include "host/common/result.h"
#include "host/expr/template/context.h"

namespace gale::rules {

struct CriterionResult {
  bool matched = false;
  // "trigger.x: equals 'a' vs value 'b'", "trigger.n: lessthan 3 vs value 'x': '<' not
  // supported between instances of 'str' and 'int'", "trigger.x: exists matched".
  std::string reason;
};

// Immutable once compiled; cheap to copy; Matches may run on several threads at once.
class Criteria {
 public:
  // `criteria` is the rule's `criteria` mapping; null or {} means none (every instance matches).
  // Errors name the key: "criteria.trigger.x: unknown operator 'equalz'".
  static Result<Criteria> Compile(const Json& criteria);

  // True when every criterion matches `payload` (the trigger instance's payload). `ctx` supplies
  // the datastore and the clock (its `trigger` field is ignored: `payload` is the trigger).
  // On false, *why (when given) names the first criterion that did not match and why.
  bool Matches(const Json& payload, const expr::TemplateContext& ctx,
               std::string* why = nullptr) const;

  // Every criterion's result, in evaluation order (for logs and rule testing).
  std::vector<CriterionResult> Explain(const Json& payload, const expr::TemplateContext& ctx) const;

  std::size_t size() const;
  // Problems found at load time that make a criterion never match (an invalid regex, a pattern
  // template with a syntax error), one line each, for the rule loader to log.
  const std::vector<std::string>& warnings() const;

  struct Compiled;

 private:
  explicit Criteria(std::shared_ptr<const Compiled> c) : c_(std::move(c)) {}
  std::shared_ptr<const Compiled> c_;
};

}  // namespace gale::rules

#include "host/rules/criteria.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "host/expr/iso8601.h"
#include "test/support/expr_cases.h"

namespace gale::rules {
namespace {

using testing::FixedClock;
using testing::LoadJsonCases;

Criteria MustCompile(const Json& criteria) {
  auto c = Criteria::Compile(criteria);
  EXPECT_TRUE(c.ok()) << c.message();
  if (!c.ok()) return std::move(Criteria::Compile(Json()).value());
  return std::move(c).value();
}

bool Match(const Json& criteria, const Json& payload, const expr::TemplateContext& ctx = {},
           std::string* why = nullptr) {
  return MustCompile(criteria).Matches(payload, ctx, why);
}

Json One(const std::string& key, const std::string& type, const Json& pattern = Json()) {
  Json spec = {{"type", type}};
  if (!pattern.is_null()) spec["pattern"] = pattern;
  return Json{{key, spec}};
}

// ---- the operator table (every operator and alias; checked against st2's operators.py) ----

TEST(CriteriaOperatorTable, EveryRowMatchesStackStorm) {
  Json table = LoadJsonCases("rules/operator_table.json");
  expr::TemplateContext ctx = FixedClock(table["now"].get<std::string>());
  std::set<std::string> ops;
  int rows = 0;
  for (const Json& row : table["rows"]) {
    ++rows;
    const std::string op = row["op"].get<std::string>();
    ops.insert(op);
    Json payload = {{"other", 1}};  // never empty, so only the criterion decides
    if (row.contains("value")) payload["v"] = row["value"];
    Json spec = {{"type", op}};
    if (row.contains("pattern")) spec["pattern"] = row["pattern"];
    Json criteria = {{"trigger.v", spec}};
    std::string why;
    bool got = Match(criteria, payload, ctx, &why);
    EXPECT_EQ(got, row["match"].get<bool>())
        << "row " << rows << ": " << row.dump() << "\n  why: " << why;
    if (!got) {
      EXPECT_FALSE(why.empty()) << row.dump();
    }
  }
  EXPECT_GE(rows, 250);
  // Every StackStorm operator name and alias appears in the table (search has its own tests).
  const std::set<std::string> all = {
      "equals",      "eq",          "nequals",     "neq",       "iequals",       "ieq",
      "lessthan",    "lt",          "greaterthan", "gt",        "matchwildcard", "regex",
      "iregex",      "matchregex",  "contains",    "ncontains", "icontains",     "incontains",
      "startswith",  "istartswith", "endswith",    "iendswith", "exists",        "nexists",
      "inside",      "in",          "ninside",     "nin",       "timediff_lt",   "td_lt",
      "timediff_gt", "td_gt"};
  for (const auto& name : all) EXPECT_TRUE(ops.count(name)) << "no table rows for " << name;
}

TEST(CriteriaOperators, NamesAreCaseInsensitive) {
  Json payload = {{"p", "v1"}};
  EXPECT_TRUE(Match(One("trigger.p", "EQUALS", "v1"), payload));
  EXPECT_TRUE(Match(One("trigger.p", "MatchRegex", "v1$"), payload));
  EXPECT_TRUE(Match(One("trigger.p", "Eq", "v1"), payload));
}

TEST(CriteriaOperators, TypeErrorsNeverMatchEvenNegated) {
  Json payload = {{"n", 5}, {"s", "abc"}, {"l", Json::array({1})}};
  EXPECT_FALSE(Match(One("trigger.n", "ncontains", "x"), payload));           // int is not iterable
  EXPECT_FALSE(Match(One("trigger.n", "incontains", "x"), payload));          // int has no lower()
  EXPECT_FALSE(Match(One("trigger.s", "ninside", 5), payload));               // 5 is not iterable
  EXPECT_FALSE(Match(One("trigger.s", "ncontains", 1), payload));             // int in str
  EXPECT_FALSE(Match(One("trigger.l", "ninside", Json::object()), payload));  // unhashable
  EXPECT_FALSE(Match(One("trigger.missing", "ncontains", "x"), payload));     // None
}

TEST(CriteriaOperators, InvalidRegexCompilesWithAWarningAndNeverMatches) {
  for (const char* op : {"regex", "iregex", "matchregex"}) {
    auto c = Criteria::Compile(One("trigger.s", op, "a(b"));
    ASSERT_TRUE(c.ok()) << c.message();
    ASSERT_EQ(c->warnings().size(), 1u) << op;
    EXPECT_NE(c->warnings()[0].find("criteria.trigger.s"), std::string::npos);
    std::string why;
    EXPECT_FALSE(c->Matches(Json{{"s", "a(b"}}, {}, &why)) << op;
    EXPECT_NE(why.find("invalid regular expression"), std::string::npos) << why;
  }
  // Constructs Gale's linear-time engine refuses behave the same way (never match).
  auto c = Criteria::Compile(One("trigger.s", "regex", "(a)\\1"));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->warnings().size(), 1u);
  EXPECT_FALSE(c->Matches(Json{{"s", "aa"}}, {}));
  // A templated pattern that renders to an invalid regex does not match either.
  Json payload = {{"s", "abc"}, {"re", "("}};
  EXPECT_FALSE(Match(One("trigger.s", "regex", "{{ trigger.re }}"), payload));
}

// ---- keys and paths ----

TEST(CriteriaPaths, MissingAndNullReadAsNone) {
  Json payload = {{"present", "x"}, {"null", nullptr}};
  EXPECT_TRUE(Match(One("trigger.present", "exists"), payload));
  EXPECT_FALSE(Match(One("trigger.null", "exists"), payload));
  EXPECT_FALSE(Match(One("trigger.missing", "exists"), payload));
  EXPECT_TRUE(Match(One("trigger.null", "nexists"), payload));
  EXPECT_TRUE(Match(One("trigger.missing", "nexists"), payload));
  EXPECT_TRUE(Match(One("trigger.missing", "nequals", "x"), payload));
  EXPECT_TRUE(Match(One("trigger.missing", "ninside", Json::array({"a"})), payload));
  EXPECT_FALSE(Match(One("trigger.missing", "equals", "x"), payload));
  EXPECT_FALSE(Match(One("trigger.missing.deeper.still", "exists"), payload));
  EXPECT_TRUE(Match(One("trigger.present.deeper", "nexists"), payload));  // str has no keys
}

TEST(CriteriaPaths, ListIndexesAndQuotedNames) {
  Json payload = Json::parse(R"({
    "list": [{"name": "first"}, {"name": "second"}],
    "a b": {"c.d": 1}, "obj": {"0": "zero"}, "s": "héllo", "nums": [1, 2, 3]})");
  EXPECT_TRUE(Match(One("trigger.list.0.name", "equals", "first"), payload));
  EXPECT_TRUE(Match(One("trigger.list[1].name", "equals", "second"), payload));
  EXPECT_TRUE(Match(One("trigger.list[-1].name", "equals", "second"), payload));
  EXPECT_TRUE(Match(One("trigger.list.5.name", "nexists"), payload));
  EXPECT_TRUE(Match(One("trigger['a b'][\"c.d\"]", "equals", 1), payload));
  EXPECT_TRUE(Match(One("trigger.obj.0", "equals", "zero"), payload));
  EXPECT_TRUE(Match(One("trigger.s[1]", "equals", "é"), payload));
  EXPECT_TRUE(Match(One("trigger.list[*].name", "equals", "first"), payload));
  EXPECT_TRUE(Match(One("trigger.nums", "equals", Json::array({1, 2, 3})), payload));
  EXPECT_TRUE(Match(One("trigger", "contains", "nums"), payload));  // the whole payload
  // Indexing an object or a number raises in jsonpath-rw: no match, nexists included.
  EXPECT_FALSE(Match(One("trigger.obj[0]", "nexists"), payload));
  EXPECT_FALSE(Match(One("trigger.obj[0]", "exists"), payload));
}

TEST(CriteriaPaths, HashSuffixKeepsKeysUnique) {
  // st2reactor test_filter.py: test_hash_strip_int_value
  Json payload = {{"int", 1}};
  EXPECT_TRUE(Match({{"trigger.int", {{"type", "gt"}, {"pattern", 0}}},
                     {"trigger.int#2", {{"type", "lt"}, {"pattern", 2}}}},
                    payload));
  EXPECT_FALSE(Match({{"trigger.int", {{"type", "gt"}, {"pattern", 2}}},
                      {"trigger.int#2", {{"type", "lt"}, {"pattern", 3}}}},
                     payload));
  EXPECT_TRUE(Match({{"trigger.int#1", {{"type", "lt"}, {"pattern", 2}}}}, payload));
}

TEST(CriteriaRules, SeveralCriteriaAreAnded) {
  Json payload = {{"a", 1}, {"b", "x"}};
  Json both = {{"trigger.a", {{"type", "equals"}, {"pattern", 1}}},
               {"trigger.b", {{"type", "equals"}, {"pattern", "x"}}}};
  EXPECT_TRUE(Match(both, payload));
  both["trigger.b"]["pattern"] = "y";
  std::string why;
  EXPECT_FALSE(Match(both, payload, {}, &why));
  EXPECT_EQ(why, "trigger.b: equals 'y' vs value 'x'");
}

TEST(CriteriaRules, EmptyPayloadNeverMatchesCriteria) {
  // st2reactor test_filter.py: test_empty_payload / test_empty_criteria_and_empty_payload
  EXPECT_FALSE(Match(One("trigger.p1", "equals", "v1"), nullptr));
  EXPECT_FALSE(Match(One("trigger.p1", "nexists"), Json::object()));
  EXPECT_TRUE(Match(Json::object(), nullptr));
  EXPECT_TRUE(Match(nullptr, Json::object()));
  EXPECT_EQ(MustCompile(nullptr).size(), 0u);
}

TEST(CriteriaRules, CompileErrorsNameTheKey) {
  struct Case {
    Json criteria;
    std::string message;
  };
  std::vector<Case> cases = {
      {One("trigger.x", "equalz", "a"), "criteria.trigger.x: unknown operator 'equalz'"},
      {Json{{"trigger.x", {{"pattern", "a"}}}}, "criteria.trigger.x: missing 'type'"},
      {Json{{"trigger.x", "equals"}}, "criteria.trigger.x: expected a mapping"},
      {Json{{"trigger.x", {{"type", 3}}}}, "criteria.trigger.x: 'type' must be a string"},
      {One("payload.x", "exists"), "criteria.payload.x: keys must be paths under 'trigger'"},
      {One("trigger..x", "exists"), "'..' is not supported"},
      {One("trigger.l[1:2]", "exists"), "slices are not supported"},
      {One("trigger.l[", "exists"), "criteria.trigger.l[: invalid key"},
      {Json{{"trigger.l", {{"type", "search"}, {"pattern", Json::object()}}}},
       "search needs 'condition' any, all, all2any or any2any"},
      {Json{
           {"trigger.l", {{"type", "search"}, {"condition", "some"}, {"pattern", Json::object()}}}},
       "search needs 'condition'"},
      {Json{{"trigger.l", {{"type", "search"}, {"condition", "any"}, {"pattern", "x"}}}},
       "search needs a 'pattern' mapping"},
      {Json{{"trigger.l",
             {{"type", "search"},
              {"condition", "any"},
              {"pattern", {{"item.x", {{"type", "nope"}}}}}}}},
       "criteria.trigger.l.pattern.item.x: unknown operator 'nope'"},
      {Json{{"trigger.l",
             {{"type", "search"},
              {"condition", "any"},
              {"pattern", {{"trigger.x", {{"type", "exists"}}}}}}}},
       "keys must be paths under 'item'"},
      {Json::array(), "criteria: expected a mapping"},
  };
  for (const auto& c : cases) {
    auto r = Criteria::Compile(c.criteria);
    ASSERT_FALSE(r.ok()) << c.criteria.dump();
    EXPECT_NE(r.message().find(c.message), std::string::npos)
        << "got: " << r.message() << "\nwant: " << c.message;
  }
}

TEST(CriteriaRules, ReasonsDescribeTheComparison) {
  Json payload = {{"x", "b"}, {"n", "text"}};
  std::string why;
  EXPECT_FALSE(Match(One("trigger.x", "equals", "a"), payload, {}, &why));
  EXPECT_EQ(why, "trigger.x: equals 'a' vs value 'b'");
  EXPECT_FALSE(Match(One("trigger.n", "lessthan", 3), payload, {}, &why));
  EXPECT_EQ(why,
            "trigger.n: lessthan 3 vs value 'text': '<' not supported between instances of "
            "'str' and 'int'");
  EXPECT_FALSE(Match(One("trigger.gone", "exists"), payload, {}, &why));
  EXPECT_EQ(why, "trigger.gone: exists vs value None (missing)");
  auto results = MustCompile({{"trigger.x", {{"type", "equals"}, {"pattern", "b"}}},
                              {"trigger.n", {{"type", "contains"}, {"pattern", "zz"}}}})
                     .Explain(payload, {});
  ASSERT_EQ(results.size(), 2u);
  int matched = 0;
  for (const auto& r : results) {
    if (r.reason.rfind("trigger.x", 0) == 0) {
      EXPECT_TRUE(r.matched);
      EXPECT_EQ(r.reason, "trigger.x: equals 'b' matched value 'b'");
    } else {
      EXPECT_FALSE(r.matched);
      EXPECT_EQ(r.reason, "trigger.n: contains 'zz' vs value 'text'");
    }
    matched += r.matched;
  }
  EXPECT_EQ(matched, 1);
}

// ---- timediff with an injected clock ----

TEST(CriteriaTimeDiff, UsesTheInjectedClock) {
  expr::TemplateContext ctx = FixedClock("2024-06-01T12:00:00Z");
  Json payload = {{"at", "2024-06-01T11:59:30.250000Z"}};
  EXPECT_TRUE(Match(One("trigger.at", "timediff_lt", 30), payload, ctx));
  EXPECT_FALSE(Match(One("trigger.at", "timediff_lt", 29.75), payload, ctx));
  EXPECT_TRUE(Match(One("trigger.at", "timediff_gt", 29.5), payload, ctx));
  EXPECT_TRUE(Match(One("trigger.at", "td_gt", "29"), payload, ctx));
  // Without an injected clock the system clock is used.
  expr::TemplateContext real;
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  EXPECT_TRUE(Match(One("trigger.at", "timediff_lt", 60), Json{{"at", buf}}, real));
  EXPECT_FALSE(Match(One("trigger.at", "timediff_gt", 60), Json{{"at", buf}}, real));
}

// Found by test/fuzz/criteria: a date the clock cannot hold wrapped around (signed overflow), and
// so did now - date for dates more than 292 years before now.
TEST(CriteriaTimeDiff, DatesFarFromNowNeitherWrapNorOverflow) {
  EXPECT_FALSE(expr::ParseIsoDateTime("3044-02-14T02:02:03.5+01:00"));
  EXPECT_FALSE(expr::ParseIsoDateTime("1000-01-01"));
  EXPECT_TRUE(expr::ParseIsoDateTime("2262-04-10T00:00:00Z"));
  EXPECT_TRUE(expr::ParseIsoDateTime("1678-01-02T00:00:00Z"));
  expr::TemplateContext ctx = FixedClock("2026-01-01T00:00:00Z");
  std::string why;
  EXPECT_FALSE(Match(One("trigger.at", "timediff_lt", 3600), Json{{"at", "3044-02-14T02:02:03Z"}},
                     ctx, &why));
  EXPECT_NE(why.find("not an ISO 8601 date"), std::string::npos) << why;
  // 348 years ago: about 1.1e10 seconds, more than int64 nanoseconds can hold.
  Json old = {{"at", "1678-01-02T00:00:00Z"}};
  EXPECT_TRUE(Match(One("trigger.at", "timediff_gt", 1e10), old, ctx));
  EXPECT_FALSE(Match(One("trigger.at", "timediff_lt", 1e10), old, ctx));
}

// ---- search ----

Json Search(const std::string& condition, const Json& pattern) {
  return {{"trigger.items", {{"type", "search"}, {"condition", condition}, {"pattern", pattern}}}};
}

TEST(CriteriaSearch, AnyAndAllOverListItems) {
  // st2reactor test_filter.py: the recursive_list payload.
  Json payload = Json::parse(R"({"items": [
    {"field_name": "Status", "to_value": "Approved"},
    {"field_name": "Signed off by", "to_value": "Stanley"}]})");
  Json status_approved = {{"item.field_name", {{"type", "equals"}, {"pattern", "Status"}}},
                          {"item.to_value", {{"type", "equals"}, {"pattern", "Approved"}}}};
  EXPECT_TRUE(Match(Search("any", status_approved), payload));
  EXPECT_FALSE(Match(Search("all", status_approved), payload));
  Json status_denied = status_approved;
  status_denied["item.to_value"]["pattern"] = "Denied";
  EXPECT_FALSE(Match(Search("any", status_denied), payload));
  Json starts_s = {{"item.field_name", {{"type", "startswith"}, {"pattern", "S"}}}};
  EXPECT_TRUE(Match(Search("all", starts_s), payload));
}

TEST(CriteriaSearch, TwoLevelConditions) {
  // st2common test_operators.py: waterLevel cases, with the level read from item.to_value.
  auto levels = [](std::vector<int> v) {
    Json items = Json::array();
    for (int x : v) items.push_back({{"field_name", "waterLevel"}, {"to_value", x}});
    return Json{{"items", items}};
  };
  Json lt40_gt50 = {{"item.to_value#1", {{"type", "lessthan"}, {"pattern", 40}}},
                    {"item.to_value#2", {{"type", "greaterthan"}, {"pattern", 50}}}};
  EXPECT_TRUE(Match(Search("any2any", lt40_gt50), levels({30, 45})));
  EXPECT_FALSE(Match(Search("any2any", lt40_gt50), levels({44, 45})));

  Json band = {{"item.to_value#1", {{"type", "greaterthan"}, {"pattern", 40}}},
               {"item.to_value#2", {{"type", "lessthan"}, {"pattern", 50}}},
               {"item.to_value#3", {{"type", "equals"}, {"pattern", 46}}}};
  EXPECT_FALSE(Match(Search("any", band), levels({45, 20})));
  EXPECT_TRUE(Match(Search("any", band), levels({46, 20})));
  EXPECT_TRUE(Match(Search("all2any", band), levels({45, 20})));
  Json band2 = band;
  band2["item.to_value#2"]["type"] = "greaterthan";
  EXPECT_FALSE(Match(Search("all2any", band2), levels({45, 20})));

  Json in_band = {{"item.to_value#1", {{"type", "greaterthan"}, {"pattern", 40}}},
                  {"item.to_value#2", {{"type", "lessthan"}, {"pattern", 50}}}};
  EXPECT_TRUE(Match(Search("all", in_band), levels({45, 46})));
  EXPECT_FALSE(Match(Search("all", in_band), levels({30, 46})));
}

TEST(CriteriaSearch, DictsEmptyListsAndNonLists) {
  Json gt40 = {{"item.to_value", {{"type", "greaterthan"}, {"pattern", 40}}}};
  // A dict is searched as a one-item list.
  EXPECT_TRUE(Match(Search("all", gt40), Json{{"items", {{"to_value", 45}}}}));
  EXPECT_FALSE(Match(Search("all", gt40), Json{{"items", {{"to_value", 30}}}}));
  // Python's all([]) is True and any([]) is False.
  EXPECT_TRUE(Match(Search("all", gt40), Json{{"items", Json::array()}, {"x", 1}}));
  EXPECT_FALSE(Match(Search("any", gt40), Json{{"items", Json::array()}, {"x", 1}}));
  // None and numbers are not iterable: no match.
  EXPECT_FALSE(Match(Search("all", gt40), Json{{"x", 1}}));
  EXPECT_FALSE(Match(Search("all", gt40), Json{{"items", 5}}));
  // A string iterates over its characters.
  Json is_a = {{"item", {{"type", "equals"}, {"pattern", "a"}}}};
  EXPECT_TRUE(Match(Search("any", is_a), Json{{"items", "xya"}}));
  EXPECT_FALSE(Match(Search("all", is_a), Json{{"items", "xya"}}));
}

TEST(CriteriaSearch, NestedSearchAndItemTemplates) {
  Json payload = Json::parse(R"({"limit": 3, "groups": [
    {"name": "a", "hosts": [{"load": 1}, {"load": 2}]},
    {"name": "b", "hosts": [{"load": 7}]}]})");
  Json inner = {{"item.load", {{"type", "gt"}, {"pattern", 5}}}};
  Json outer = {{"trigger.groups",
                 {{"type", "search"},
                  {"condition", "any"},
                  {"pattern",
                   {{"item.hosts", {{"type", "search"}, {"condition", "all"}, {"pattern", inner}}},
                    {"item.name", {{"type", "equals"}, {"pattern", "b"}}}}}}}};
  EXPECT_TRUE(Match(outer, payload));
  // Inside search, patterns render with `item` (StackStorm's context), not `trigger`.
  Json self_ref = {
      {"trigger.groups",
       {{"type", "search"},
        {"condition", "any"},
        {"pattern", {{"item.name", {{"type", "equals"}, {"pattern", "{{ item.name }}"}}}}}}}};
  EXPECT_TRUE(Match(self_ref, payload));
  Json uses_trigger = self_ref;
  uses_trigger["trigger.groups"]["pattern"]["item.name"]["pattern"] = "{{ trigger.limit }}";
  EXPECT_FALSE(Match(uses_trigger, payload));
}

// ---- patterns that are templates (st2reactor test_filter.py) ----

class PatternTemplates : public ::testing::Test {
 protected:
  Json payload = Json::parse(R"({
    "p1": "v1", "p2": "preYYYpost", "bool": true, "int": 1, "float": 0.8,
    "list": ["v1", true, 1],
    "recursive_list": [{"field_name": "Status", "to_value": "Approved"},
                       {"field_name": "Signed off by", "to_value": "Stanley"}]})");
  std::map<std::string, std::string> kv = {{"test_value_1", "non matching"},
                                           {"test_value_2", "v1"},
                                           {"test_value_3", "YYY"},
                                           {"limit", "5"}};
  expr::TemplateContext ctx() {
    expr::TemplateContext c;
    c.kv = [this](expr::KvScope scope, const std::string& name) -> std::optional<std::string> {
      if (scope != expr::KvScope::kSystem) return std::nullopt;
      auto it = kv.find(name);
      if (it == kv.end()) return std::nullopt;
      return it->second;
    };
    return c;
  }
};

TEST_F(PatternTemplates, RenderWithTriggerAndKeepTypes) {
  auto c = ctx();
  EXPECT_TRUE(Match(One("trigger.p1", "equals", "{{trigger.p1}}"), payload, c));
  EXPECT_TRUE(
      Match(One("trigger.p1", "equals", "{{'%s' % trigger.p1 if trigger.int}}"), payload, c));
  EXPECT_FALSE(Match(One("trigger.p1", "equals", "{{trigger.p2}}"), payload, c));
  EXPECT_TRUE(Match(One("trigger.bool", "equals", "{{trigger.bool}}"), payload, c));
  EXPECT_TRUE(Match(One("trigger.bool", "equals", "{{ trigger.bool }}"), payload, c));
  EXPECT_TRUE(Match(One("trigger.int", "equals", "{{trigger.int}}"), payload, c));
  EXPECT_TRUE(Match(One("trigger.float", "equals", "{{trigger.float}}"), payload, c));
  EXPECT_TRUE(Match(One("trigger.int", "lt", "{{ (trigger.int + 1) }}"), payload, c));
  // StackStorm appends "| to_complex" to the expression, which binds to the `1` alone:
  // trigger.int + "1" raises, so this pattern never matches there, nor here.
  EXPECT_FALSE(Match(One("trigger.int", "lt", "{{ trigger.int + 1 }}"), payload, c));
}

TEST_F(PatternTemplates, JsonProducedByALoopIsDecoded) {
  auto c = ctx();
  const char* good = R"(
                    [
                        {% for item in trigger.list %}
                        {{item}}{% if not loop.last %},{% endif %}
                        {% endfor %}
                    ]
                )";
  const char* bad = R"(
                    [
                        {% for item in trigger.list %}
                        {{item}}
                        {% endfor %}
                    ]
                )";
  EXPECT_TRUE(Match(One("trigger.list", "equals", good), payload, c));
  EXPECT_FALSE(Match(One("trigger.list", "equals", bad), payload, c));
}

TEST_F(PatternTemplates, DatastoreValues) {
  auto c = ctx();
  EXPECT_FALSE(
      Match(One("trigger.p1", "equals", "{{ st2kv.system.inexistent_value }}"), payload, c));
  EXPECT_FALSE(Match(One("trigger.p1", "equals", "{{ st2kv.system.test_value_1 }}"), payload, c));
  EXPECT_TRUE(Match(One("trigger.p1", "equals", "{{ st2kv.system.test_value_2 }}"), payload, c));
  EXPECT_FALSE(Match(One("trigger.p2", "equals", "{{ st2kv.system.test_value_3 }}"), payload, c));
  EXPECT_TRUE(
      Match(One("trigger.p2", "equals", "pre{{ st2kv.system.test_value_3 }}post"), payload, c));
  EXPECT_TRUE(
      Match(One("trigger.p2", "equals", "pre{{ kv.system.test_value_3 }}post"), payload, c));
  EXPECT_TRUE(Match(One("trigger.p1", "equals", "{{ system.test_value_2 }}"), payload, c));
  // A datastore value is a string; int() turns it into a number for numeric operators.
  EXPECT_FALSE(Match(One("trigger.int", "lt", "{{ st2kv.system.limit }}"), payload, c));
  EXPECT_TRUE(Match(One("trigger.int", "lt", "{{ st2kv.system.limit | int }}"), payload, c));
}

TEST_F(PatternTemplates, RenderFailuresDoNotMatch) {
  auto c = ctx();
  std::string why;
  EXPECT_FALSE(Match(One("trigger.p1", "nequals", "{{ trigger.missing }}"), payload, c, &why));
  EXPECT_NE(why.find("cannot render pattern: 'trigger.missing' is undefined"), std::string::npos)
      << why;
  EXPECT_FALSE(Match(One("trigger.p1", "nexists", "{{ trigger.missing }}"), payload, c));
  EXPECT_TRUE(
      Match(One("trigger.p1", "equals", "{{ trigger.missing | default('v1') }}"), payload, c));
  // A syntax error is reported at load time and never matches.
  auto broken = Criteria::Compile(One("trigger.p1", "nequals", "{{ trigger.p1 "));
  ASSERT_TRUE(broken.ok());
  ASSERT_EQ(broken->warnings().size(), 1u);
  EXPECT_NE(broken->warnings()[0].find("expected '}}'"), std::string::npos);
  EXPECT_FALSE(broken->Matches(payload, c));
}

TEST_F(PatternTemplates, PlainStringsRenderAsJinjaDoes) {
  // Jinja drops one trailing newline, so a block-scalar pattern compares without it.
  EXPECT_TRUE(Match(One("trigger.p1", "equals", "v1\n"), payload));
  EXPECT_TRUE(Match(One("trigger.p1", "regex", "^v1$\n"), payload));
  // A regex with braces is not a template.
  EXPECT_TRUE(Match(One("trigger.p1", "regex", "^v{1}1$"), payload));
  // Non-string patterns are never rendered.
  EXPECT_TRUE(Match(One("trigger.list", "contains", 1), payload));
}

}  // namespace
}  // namespace gale::rules

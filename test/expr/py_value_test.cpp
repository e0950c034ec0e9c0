#include "host/expr/py_value.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "host/expr/iso8601.h"
#include "host/expr/key_path.h"

namespace gale::expr {
namespace {

TEST(PyValue, FloatReprMatchesPython) {
  // Expected strings are Python 3's repr().
  const std::pair<double, const char*> cases[] = {
      {1.0, "1.0"},
      {0.1, "0.1"},
      {0.1 + 0.2, "0.30000000000000004"},
      {1e16, "1e+16"},
      {1.5e16, "1.5e+16"},
      {123456789012345.0, "123456789012345.0"},
      {1e-5, "1e-05"},
      {0.0001, "0.0001"},
      {-0.0, "-0.0"},
      {2.5, "2.5"},
      {1e300, "1e+300"},
      {-1.25e-7, "-1.25e-07"},
      {100.0, "100.0"},
      {1.0 / 3, "0.3333333333333333"},
  };
  for (const auto& [d, s] : cases) EXPECT_EQ(py::FloatRepr(d), s);
  EXPECT_EQ(py::FloatRepr(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(py::FloatRepr(std::nan("")), "nan");
}

TEST(PyValue, EqualityOrderingAndMembership) {
  EXPECT_TRUE(py::Equals(Json(1), Json(1.0)));
  EXPECT_TRUE(py::Equals(Json(true), Json(1)));
  EXPECT_FALSE(py::Equals(Json("1"), Json(1)));
  EXPECT_TRUE(py::Equals(Json(std::uint64_t{18446744073709551615ULL}),
                         Json(std::uint64_t{18446744073709551615ULL})));
  EXPECT_FALSE(py::Equals(Json(9007199254740993LL), Json(9007199254740992.0)));  // exact
  EXPECT_TRUE(py::Equals(Json::parse(R"({"a": [1, {"b": true}]})"),
                         Json::parse(R"({"a": [1.0, {"b": 1}]})")));
  EXPECT_EQ(py::Less(Json("a"), Json("b")), std::optional<bool>(true));
  EXPECT_EQ(py::Less(Json("é"), Json("z")), std::optional<bool>(false));  // code point order
  EXPECT_EQ(py::Less(Json::parse("[1, 2]"), Json::parse("[1, 2, 0]")), std::optional<bool>(true));
  EXPECT_EQ(py::Less(Json::parse("[1, \"a\"]"), Json::parse("[1, 2]")), std::nullopt);
  EXPECT_EQ(py::Less(Json(nullptr), Json(1)), std::nullopt);
  EXPECT_EQ(py::Less(Json(std::nan("")), Json(1)), std::optional<bool>(false));
  EXPECT_EQ(py::Contains(Json("abc"), Json("")), std::optional<bool>(true));
  EXPECT_EQ(py::Contains(Json::parse("{\"1\": 0}"), Json(1)), std::optional<bool>(false));
  EXPECT_EQ(py::Contains(Json(5), Json(5)), std::nullopt);
}

TEST(PyValue, StrReprAndJsonDumps) {
  EXPECT_EQ(py::Str(Json::parse(R"({"a": [1, "x'y", null, true, 1.5], "b": "q\"t"})")),
            R"({'a': [1, "x'y", None, True, 1.5], 'b': 'q"t'})");
  EXPECT_EQ(py::Repr(Json("tab\there\u00a0\n")), "'tab\\there\\xa0\\n'");
  py::DumpOptions o;
  EXPECT_EQ(*py::JsonDumps(Json::parse(R"({"k": ["é", "😀", "\u007f"], "n": 1.0})"), o),
            R"({"k": ["\u00e9", "\ud83d\ude00", "\u007f"], "n": 1.0})");
  o.ensure_ascii = false;
  o.item_sep = ",";
  o.indent = 2;
  EXPECT_EQ(*py::JsonDumps(Json::parse(R"({"a": [1, 2], "b": {}})"), o),
            "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {}\n}");
}

TEST(PyValue, NumberParsingFollowsPython) {
  EXPECT_EQ(py::ParseFloat(" 1_000.5 "), std::optional<double>(1000.5));
  EXPECT_EQ(py::ParseFloat("1e3"), std::optional<double>(1000));
  EXPECT_TRUE(std::isinf(*py::ParseFloat("-Infinity")));
  EXPECT_EQ(py::ParseFloat("1__0"), std::nullopt);
  EXPECT_EQ(py::ParseFloat("0x10"), std::nullopt);
  EXPECT_EQ(py::ParseFloat(""), std::nullopt);
  EXPECT_EQ(py::ParseInt("  -42 ", 10), std::optional<long long>(-42));
  EXPECT_EQ(py::ParseInt("0x1f", 16), std::optional<long long>(31));
  EXPECT_EQ(py::ParseInt("0x1f", 0), std::optional<long long>(31));
  EXPECT_EQ(py::ParseInt("010", 0), std::nullopt);
  EXPECT_EQ(py::ParseInt("4.2", 10), std::nullopt);
  EXPECT_EQ(py::ParseInt("99999999999999999999", 10), std::nullopt);
}

TEST(Iso8601, ParsesTheFormsStackStormAccepts) {
  using std::chrono::system_clock;
  auto epoch = [](const char* s) {
    auto t = ParseIsoDateTime(s);
    return t ? std::chrono::duration<double>(t->time_since_epoch()).count() : -1.0;
  };
  EXPECT_EQ(epoch("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(epoch("2014-07-01T00:01:01.000000"), 1404172861);
  EXPECT_EQ(epoch("2014-07-01 00:01:01"), 1404172861);
  EXPECT_EQ(epoch("20140701T000101Z"), 1404172861);
  EXPECT_EQ(epoch("2014-07-01T02:01:01+02:00"), 1404172861);
  EXPECT_EQ(epoch("2014-06-30T23:01:01-0100"), 1404172861);
  EXPECT_DOUBLE_EQ(epoch("1970-01-01T00:00:00.25Z"), 0.25);
  EXPECT_EQ(epoch("2014-07-01"), 1404172800);
  EXPECT_EQ(epoch("2014-02-30T00:00:00"), -1);
  EXPECT_EQ(epoch("yesterday"), -1);
  EXPECT_EQ(epoch("2014-07-01T25:00:00"), -1);
}

TEST(KeyPath, ParseAndLookup) {
  auto p = ParseKeyPath("trigger.a[0]['b c'].*.d");
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(p->root, "trigger");
  ASSERT_EQ(p->steps.size(), 5u);
  Json v = Json::parse(R"({"a": [{"b c": {"x": {"d": 1}, "y": {"d": 2}}}]})");
  const Json* out = nullptr;
  Json scratch;
  EXPECT_EQ(Lookup(v, *p, &out, &scratch), LookupStatus::kFound);
  EXPECT_EQ(*out, Json(1));
  auto all = LookupAll(v, *p, 10);
  EXPECT_EQ(all.size(), 2u);
  EXPECT_FALSE(ParseKeyPath("").ok());
  EXPECT_FALSE(ParseKeyPath("trigger.").ok());
  EXPECT_FALSE(ParseKeyPath("trigger[").ok());
}

}  // namespace
}  // namespace gale::expr

#include "host/expr/regex.h"

#include <gtest/gtest.h>

#include <chrono>

#include "test/support/expr_cases.h"

namespace gale::expr {
namespace {

using testing::LoadJsonCases;

RegexOptions Flags(const std::string& f) {
  RegexOptions o;
  o.ignore_case = f.find('i') != std::string::npos;
  o.dot_all = f.find('s') != std::string::npos;
  o.multiline = f.find('m') != std::string::npos;
  return o;
}

TEST(RegexPythonParity, CasesAgreeWithPythonRe) {
  Json data = LoadJsonCases("expr/regex_cases.json");
  int n = 0;
  for (const Json& c : data["cases"]) {
    ++n;
    const std::string pattern = c["pattern"].get<std::string>();
    const std::string text = c["text"].get<std::string>();
    auto re = Regex::Compile(pattern, Flags(c["flags"].get<std::string>()));
    ASSERT_TRUE(re.ok()) << pattern << ": " << re.message();
    EXPECT_EQ(re->Search(text), std::optional<bool>(c["search"].get<bool>())) << pattern;
    EXPECT_EQ(re->Match(text), std::optional<bool>(c["match"].get<bool>())) << pattern;
    std::vector<Regex::Group> groups;
    auto found = re->Find(text, 0, false, &groups);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(*found, c["search"].get<bool>()) << pattern;
    if (*found && c.contains("groups")) {
      ASSERT_EQ(groups.size(), c["groups"].size()) << pattern;
      for (std::size_t g = 0; g < groups.size(); ++g) {
        EXPECT_EQ(groups[g].begin, c["groups"][g][0].get<long>()) << pattern << " group " << g;
        EXPECT_EQ(groups[g].end, c["groups"][g][1].get<long>()) << pattern << " group " << g;
      }
    }
  }
  EXPECT_GE(n, 80);
  for (const Json& c : data["python_errors"]) {
    auto re = Regex::Compile(c["pattern"].get<std::string>());
    EXPECT_FALSE(re.ok()) << c["pattern"] << " compiles, Python says: " << c["python"];
  }
}

TEST(RegexUnsupported, ConstructsNeedingBacktrackingAreRefused) {
  const std::pair<const char*, const char*> cases[] = {
      {"(a)\\1", "back-references are not supported"},
      {"(?P<x>a)(?P=x)", "back-references are not supported"},
      {"a(?=b)", "lookahead and lookbehind assertions are not supported"},
      {"a(?!b)", "lookahead and lookbehind"},
      {"(?<=a)b", "lookahead and lookbehind"},
      {"(?<!a)b", "lookahead and lookbehind"},
      {"(?(1)a|b)", "conditional groups are not supported"},
      {"(?>a)", "atomic groups are not supported"},
      {"a*+", "possessive quantifiers are not supported"},
      {"\\N{DIGIT ONE}", "\\N{...} escapes are not supported"},
      {"a{1,30000}", "regular expression is too large"},
      {"(a{100}){300}", "regular expression is too large"},
  };
  for (const auto& [pattern, message] : cases) {
    auto re = Regex::Compile(pattern);
    ASSERT_FALSE(re.ok()) << pattern;
    EXPECT_NE(re.message().find(message), std::string::npos) << pattern << ": " << re.message();
  }
  EXPECT_NE(Regex::Compile("a**").message().find("multiple repeat at position 2"),
            std::string::npos);
}

TEST(RegexGlob, FnmatchTranslation) {
  struct Case {
    const char* glob;
    const char* text;
    bool match;
  };
  const Case cases[] = {
      {"*.log", "app.log", true},
      {"*.log", "app.log.1", false},
      {"a?c", "abc", true},
      {"a?c", "ac", false},
      {"[abc]x", "bx", true},
      {"[!abc]x", "bx", false},
      {"[!abc]x", "dx", true},
      {"[a-c]", "b", true},
      {"[c-a]", "b", false},
      {"[]]", "]", true},
      {"[!]]", "a", true},
      {"a[", "a[", true},
      {"*", "", true},
      {"**x", "abx", true},
      {"a.b", "axb", false},
      {"(x)", "(x)", true},
      {"$^", "$^", true},
      {"a\\b", "a\\b", true},
      {"é*", "éé", true},
      {"[é]", "é", true},
      {"A*", "abc", false},
      {"*\n*", "a\nb", true},
      {"[-a]", "-", true},
      {"[a-]", "-", true},
  };
  for (const auto& c : cases) {
    auto re = Regex::Compile(GlobToRegex(c.glob));
    ASSERT_TRUE(re.ok()) << c.glob << ": " << re.message();
    EXPECT_EQ(re->Match(c.text), std::optional<bool>(c.match)) << c.glob << " vs " << c.text;
  }
}

TEST(RegexSafety, PathologicalPatternsRunInLinearTime) {
  const std::string as(50'000, 'a');
  const std::pair<const char*, std::string> cases[] = {
      {"(a|aa)*c", as},
      {"(a*)*b", as},
      {"(a+)+$", as + "b"},
      {"(x+x+)+y", std::string(50'000, 'x')},
      {"^(a|a?)+$", as + "!"},
      {"(.*a){20}", as},
      {".*.*.*=.*", std::string(50'000, 'x')},
  };
  for (const auto& [pattern, text] : cases) {
    auto re = Regex::Compile(pattern);
    ASSERT_TRUE(re.ok()) << pattern;
    auto start = std::chrono::steady_clock::now();
    auto s = re->Search(text);
    std::vector<Regex::Group> groups;
    auto f = re->Find(text, 0, false, &groups);  // the capturing matcher too
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    EXPECT_LT(ms, 3000) << pattern;
    (void)s;
    (void)f;
  }
}

TEST(RegexSafety, StepBudgetGivesUpInsteadOfHanging) {
  // 1 MB of input through a capturing search with many live threads exhausts the budget.
  auto re = Regex::Compile("(a|b|c|d|e|f|g|h)*z");
  ASSERT_TRUE(re.ok());
  std::string text(2'000'000, 'a');
  std::vector<Regex::Group> groups;
  auto start = std::chrono::steady_clock::now();
  auto r = re->Find(text, 0, false, &groups);
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  EXPECT_FALSE(r.has_value());
  EXPECT_LT(ms, 5000);
}

// Found by test/fuzz/regex: on ASCII text Search (the DFA) said no where Python's re.search and
// Find (the Pike VM) say yes, for `$` followed by the final newline.
TEST(RegexParity, DollarThenTheFinalNewline) {
  for (const char* pattern : {"$\n", "$\n$", "a$\n", "(?P<w>y[ay]{1,3y)*$\n$"}) {
    auto re = Regex::Compile(pattern);
    ASSERT_TRUE(re.ok()) << pattern;
    EXPECT_EQ(re->Search("a\n"), std::optional<bool>(true)) << pattern;
    EXPECT_EQ(re->Search("a\nb"), std::optional<bool>(false)) << pattern;
    EXPECT_EQ(re->Find("a\n", 0, false, nullptr), std::optional<bool>(true)) << pattern;
  }
  auto anchored = Regex::Compile("a$\n");
  ASSERT_TRUE(anchored.ok());
  EXPECT_EQ(anchored->Match("a\n"), std::optional<bool>(true));
  EXPECT_EQ(anchored->Match("b\n"), std::optional<bool>(false));
}

// Also found by test/fuzz/regex: \A after an end assertion, on empty text (or "\n" for `$`).
TEST(RegexParity, BeginTextAfterAnEndAssertion) {
  for (const char* pattern : {"\\Z^", "$^", "\\Z\\A", "(?:\\Z|b)^"}) {
    auto re = Regex::Compile(pattern, Flags("i"));
    ASSERT_TRUE(re.ok()) << pattern;
    EXPECT_EQ(re->Search(""), std::optional<bool>(true)) << pattern;
    EXPECT_EQ(re->Match(""), std::optional<bool>(true)) << pattern;
    EXPECT_EQ(re->Search("a"), std::optional<bool>(false)) << pattern;
  }
  auto dollar = Regex::Compile("$\\A");
  ASSERT_TRUE(dollar.ok());
  EXPECT_EQ(dollar->Search("\n"), std::optional<bool>(true));
}

TEST(RegexSafety, NonAsciiTextUsesTheNfaAndAgrees) {
  auto re = Regex::Compile("^h.llo\\s+w\\w+$", Flags("i"));
  ASSERT_TRUE(re.ok());
  EXPECT_EQ(re->Search("HÉLLO   wörld"), std::optional<bool>(true));
  EXPECT_EQ(re->Search("HELLO   world"), std::optional<bool>(true));
  EXPECT_EQ(re->Search("HELLO world!"), std::optional<bool>(false));
}

TEST(RegexThreads, SharedRegexIsSafeToUseConcurrently) {
  auto re = Regex::Compile("^(GET|POST) /api/v[0-9]+/(users|items)/\\d+$");
  ASSERT_TRUE(re.ok());
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        std::string path = std::string(i % 2 ? "GET" : "PUT") + " /api/v" + std::to_string(t) +
                           "/users/" + std::to_string(i);
        if (re->Search(path) != std::optional<bool>(i % 2 == 1)) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace gale::expr

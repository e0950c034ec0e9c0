// YAML -> JSON as StackStorm's PyYAML reads it, with line numbers for error messages.
#include <gtest/gtest.h>

#include "host/common/yaml_json.h"

namespace gale {
namespace {

Json Parse(const std::string& text) {
  auto doc = ParseYaml(text, "t.yaml");
  EXPECT_TRUE(doc.ok()) << doc.message();
  return doc.ok() ? doc->json : Json();
}

TEST(YamlJsonTest, PlainScalarsResolveLikePyYaml) {
  Json j = Parse(
      "a: 1\nb: -2.5\nc: true\nd: no\ne: ~\nf:\ng: hello\nh: '1'\ni: \"true\"\nj: 0x1F\n"
      "k: 1e3\nl: 99999999999999999999999\nm: 1.2.3\n");
  EXPECT_EQ(j["a"], 1);
  EXPECT_TRUE(j["a"].is_number_integer());
  EXPECT_EQ(j["b"], -2.5);
  EXPECT_EQ(j["c"], true);
  EXPECT_EQ(j["d"], false);
  EXPECT_TRUE(j["e"].is_null());
  EXPECT_TRUE(j["f"].is_null());
  EXPECT_EQ(j["g"], "hello");
  EXPECT_EQ(j["h"], "1");     // quoted stays a string
  EXPECT_EQ(j["i"], "true");  // quoted stays a string
  EXPECT_EQ(j["j"], 31);
  EXPECT_EQ(j["k"], 1000.0);
  EXPECT_EQ(j["l"], "99999999999999999999999");  // never silently rounded
  EXPECT_EQ(j["m"], "1.2.3");
}

// The edges of the int/hex/octal/float forms (checked by hand-written scanners, not a regex).
TEST(YamlJsonTest, NumberFormsAndNearMisses) {
  Json j = Parse(
      "a: +7\nb: -0\nc: 007\nd: 0o17\ne: 0o18\nf: 0x\ng: 0xfg\nh: .5\ni: 1.\nj: '.'\n"
      "k: 2.5e-3\nl: 1e\nm: e5\nn: -.5E+2\no: 1.5.e3\np: +\nq: 1_000\n");
  EXPECT_EQ(j["a"], 7);
  EXPECT_EQ(j["b"], 0);
  EXPECT_EQ(j["c"], 7.0);  // a leading zero is not an int; it reads as a float
  EXPECT_EQ(j["d"], 15);
  EXPECT_EQ(j["e"], "0o18");
  EXPECT_EQ(j["f"], "0x");
  EXPECT_EQ(j["g"], "0xfg");
  EXPECT_EQ(j["h"], 0.5);
  EXPECT_EQ(j["i"], 1.0);
  EXPECT_EQ(j["j"], ".");
  EXPECT_EQ(j["k"], 0.0025);
  EXPECT_EQ(j["l"], "1e");
  EXPECT_EQ(j["m"], "e5");
  EXPECT_EQ(j["n"], -50.0);
  EXPECT_EQ(j["o"], "1.5.e3");
  EXPECT_EQ(j["p"], "+");
  EXPECT_EQ(j["q"], "1_000");
}

TEST(YamlJsonTest, ExplicitStringTagAndNesting) {
  Json j = Parse("a: !!str 12\nlist:\n  - x: 1\n  - [2, 3]\n");
  EXPECT_EQ(j["a"], "12");
  EXPECT_EQ(j["list"][0]["x"], 1);
  EXPECT_EQ(j["list"][1], Json::parse("[2, 3]"));
}

TEST(YamlJsonTest, LinesOfValuesAndAncestors) {
  auto doc = ParseYaml("---\nname: x\nparameters:\n  count:\n    type: integer\n", "t.yaml");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->LineOf("/name"), 2);
  EXPECT_EQ(doc->LineOf("/parameters/count/type"), 5);
  EXPECT_EQ(doc->LineOf("/parameters/count/default"), 4);  // nearest ancestor
  EXPECT_EQ(doc->LineOf("/a~1b"), 2);                      // unknown -> root's line
}

TEST(YamlJsonTest, PointerTokensAreEscaped) {
  auto doc = ParseYaml("\"a/b\": 1\n\"c~d\": 2\n", "t.yaml");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->LineOf("/a~1b"), 1);
  EXPECT_EQ(doc->LineOf("/c~0d"), 2);
}

TEST(YamlJsonTest, ErrorsNameFileAndLine) {
  auto bad = ParseYaml("a: 1\nb: [1, 2\n", "x.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.message().rfind("x.yaml:", 0), 0u) << bad.message();
  EXPECT_NE(bad.message().find("malformed YAML"), std::string::npos) << bad.message();

  auto dup = ParseYaml("a: 1\nb: 2\na: 3\n", "x.yaml");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.message(), "x.yaml:3: duplicate key 'a'");

  auto missing = LoadYamlFile("/nonexistent/file.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.message(), "/nonexistent/file.yaml: cannot read: No such file or directory");
}

TEST(YamlJsonTest, EmptyDocumentIsNull) {
  auto doc = ParseYaml("", "e.yaml");
  ASSERT_TRUE(doc.ok());
  EXPECT_TRUE(doc->json.is_null());
}

}  // namespace
}  // namespace gale

namespace gale {
namespace {

// A "billion laughs": nine aliases each naming the previous one nine times. Refused with the
// file and line, long before it expands (it would take tens of GiB).
TEST(YamlJsonTest, AnAliasBombIsRefusedWithTheLine) {
  std::string text = "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  for (int i = 1; i < 10; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + prev;
    for (int j = 0; j < 8; ++j) text += "," + prev;
    text += "]\n";
  }
  auto doc = ParseYaml(text, "packs/p/actions/bomb.yaml");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.message().rfind("packs/p/actions/bomb.yaml:", 0), 0u) << doc.message();
  EXPECT_NE(doc.message().find("(limits.max_document_bytes); are aliases nested?"),
            std::string::npos)
      << doc.message();
}

TEST(YamlJsonTest, DeepNestingIsRefusedWithTheLine) {
  auto deep = ParseYaml("a: " + std::string(200, '[') + std::string(200, ']') + "\n", "d.yaml");
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.message().find("d.yaml:1: nested deeper than 128 levels (limits.max_depth)"),
            std::string::npos)
      << deep.message();
  // Deeper than yaml-cpp's own guard: its error, not a stack overflow.
  auto deeper = ParseYaml(std::string(100'000, '[') + std::string(100'000, ']'), "e.yaml");
  ASSERT_FALSE(deeper.ok());
  EXPECT_EQ(deeper.message().rfind("e.yaml:", 0), 0u) << deeper.message();
  // Within the limits, aliases still work.
  auto fine = ParseYaml("x: &x {a: 1}\ny: *x\n", "f.yaml");
  ASSERT_TRUE(fine.ok()) << fine.message();
  EXPECT_EQ(fine->json["y"]["a"], 1);
}

}  // namespace
}  // namespace gale

// Violation paths and messages, Format(), compile errors, draft selection, $ref documents and
// robustness against hostile input.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "host/schema/validator.h"

namespace gale::schema {
namespace {

Validator MustCompile(const Json& schema, const DocumentMap& documents = {}) {
  auto v = Validator::Compile(schema, documents);
  EXPECT_TRUE(v.ok()) << v.message();
  if (!v.ok()) return Validator::Compile(Json::object()).value();
  return std::move(v).value();
}

std::vector<std::string> Formatted(const std::vector<Violation>& violations) {
  std::vector<std::string> out;
  for (const Violation& v : violations) out.push_back(Format(v));
  return out;
}

std::string CompileError(const Json& schema) {
  auto v = Validator::Compile(schema);
  EXPECT_FALSE(v.ok()) << "compiled: " << schema.dump();
  return v.ok() ? std::string() : v.message();
}

TEST(Violations, NestedPropertyPathAndTypeMessage) {
  Validator v = MustCompile(Json::parse(R"({
    "type": "object",
    "properties": {"parameters": {"type": "object",
                                  "properties": {"cmd": {"type": "string"}}}}})"));
  auto found = v.Validate(Json::parse(R"({"parameters": {"cmd": 5}})"));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].path, "/parameters/cmd");
  EXPECT_EQ(found[0].message, "expected type string, got integer");
  EXPECT_EQ(Format(found[0]), "/parameters/cmd: expected type string, got integer");
  EXPECT_FALSE(v.IsValid(Json::parse(R"({"parameters": {"cmd": 5}})")));
  EXPECT_TRUE(v.IsValid(Json::parse(R"({"parameters": {"cmd": "ls"}})")));
}

TEST(Violations, ArrayIndexPathsAndAllFailuresReported) {
  Validator v = MustCompile(Json::parse(R"({
    "properties": {"tags": {"type": "array", "maxItems": 2,
                            "items": {"type": "string", "minLength": 2}}}})"));
  auto found = Formatted(v.Validate(Json::parse(R"({"tags": ["ok", "x", 3]})")));
  EXPECT_EQ(found, (std::vector<std::string>{
                       "/tags: array has 3 items, expected at most 2",
                       "/tags/1: string is shorter than 2 characters (got 1)",
                       "/tags/2: expected type string, got integer",
                   }));
}

TEST(Violations, RootRequiredAdditionalAndEscapedNames) {
  Validator v = MustCompile(Json::parse(R"({
    "type": "object", "required": ["cmd"], "additionalProperties": false,
    "properties": {"a/b~c": {"type": "integer"}, "cmd": {}}})"));
  auto found = Formatted(v.Validate(Json::parse(R"({"a/b~c": "x", "extra": 1})")));
  EXPECT_EQ(found, (std::vector<std::string>{
                       "/: missing required property \"cmd\"",
                       "/a~1b~0c: expected type integer, got string",
                       "/extra: property is not allowed (not among \"properties\")",
                   }));
}

TEST(Violations, MessagesForCommonKeywords) {
  auto first = [](const char* schema, const char* instance) {
    auto found = MustCompile(Json::parse(schema)).Validate(Json::parse(instance));
    return found.empty() ? std::string("valid") : Format(found[0]);
  };
  EXPECT_EQ(first(R"({"enum": ["a", "b"]})", R"("c")"), R"(/: value "c" is not one of ["a","b"])");
  EXPECT_EQ(first(R"({"type": ["string", "null"]})", "1.5"),
            "/: expected type string or null, got number");
  EXPECT_EQ(first(R"({"minimum": 5})", "3"), "/: value 3 is less than the minimum 5");
  EXPECT_EQ(first(R"({"exclusiveMaximum": 5})", "5"), "/: value 5 must be less than 5");
  EXPECT_EQ(first(R"({"multipleOf": 2})", "7"), "/: value 7 is not a multiple of 2");
  EXPECT_EQ(first(R"({"pattern": "^a+$"})", R"("b")"),
            R"(/: string does not match pattern "^a+$")");
  EXPECT_EQ(first(R"({"uniqueItems": true})", "[1, 2, 1.0]"),
            "/: items 0 and 2 are equal; items must be unique");
  EXPECT_EQ(first(R"({"oneOf": [{"type": "integer"}, {"minimum": 0}]})", "1"),
            "/: value matches more than one schema in \"oneOf\"");
  EXPECT_EQ(first(R"({"dependencies": {"a": ["b"]}})", R"({"a": 1})"),
            R"(/: property "a" requires property "b")");
  EXPECT_EQ(first(R"({"maxProperties": 1})", R"({"a": 1, "b": 2})"),
            "/: object has 2 properties, expected at most 1");
  EXPECT_EQ(first("false", "1"), "/: no value is allowed here (schema is false)");
}

TEST(Violations, ProblemsInsideAllOfAndRefKeepInstancePaths) {
  Validator v = MustCompile(Json::parse(R"({
    "definitions": {"port": {"type": "integer", "maximum": 65535}},
    "properties": {"server": {"allOf": [{"properties": {"port": {"$ref": "#/definitions/port"}}}]}}
  })"));
  EXPECT_EQ(
      Formatted(v.Validate(Json::parse(R"({"server": {"port": 70000}})"))),
      (std::vector<std::string>{"/server/port: value 70000 is greater than the maximum 65535"}));
}

TEST(Semantics, IntegersNumbersAndNoCoercion) {
  Validator integer = MustCompile(Json::parse(R"({"type": "integer"})"));
  EXPECT_TRUE(integer.IsValid(Json::parse("1")));
  EXPECT_TRUE(integer.IsValid(Json::parse("1.0")));
  EXPECT_FALSE(integer.IsValid(Json::parse("1.5")));
  EXPECT_FALSE(integer.IsValid(Json::parse(R"("1")")));
  Validator number = MustCompile(Json::parse(R"({"type": "number"})"));
  EXPECT_TRUE(number.IsValid(Json::parse("1")));
  EXPECT_TRUE(number.IsValid(Json::parse("1.5")));
  EXPECT_FALSE(number.IsValid(Json::parse(R"("1.5")")));
  EXPECT_FALSE(number.IsValid(Json::parse("true")));
  Validator string = MustCompile(Json::parse(R"({"type": "string"})"));
  EXPECT_FALSE(string.IsValid(Json::parse("1")));
}

TEST(Semantics, EqualityAcrossIntegerAndFloatOnly) {
  Validator e = MustCompile(Json::parse(R"({"enum": [1, [0], {"a": false}]})"));
  EXPECT_TRUE(e.IsValid(Json::parse("1.0")));
  EXPECT_TRUE(e.IsValid(Json::parse("[0.0]")));
  EXPECT_FALSE(e.IsValid(Json::parse("true")));
  EXPECT_FALSE(e.IsValid(Json::parse("[false]")));
  EXPECT_FALSE(e.IsValid(Json::parse(R"({"a": 0})")));
}

TEST(Semantics, LengthCountsCodePoints) {
  Validator v = MustCompile(Json::parse(R"({"minLength": 5, "maxLength": 5})"));
  EXPECT_TRUE(v.IsValid(Json("h\u00e9llo")));      // 6 bytes, 5 code points
  EXPECT_TRUE(v.IsValid(Json("\U0001F600abcd")));  // 4-byte emoji counts once
  EXPECT_FALSE(v.IsValid(Json("abcd")));
}

TEST(Semantics, PatternSearchIsNotAnchored) {
  Validator v = MustCompile(Json::parse(R"({"pattern": "b+"})"));
  EXPECT_TRUE(v.IsValid(Json("abbc")));
  EXPECT_FALSE(v.IsValid(Json("ac")));
  EXPECT_TRUE(v.IsValid(Json(5)));  // pattern only constrains strings
}

TEST(Drafts, SchemaKeywordSelectsExclusiveBoundForm) {
  Validator d4 = MustCompile(Json::parse(R"({
    "$schema": "http://json-schema.org/draft-04/schema#", "minimum": 5, "exclusiveMinimum": true})"));
  EXPECT_FALSE(d4.IsValid(Json(5)));
  EXPECT_TRUE(d4.IsValid(Json(6)));
  Validator d7 = MustCompile(Json::parse(R"({
    "$schema": "http://json-schema.org/draft-07/schema#", "exclusiveMinimum": 5})"));
  EXPECT_FALSE(d7.IsValid(Json(5)));
  EXPECT_TRUE(d7.IsValid(Json(5.5)));
  // Without $schema both forms are accepted, told apart by type.
  EXPECT_FALSE(
      MustCompile(Json::parse(R"({"maximum": 5, "exclusiveMaximum": true})")).IsValid(Json(5)));
  EXPECT_FALSE(MustCompile(Json::parse(R"({"exclusiveMaximum": 5})")).IsValid(Json(5)));
  EXPECT_EQ(CompileError(Json::parse(R"({
    "$schema": "http://json-schema.org/draft-07/schema#", "exclusiveMinimum": true})")),
            "/exclusiveMinimum: must be a number (draft-07)");
  EXPECT_EQ(CompileError(Json::parse(R"({
    "$schema": "http://json-schema.org/draft-04/schema#", "exclusiveMinimum": 3})")),
            "/exclusiveMinimum: must be a boolean (draft-04)");
}

TEST(CompileErrors, CarrySchemaPath) {
  EXPECT_EQ(CompileError(Json::parse(R"({"properties": {"name": {"pattern": "(ab"}}})"))
                .rfind("/properties/name/pattern: invalid regular expression", 0),
            0u);
  EXPECT_EQ(CompileError(Json::parse(R"({"type": 5})")),
            "/type: must be a type name or a non-empty array of type names");
  EXPECT_EQ(CompileError(Json::parse(R"({"items": {"type": ["string", "text"]}})")),
            "/items/type/1: unknown type \"text\"");
  EXPECT_EQ(CompileError(Json::parse(R"({"patternProperties": {"[": {}}})"))
                .rfind("/patternProperties/[: invalid regular expression", 0),
            0u);
  EXPECT_EQ(CompileError(Json::parse(R"({"pattern": "(a)\\1"})")),
            "/pattern: invalid regular expression \"(a)\\1\": back-references are not supported "
            "at position 5");
  EXPECT_EQ(CompileError(Json::parse(R"({"properties": {"x": 5}})")),
            "/properties/x: a schema must be an object or a boolean, got integer");
  EXPECT_EQ(CompileError(Json::parse(R"({"minLength": -1})")),
            "/minLength: must be a non-negative integer");
  EXPECT_EQ(CompileError(Json::parse(R"({"multipleOf": 0})")),
            "/multipleOf: must be greater than 0");
  EXPECT_EQ(CompileError(Json::parse(R"({"anyOf": []})")), "/anyOf: must be a non-empty array");
  EXPECT_EQ(CompileError(Json::parse(R"({"properties": {"x": {"required": true}}})"))
                .rfind("/properties/x/required: must be an array of property names", 0),
            0u);
  EXPECT_EQ(CompileError(Json::parse(R"({"properties": {"x": {"$ref": "#/definitions/nope"}}})")),
            "/properties/x/$ref: cannot resolve \"#/definitions/nope\": it points at nothing");
  EXPECT_NE(CompileError(Json::parse(R"({"$ref": "http://example.com/s.json"})"))
                .find("unknown document"),
            std::string::npos);
  EXPECT_NE(CompileError(Json::parse(R"({"$ref": "#"})")).find("$ref loop"), std::string::npos);
  EXPECT_NE(CompileError(
                Json::parse(R"({"definitions": {"a": {"allOf": [{"$ref": "#/definitions/a"}]}}})"))
                .find("$ref loop"),
            std::string::npos);
  EXPECT_EQ(CompileError(Json("text")), "/: a schema must be an object or a boolean, got string");
}

TEST(References, RecursiveSchemaAndUnknownKeywordsIgnored) {
  Validator tree = MustCompile(Json::parse(R"({
    "x-gale-note": "unknown keywords are ignored",
    "type": "object",
    "properties": {"name": {"type": "string"},
                   "children": {"type": "array", "items": {"$ref": "#"}}}})"));
  EXPECT_TRUE(tree.IsValid(Json::parse(R"({"name": "a", "children": [{"name": "b"}]})")));
  EXPECT_EQ(
      Formatted(tree.Validate(Json::parse(R"({"children": [{"children": [{"name": 1}]}]})"))),
      (std::vector<std::string>{"/children/0/children/0/name: expected type string, got integer"}));
}

TEST(References, SuppliedDocumentsAndBuiltInMetaSchemas) {
  DocumentMap docs = {{"http://gale.dev/types.json",
                       Json::parse(R"({"definitions": {"port": {"type": "integer"}}})")}};
  Validator v = MustCompile(
      Json::parse(
          R"({"properties": {"p": {"$ref": "http://gale.dev/types.json#/definitions/port"}}})"),
      docs);
  EXPECT_TRUE(v.IsValid(Json::parse(R"({"p": 80})")));
  EXPECT_FALSE(v.IsValid(Json::parse(R"({"p": "80"})")));

  Validator meta =
      MustCompile(Json::parse(R"({"$ref": "http://json-schema.org/draft-07/schema#"})"));
  EXPECT_TRUE(meta.IsValid(Json::parse(R"({"type": "string", "minLength": 1})")));
  EXPECT_FALSE(meta.IsValid(Json::parse(R"({"type": "text"})")));
  EXPECT_FALSE(meta.IsValid(Json::parse(R"({"minLength": -1})")));
}

TEST(Robustness, LongStringsAndDeepNestingDoNotCrash) {
  Validator pattern = MustCompile(Json::parse(R"({"pattern": "^(a|b)*$"})"));
  EXPECT_TRUE(pattern.IsValid(Json(std::string(300000, 'a'))));
  EXPECT_FALSE(pattern.IsValid(Json(std::string(300000, 'a') + "c")));

  Validator nested = MustCompile(Json::parse(R"({"type": "array", "items": {"$ref": "#"}})"));
  Json deep = Json::array();
  for (int i = 0; i < 100000; ++i) {
    Json outer = Json::array();
    outer.push_back(std::move(deep));
    deep = std::move(outer);
  }
  EXPECT_FALSE(nested.IsValid(deep));
  auto found = nested.Validate(deep);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].message, "value is nested too deeply to validate");
}

// Patterns run on the linear-time engine: with std::regex each of these took hours on 1 MiB.
TEST(Robustness, HostilePatternsOverOneMebibyteComplete) {
  const std::size_t kMiB = std::size_t{1} << 20;
  Validator nested = MustCompile(Json::parse(R"({"pattern": "^(a+)+$"})"));
  EXPECT_TRUE(nested.IsValid(Json(std::string(kMiB, 'a'))));
  EXPECT_FALSE(nested.IsValid(Json(std::string(kMiB - 1, 'a') + "!")));

  Validator at = MustCompile(Json::parse(R"({"pattern": "[a-z]+@"})"));
  EXPECT_FALSE(at.IsValid(Json(std::string(kMiB, 'x'))));
  EXPECT_TRUE(at.IsValid(Json(std::string(kMiB - 1, 'x') + "@")));

  Validator names = MustCompile(Json::parse(
      R"({"patternProperties": {"^(a|aa)*$": {"type": "integer"}}, "additionalProperties": false})"));
  Json object = Json::object();
  object[std::string(kMiB, 'a')] = 1;
  EXPECT_TRUE(names.IsValid(object));
  object[std::string(kMiB - 1, 'a') + "b"] = 1;
  EXPECT_FALSE(names.IsValid(object));
}

TEST(Semantics, PatternsFollowEcma262WhereItDiffersFromPython) {
  // $ is the end of the text only: a trailing newline does not slip through.
  Validator end = MustCompile(Json::parse(R"({"pattern": "^[a-z]+$"})"));
  EXPECT_TRUE(end.IsValid(Json("abc")));
  EXPECT_FALSE(end.IsValid(Json("abc\n")));
  // \d and \w are ASCII.
  Validator digits = MustCompile(Json::parse(R"({"pattern": "^\\d+$"})"));
  EXPECT_TRUE(digits.IsValid(Json("0123")));
  EXPECT_FALSE(digits.IsValid(Json("\u0661\u0662")));  // ARABIC-INDIC digits
  Validator word = MustCompile(Json::parse(R"({"pattern": "^[\\w-]+$"})"));
  EXPECT_TRUE(word.IsValid(Json("a_b-9")));
  EXPECT_FALSE(word.IsValid(Json("\u00e9")));
  // A literal \$ and a $ inside a class stay literal; (?<name>...) is a named group.
  Validator dollar = MustCompile(Json::parse(R"({"pattern": "^\\$[$]x$"})"));
  EXPECT_TRUE(dollar.IsValid(Json("$$x")));
  Validator named = MustCompile(Json::parse(R"({"pattern": "^(?<word>ab)+$"})"));
  EXPECT_TRUE(named.IsValid(Json("abab")));
  EXPECT_FALSE(named.IsValid(Json("aba")));
}

TEST(CompileErrors, UnsupportedPatternsAreSchemaErrors) {
  // Positions are dropped when the pattern was rewritten (they would count the rewrite).
  EXPECT_EQ(CompileError(Json::parse(R"({"pattern": "^\\d+(?=x)$"})")),
            "/pattern: invalid regular expression \"^\\d+(?=x)$\": lookahead and lookbehind "
            "assertions are not supported");
  EXPECT_EQ(CompileError(Json::parse(R"({"properties": {"a": {"pattern": "(?=x)x"}}})"))
                .rfind("/properties/a/pattern: invalid regular expression \"(?=x)x\": ", 0),
            0u);
  EXPECT_EQ(CompileError(Json::parse(R"({"patternProperties": {"(?<!x)y": {}}})"))
                .rfind("/patternProperties/(?<!x)y: invalid regular expression \"(?<!x)y\": ", 0),
            0u);
  EXPECT_EQ(CompileError(Json::parse(R"({"pattern": "a{1,100000}"})"))
                .rfind("/pattern: invalid regular expression \"a{1,100000}\": ", 0),
            0u);
}

TEST(Robustness, CopiesShareCompiledStateAcrossThreads) {
  auto compiled = Validator::Compile(Json::parse(R"({"properties": {"n": {"type": "integer"}}})"));
  ASSERT_TRUE(compiled.ok());
  std::vector<Validator> copies(4, compiled.value());
  std::vector<std::thread> threads;
  std::vector<int> valid(copies.size(), 0);
  for (std::size_t t = 0; t < copies.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) valid[t] += copies[t].IsValid(Json::parse(R"({"n": 1})"));
    });
  }
  for (auto& th : threads) th.join();
  for (int count : valid) EXPECT_EQ(count, 1000);
}

TEST(Performance, SmallPayloadValidatesInMicroseconds) {
  Validator v = MustCompile(Json::parse(R"({
    "type": "object", "required": ["host", "status"], "additionalProperties": false,
    "properties": {
      "host": {"type": "string", "minLength": 1, "pattern": "^[a-z0-9.-]+$"},
      "status": {"enum": ["up", "down"]},
      "latency_ms": {"type": "number", "minimum": 0},
      "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true}}})"));
  const Json payload = Json::parse(
      R"({"host": "web-1.example", "status": "up", "latency_ms": 12.5, "tags": ["a", "b"]})");
  constexpr int kRounds = 20000;
  auto start = std::chrono::steady_clock::now();
  int valid = 0;
  for (int i = 0; i < kRounds; ++i) valid += v.IsValid(payload);
  auto elapsed = std::chrono::steady_clock::now() - start;
  double micros =
      std::chrono::duration<double, std::micro>(elapsed).count() / static_cast<double>(kRounds);
  std::cout << "IsValid on a small payload: " << micros << " us\n";
  EXPECT_EQ(valid, kRounds);
  EXPECT_LT(micros, 200.0);  // generous: Debug builds and busy CI machines
}

}  // namespace
}  // namespace gale::schema

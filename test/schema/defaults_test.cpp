// ApplyDefaults and CheckDefaults.
#include <gtest/gtest.h>

#include "host/schema/validator.h"

namespace gale::schema {
namespace {

Validator CompileOrFail(const Json& schema) {
  auto v = Validator::Compile(schema);
  EXPECT_TRUE(v.ok()) << v.message();
  return v.ok() ? std::move(v).value() : Validator::Compile(true).value();
}

TEST(ApplyDefaults, FillsAbsentPropertiesRecursively) {
  Validator v = CompileOrFail(Json::parse(R"({
    "definitions": {"retries": {"type": "integer", "default": 3}},
    "properties": {
      "timeout": {"type": "integer", "default": 60},
      "cmd": {"type": "string"},
      "retries": {"$ref": "#/definitions/retries"},
      "env": {"type": "object", "default": {},
              "properties": {"PATH": {"default": "/usr/bin"}, "HOME": {"default": "/root"}}},
      "hosts": {"type": "array",
                "items": {"properties": {"port": {"default": 22}}}}}})"));
  Json out = v.ApplyDefaults(Json::parse(R"({
    "cmd": "ls", "env": {"HOME": "/home/gale"}, "hosts": [{"name": "a"}, {"port": 2222}]})"));
  EXPECT_EQ(out, Json::parse(R"({
    "cmd": "ls", "timeout": 60, "retries": 3,
    "env": {"HOME": "/home/gale", "PATH": "/usr/bin"},
    "hosts": [{"name": "a", "port": 22}, {"port": 2222}]})"));

  // An absent object parameter gets its default, then the defaults inside it.
  EXPECT_EQ(v.ApplyDefaults(Json::object())["env"],
            Json::parse(R"({"PATH": "/usr/bin", "HOME": "/root"})"));
}

TEST(ApplyDefaults, KeepsPresentValuesIncludingNullAndLeavesNonObjectsAlone) {
  Validator v = CompileOrFail(Json::parse(R"({"properties": {"a": {"default": 1}}})"));
  EXPECT_EQ(v.ApplyDefaults(Json::parse(R"({"a": null})")), Json::parse(R"({"a": null})"));
  EXPECT_EQ(v.ApplyDefaults(Json(5)), Json(5));
  EXPECT_EQ(v.ApplyDefaults(Json::object()), Json::parse(R"({"a": 1})"));
}

TEST(ApplyDefaults, FollowsAllOf) {
  Validator v = CompileOrFail(Json::parse(R"({
    "allOf": [{"properties": {"a": {"default": "x"}}}],
    "properties": {"b": {"allOf": [{"type": "integer"}, {"default": 0}]}}})"));
  EXPECT_EQ(v.ApplyDefaults(Json::object()), Json::parse(R"({"a": "x", "b": 0})"));
}

TEST(CheckDefaults, ReportsDefaultsViolatingTheirOwnSchema) {
  auto found = CheckDefaults(Json::parse(R"({
    "type": "object",
    "properties": {
      "count": {"type": "integer", "default": "ten"},
      "mode": {"enum": ["fast", "safe"], "default": "slow"},
      "ok": {"type": "string", "default": "fine"},
      "opts": {"type": "object", "properties": {"depth": {"type": "integer"}},
               "default": {"depth": "deep"}}}})"));
  std::vector<std::string> formatted;
  for (const Violation& v : found) formatted.push_back(Format(v));
  EXPECT_EQ(formatted,
            (std::vector<std::string>{
                "/properties/count/default: expected type integer, got string",
                "/properties/mode/default: value \"slow\" is not one of [\"fast\",\"safe\"]",
                "/properties/opts/default/depth: expected type integer, got string",
            }));
  EXPECT_TRUE(
      CheckDefaults(Json::parse(R"({"properties": {"n": {"minimum": 1, "default": 1}}})")).empty());
}

TEST(CheckDefaults, ReportsUncompilableSchemaAsOneViolation) {
  auto found = CheckDefaults(Json::parse(R"({"type": "nope"})"));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].path, "");
  EXPECT_EQ(found[0].message, "/type: unknown type \"nope\"");
}

}  // namespace
}  // namespace gale::schema

// ParametersToSchema: StackStorm parameter maps -> JSON Schema.
#include <gtest/gtest.h>

#include "host/schema/parameters.h"
#include "host/schema/validator.h"

namespace gale::schema {
namespace {

TEST(ParametersToSchema, BuildsRequiredListAndStripsStackStormKeys) {
  Json params = Json::parse(R"({
    "cmd": {"type": "string", "description": "Command", "required": true, "position": 0},
    "timeout": {"type": "integer", "default": 60, "required": false},
    "password": {"type": "string", "secret": true, "immutable": true, "required": true},
    "mode": {"type": "string", "enum": ["a", "b"]}})");
  Json schema = ParametersToSchema(params);
  EXPECT_EQ(schema, Json::parse(R"({
    "type": "object",
    "properties": {
      "cmd": {"type": "string", "description": "Command"},
      "timeout": {"type": "integer", "default": 60},
      "password": {"type": "string"},
      "mode": {"type": "string", "enum": ["a", "b"]}},
    "required": ["cmd", "password"],
    "additionalProperties": true})"));

  EXPECT_EQ(ParametersToSchema(params, false)["additionalProperties"], false);

  auto v = Validator::Compile(ParametersToSchema(params, false));
  ASSERT_TRUE(v.ok()) << v.message();
  auto found = v->Validate(Json::parse(R"({"cmd": "ls", "extra": 1})"));
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(Format(found[0]), "/: missing required property \"password\"");
  EXPECT_EQ(found[1].path, "/extra");
  EXPECT_EQ(v->ApplyDefaults(Json::parse(R"({"cmd": "ls"})"))["timeout"], 60);
}

TEST(ParametersToSchema, NestedBooleanRequiredBecomesArrayAndArraysAreKept) {
  Json params = Json::parse(R"({
    "target": {"type": "object", "required": true,
               "properties": {"host": {"type": "string", "required": true},
                              "port": {"type": "integer"}}},
    "opts": {"type": "object", "required": ["a"], "properties": {"a": {}}}})");
  Json schema = ParametersToSchema(params);
  EXPECT_EQ(schema["required"], Json::parse(R"(["target"])"));
  EXPECT_EQ(schema["properties"]["target"]["required"], Json::parse(R"(["host"])"));
  EXPECT_FALSE(schema["properties"]["target"]["properties"]["host"].contains("required"));
  EXPECT_EQ(schema["properties"]["opts"]["required"], Json::parse(R"(["a"])"));
  EXPECT_TRUE(Validator::Compile(schema).ok());
}

TEST(ParametersToSchema, EmptyOrMissingParameters) {
  Json expected = Json::parse(
      R"({"type": "object", "properties": {}, "required": [], "additionalProperties": true})");
  EXPECT_EQ(ParametersToSchema(Json::object()), expected);
  EXPECT_EQ(ParametersToSchema(Json()), expected);
}

TEST(ParametersToSchema, CheckDefaultsOnConvertedSchema) {
  Json schema = ParametersToSchema(Json::parse(R"({
    "count": {"type": "integer", "default": "3", "required": true}})"));
  auto found = CheckDefaults(schema);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].path, "/properties/count/default");
}

}  // namespace
}  // namespace gale::schema

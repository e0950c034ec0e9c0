// Untrusted documents within limits (issue 17): refused by name before any parser recurses.
#include "host/common/input_limits.h"

#include <gtest/gtest.h>

#include <string>

namespace gale {
namespace {

std::string Nested(size_t depth, char open = '[', char close = ']') {
  return std::string(depth, open) + std::string(depth, close);
}

TEST(InputLimitsTest, DeepDocumentsAreRefusedWithoutRecursing) {
  // 200,000 levels: what crashed a node by overflowing the stack when copied or printed.
  auto deep = ParseUntrustedJson(Nested(200'000), "request body");
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.message(), "request body: nested deeper than 128 levels (limits.max_depth)");
  EXPECT_FALSE(ParseUntrustedJson(Nested(129, '[', ']'), "x").ok());
  EXPECT_TRUE(ParseUntrustedJson(Nested(128), "x").ok());
  // Objects count too, and brackets inside strings do not.
  std::string objects;
  for (int i = 0; i < 129; ++i) objects += "{\"a\":";
  objects += "1" + std::string(129, '}');
  EXPECT_FALSE(ParseUntrustedJson(objects, "x").ok());
  EXPECT_TRUE(ParseUntrustedJson("{\"s\": \"" + std::string(1000, '[') + "\\\"[\"}", "x").ok());
}

TEST(InputLimitsTest, SizeAndStringLimitsAreNamed) {
  InputLimits small;
  small.max_document_bytes = 100;
  small.max_string_bytes = 10;
  auto big = ParseUntrustedJson("[" + std::string(200, ' ') + "]", "body", small);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.message().find("(limits.max_document_bytes)"), std::string::npos);
  auto long_string = ParseUntrustedJson("[\"" + std::string(11, 'a') + "\"]", "body", small);
  ASSERT_FALSE(long_string.ok());
  EXPECT_NE(long_string.message().find("(limits.max_string_bytes)"), std::string::npos);
  EXPECT_TRUE(ParseUntrustedJson("[\"" + std::string(10, 'a') + "\"]", "body", small).ok());
  auto not_json = ParseUntrustedJson("[1,", "body");
  ASSERT_FALSE(not_json.ok());
  EXPECT_EQ(not_json.message(), "body: not valid JSON");
}

TEST(InputLimitsTest, DepthOfABuiltDocumentIsMeasuredIteratively) {
  Json doc = Json::array();
  Json* at = &doc;
  for (int i = 0; i < 100'000; ++i) {
    at->push_back(Json::array());
    at = &at->back();
  }
  EXPECT_FALSE(JsonDepthWithin(doc, 128));
  EXPECT_TRUE(JsonDepthWithin(Json::parse("[[1],{\"a\":[2]}]"), 3));
  EXPECT_FALSE(JsonDepthWithin(Json::parse("[[1],{\"a\":[2]}]"), 2));
  // nlohmann's destructor is iterative; release the deep one without recursing anyway.
  while (!doc.empty()) {
    Json inner = std::move(doc.back());
    doc = std::move(inner);
  }
}

}  // namespace
}  // namespace gale

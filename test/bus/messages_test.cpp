// Typed bus messages (host/bus/messages.h): an execution event's workflow fields survive the round
// trip, and an event without them (an older node's, or an execution that is no workflow's task)
// decodes with none.
#include <gtest/gtest.h>

#include "host/bus/messages.h"

namespace gale::bus {
namespace {

TEST(ExecutionEventMessageTest, ParentAndTaskRoundTrip) {
  ExecutionEventMessage m;
  m.id = "task-1";
  m.status = "succeeded";
  m.at = 1700000000123;
  m.node = "node-1";
  m.result = Json{{"stdout", "x"}};
  m.parent = "wf-1";
  m.task = "first";
  const std::string text = Encode(m);
  EXPECT_EQ(Json::parse(text)["parent"], "wf-1") << text;
  auto back = DecodeExecutionEvent(text);
  ASSERT_TRUE(back.ok()) << back.message();
  EXPECT_EQ(back->id, "task-1");
  EXPECT_EQ(back->status, "succeeded");
  EXPECT_EQ(back->parent, "wf-1");
  EXPECT_EQ(back->task, "first");
  EXPECT_EQ(back->result, m.result);
}

TEST(ExecutionEventMessageTest, AbsentParentMeansNone) {
  ExecutionEventMessage m;
  m.id = "e-1";
  m.status = "paused";
  m.node = "n";
  const std::string text = Encode(m);
  EXPECT_FALSE(Json::parse(text).contains("parent")) << text;
  EXPECT_FALSE(Json::parse(text).contains("task")) << text;
  // An older node's event: no workflow fields at all.
  auto old = DecodeExecutionEvent(R"({"id": "e-2", "status": "failed", "at": 1, "node": "n"})");
  ASSERT_TRUE(old.ok()) << old.message();
  EXPECT_TRUE(old->parent.empty());
  EXPECT_TRUE(old->task.empty());
  // A parent of the wrong type is not an event.
  auto bad = DecodeExecutionEvent(
      R"({"id": "e-3", "status": "failed", "at": 1, "node": "n", "parent": 7})");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("parent"), std::string::npos) << bad.message();
}

}  // namespace
}  // namespace gale::bus

// The workflow state document as its readers see it (host/store/workflow_state.h): an orquesta
// with-items task is stored as one `tasks` entry, listed one per item by LoadState.
#include "host/store/workflow_state.h"

#include "test/store/store_fixture.h"

namespace gale::store::testing {
namespace {

using WorkflowStateTest = StoreTest;

TEST_P(WorkflowStateTest, WithItemsEntryIsListedOnePerItemInPlace) {
  const std::string wf = "wf-" + RandomSuffix();
  const Json stored = {
      {"runner", "orquesta"},
      {"tasks",
       {{{"name", "make"}, {"execution_id", "id-make"}},
        {{"name", "each"}, {"occurrence", 2}, {"items", 3}},
        {{"name", "after"}, {"execution_id", "id-after"}},
        // items 0-1 listed one each by a node before this format, 2-3 after it
        {{"name", "old"}, {"execution_id", OrquestaExecutionId(wf, 1, "old", 0, 0)}},
        {{"name", "old"}, {"execution_id", OrquestaExecutionId(wf, 1, "old", 1, 0)}},
        {{"name", "old"}, {"occurrence", 1}, {"first", 2}, {"items", 2}}}}};
  ASSERT_TRUE(SwapState(store(), wf, stored, std::nullopt).ok());

  auto loaded = LoadState(store(), wf);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  ASSERT_TRUE(loaded->has_value());
  const Json expected = {
      {{"name", "make"}, {"execution_id", "id-make"}},
      {{"name", "each"}, {"execution_id", OrquestaExecutionId(wf, 2, "each", 0, 0)}},
      {{"name", "each"}, {"execution_id", OrquestaExecutionId(wf, 2, "each", 1, 0)}},
      {{"name", "each"}, {"execution_id", OrquestaExecutionId(wf, 2, "each", 2, 0)}},
      {{"name", "after"}, {"execution_id", "id-after"}},
      {{"name", "old"}, {"execution_id", OrquestaExecutionId(wf, 1, "old", 0, 0)}},
      {{"name", "old"}, {"execution_id", OrquestaExecutionId(wf, 1, "old", 1, 0)}},
      {{"name", "old"}, {"execution_id", OrquestaExecutionId(wf, 1, "old", 2, 0)}},
      {{"name", "old"}, {"execution_id", OrquestaExecutionId(wf, 1, "old", 3, 0)}}};
  EXPECT_EQ((**loaded)["tasks"], expected);
  // Distinct per item, workflow and occurrence.
  EXPECT_NE(OrquestaExecutionId(wf, 2, "each", 0, 0), OrquestaExecutionId(wf, 1, "each", 0, 0));
  EXPECT_NE(OrquestaExecutionId(wf, 2, "each", 0, 0), OrquestaExecutionId("x", 2, "each", 0, 0));

  // The engine's own read (compare-and-set) sees the document as stored.
  auto raw = LoadStoredState(store(), wf);
  ASSERT_TRUE(raw.ok()) << raw.message();
  ASSERT_TRUE(raw->has_value());
  EXPECT_EQ((**raw).state, stored);
}

INSTANTIATE_TEST_SUITE_P(Backends, WorkflowStateTest,
                         ::testing::Values(Backend::kSqlite, Backend::kMongo), BackendName);

}  // namespace
}  // namespace gale::store::testing

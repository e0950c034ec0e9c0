// A workflow's durable state document (host/workflow): one JSON record per workflow execution, in
// the store's `gale` key scope under "workflow/<execution id>", so both backends keep it and any
// node can load it. Written after each step's task is requested (tasks have derived ids, so a step
// repeated after a crash finds its task already there).
//
// The document is general, for every workflow runner:
//   runner     "action-chain" or "orquesta" (whose further fields are orquesta_engine.cpp's:
//              status, occurrences, instances, running, joins, errors, outbox, result,
//              pause, held)
//   action     the workflow action's ref
//   step       how many tasks were requested (a task's id derives from it)
//   current    the tasks in flight: [{task, execution_id}] (one for a chain)
//   context    the workflow's variables (parameters, vars, published values, task results)
//   published  what was published
//   tasks      every task requested, in order: {name, execution_id, status, requested_at,
//              finished_at}. An orquesta with-items task's items are one entry, not one each (a
//              step rewrites the document, which must not grow per item): {name, occurrence,
//              first: the first item's index (0, but for a state written before entries were
//              per task), items: how many were requested}, item i being
//              OrquestaExecutionId(workflow, occurrence, name, i, 0). ListedTasks lists them one
//              per item, {name, execution_id}.
//   pending    the tasks to request when the workflow resumes: [{task}] (recorded when a pausing
//              workflow's task in flight ends; empty or absent otherwise)
//
// The document is deleted once the workflow's final status is stored (its result keeps the
// tasks): an event delivered again after that finds the workflow final and changes nothing.
#pragma once

#include <optional>
#include <string>

#include "host/common/json.h"
#include "host/common/result.h"
#include "host/store/store.h"

namespace gale::store {

std::string StateKey(const std::string& workflow_id);
// The document as its readers see it: `tasks` as ListedTasks gives it.
Result<std::optional<Json>> LoadState(Store& store, const std::string& workflow_id);
// A state's `tasks` with each with-items entry listed one per item, {name, execution_id}, in its
// place (for whatever shows the tasks: the API, a workflow's result).
Json ListedTasks(const std::string& workflow_id, const Json& tasks);
Status SaveState(Store& store, const std::string& workflow_id, const Json& state);

// For workflows whose events several nodes handle at once (Orquesta's parallel branches): the
// state as stored, with the text it was stored as, and a write that happens only when the stored
// text is still that one (Store::SwapKey); false when another node wrote in between (read again,
// redo).
struct StoredState {
  Json state;
  std::string text;
};
Result<std::optional<StoredState>> LoadStoredState(Store& store, const std::string& workflow_id);
// `expected`: the text loaded; nullopt for the first write of the workflow's state.
Result<bool> SwapState(Store& store, const std::string& workflow_id, const Json& state,
                       const std::optional<std::string>& expected, std::string* text = nullptr);

// The id of a workflow's task: the same workflow, step and task always give the same id.
std::string TaskExecutionId(const std::string& workflow_id, int64_t step, const std::string& task);
// An orquesta task's execution: `occurrence` of `task` in the workflow, its `item` (-1: not a
// with-items task) and retry `attempt`.
std::string OrquestaExecutionId(const std::string& workflow_id, int64_t occurrence,
                                const std::string& task, int64_t item, int attempt);

}  // namespace gale::store

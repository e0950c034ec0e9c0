// The action-chain runner's steps (StackStorm's ActionChainRunner, as events instead of a
// process that waits): start a chain, and move it on when a link's execution ends. Every step
// is idempotent: it may run again after a crash with the same outcome.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "host/bus/bus.h"
#include "host/common/json.h"
#include "host/common/result.h"
#include "host/runner/action_index.h"
#include "host/store/key_cipher.h"
#include "host/store/store.h"

namespace gale::workflow {

// What a step needs: the store, the bus and the actions, borrowed for the call.
struct ChainEnv {
  store::Store* store = nullptr;
  bus::Producer* producer = nullptr;
  std::string executions_topic;
  std::string events_topic;
  std::string node_name;
  const store::KeyCipher* cipher = nullptr;
  std::string system_user;
  const runner::ActionIndex* actions = nullptr;
  std::string api_url;  // the API's address, for Orquesta's ctx().st2.api_url
  // Told each status a workflow is moved to by a step (for the service's counters); may be empty.
  std::function<void(store::ExecStatus)> on_status;
};

// Publishes `e`'s status (with its parent and task, so that a workflow's engine knows its
// tasks' events without a store read) on gale.execution-events.
void PublishEvent(const ChainEnv& env, const store::Execution& e);

// `workflow` was just claimed (running, owned by this node): requests its first link.
// Retryable errors are returned (the caller retries); anything else ends the workflow failed.
Status StartChain(const ChainEnv& env, const store::Execution& workflow,
                  const runner::RunnableAction& action);

// `task` (an execution with a parent) reached a final status: records it and requests the next
// link, or ends the workflow. A task the state does not expect (done already) changes nothing.
Status TaskFinished(const ChainEnv& env, const store::Execution& task);

// The workflow `workflow_id` is canceling: cancels its task in flight, or ends it canceled.
Status CancelChain(const ChainEnv& env, const store::Execution& workflow, const Json& state);

// Pause and resume, in the state document's general terms (workflow_state.h: `current`,
// `pending`), so that every workflow runner can use them:
// - PauseChain: the workflow is pausing. With no task in flight it is paused at once; otherwise
//   the last in-flight task's final event (TaskFinished) records the next step in `pending`
//   without requesting it and moves the workflow to paused.
// - ResumeChain: the workflow is resuming. Requests what `pending` holds (derived ids: an event
//   delivered again requests nothing new), then moves it to running.
Status PauseChain(const ChainEnv& env, const store::Execution& workflow, const Json& state);
Status ResumeChain(const ChainEnv& env, const store::Execution& workflow, Json state);

// Compare-and-set of a workflow's own status; publishes the change. False when it had moved on.
Result<bool> MoveWorkflow(const ChainEnv& env, const std::string& id,
                          std::vector<store::ExecStatus> from, store::ExecStatus to);

}  // namespace gale::workflow

// The action-chain runner's steps (StackStorm's ActionChainRunner, as events instead of a
// process that waits): start a chain, and move it on when a link's execution ends. Every step
// is idempotent: it may run again after a crash with the same outcome.
#pragma once

#include <string>

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
};

// `workflow` was just claimed (running, owned by this node): requests its first link.
// Retryable errors are returned (the caller retries); anything else ends the workflow failed.
Status StartChain(const ChainEnv& env, const store::Execution& workflow,
                  const runner::RunnableAction& action);

// `task` (an execution with a parent) reached a final status: records it and requests the next
// link, or ends the workflow. A task the state does not expect (done already) changes nothing.
Status TaskFinished(const ChainEnv& env, const store::Execution& task);

// The workflow `workflow_id` is canceling: cancels its task in flight, or ends it canceled.
Status CancelChain(const ChainEnv& env, const store::Execution& workflow, const Json& state);

}  // namespace gale::workflow

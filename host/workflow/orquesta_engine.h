// The orquesta runner's steps (StackStorm's Orquesta conductor, as events instead of a service
// that polls): start a workflow, move it on when a task's execution ends, cancel it, and request
// delayed tasks when they are due. docs/workflows.md, "Orquesta", says what is supported.
//
// Parallel branches mean two task events of one workflow may be handled on two nodes at once
// (events are keyed by the task's execution id, so they land on any partition). Every step is a
// compare-and-set of the state document (store::SwapState): load, compute, write only if nobody
// wrote in between, else load again and redo. What a step requests is written into the state
// first (its `outbox`: the execution records, with derived ids) and sent after the write won;
// whoever loads the state next sends the outbox again (create-if-absent, so a record a crash kept
// from being created is created then), and a redelivered event sends it again before it finds
// its task done. So a step's requests are never lost and never made by a step that lost its
// write, and no task starts twice.
#pragma once

#include "host/workflow/chain_engine.h"

namespace gale::workflow {

// `workflow` (runner type orquesta) was just claimed by this node: writes its state and requests
// the tasks it starts with. Retryable errors are returned (the caller retries).
Status StartOrquesta(const ChainEnv& env, const store::Execution& workflow,
                     const runner::RunnableAction& action);

// `task` (an execution whose parent is an orquesta workflow) reached a final status.
Status OrquestaTaskFinished(const ChainEnv& env, const store::Execution& task);

// The workflow is canceling: no task starts any more, the running ones are canceled (a
// subworkflow's cancel passes down the same way), and the workflow ends canceled when none runs.
Status CancelOrquesta(const ChainEnv& env, const store::Execution& workflow);

// Pause and resume (the workflow's `pausing` and `resuming` commands). Pausing: the state gets
// `pause`; from then on what a step requests is held in the state (`held`) instead of sent, the
// tasks in flight run to their end, a running subworkflow (orquesta or action-chain) is paused
// in turn, and once nothing runs (all held, delayed, or paused subworkflows) the workflow is
// paused. Resuming: the held requests go to the outbox (sent after that write won), the paused
// subworkflows are resumed, delayed tasks come due again, and the workflow is running.
Status PauseOrquesta(const ChainEnv& env, const store::Execution& workflow);
Status ResumeOrquesta(const ChainEnv& env, const store::Execution& workflow);

// A subworkflow of `parent_id` was paused: the parent, if pausing, may be paused now.
Status OrquestaChildPaused(const ChainEnv& env, const std::string& parent_id);

// Requests the delayed tasks (`delay`, retry `delay`) that are due, of every running workflow
// (a pausing or paused one's wait until it runs again). Called
// about twice a second by every node's engine; any node may request any workflow's.
Status OrquestaTick(const ChainEnv& env);

}  // namespace gale::workflow

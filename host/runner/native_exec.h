// The child side of the `native` runner: `gale exec native LIBRARY ENTRY_POINT`, run inside the
// sandbox by the runner (never in a host process). Reads {"parameters", "config", "action",
// "execution_id"} from stdin, loads the pack library, creates the action named ENTRY_POINT and
// runs it. File descriptor 1 is kept for the result: the action's own stdout goes to stderr,
// and the result leaves on the original stdout as one JSON document
// {"status": "succeeded"|"failed", "result": {...}} (`retryable: true` when the action said so).
// Returns the exit code: 0 when a result was written (whatever the action's status), 1 when
// the action could not be loaded or run (the document then carries the error too).
#pragma once

#include <string>

namespace gale::runner {

int RunNativeAction(const std::string& library, const std::string& entry_point);

}  // namespace gale::runner

// How an execution ends: the sandbox's Outcome turned into the execution's final status and
// result document.
//
// Shell runners record StackStorm's local runner result {return_code, stdout, stderr,
// succeeded, failed} plus `sandbox` (outcome, cpu, max RSS, wall time, truncation, denied
// system calls). native and http-request runners record the document their `gale exec` child
// wrote on stdout, with `stderr` and `sandbox` added. python-script records StackStorm's python
// runner result {result, stdout, stderr, exit_code} (+ `error` and `traceback` when run() raised),
// the result taken from the block the wrapper wrote between two Launch::result_delimiter at the
// end of stdout and cut out of `stdout` (launch.h); a `(False, result)` from run() fails the
// execution, and so does a run without that block (say a stdout past the output cap, which keeps
// the beginning). Anything but a clean run adds `error`, one
// line ("timed out after 2000 ms (killed by SIGKILL)", "killed by SIGSEGV",
// "not started: exec /x/run.sh: Permission denied", "exited with code 1 (denied: socket)").
#pragma once

#include <string>
#include <string_view>

#include "host/common/json.h"
#include "host/runner/launch.h"
#include "host/store/store.h"
#include "sandbox/outcome.h"

namespace gale::runner {

struct Finish {
  store::ExecStatus status = store::ExecStatus::kFailed;
  Json result = Json::object();
};

Finish FinishFromOutcome(const Launch& launch, const sandbox::Outcome& outcome);

// A failure before anything ran (unknown action, bad parameters): {"error": reason}.
Finish FailedBeforeStart(const std::string& reason);

// python-script's live stdout without the wrapper's result block, so that the output stream in
// the store (`gale execution tail`) shows what the recorded `stdout` does. Chunks go in as they
// come; what may be shown comes out. Only a trailing fragment that could begin the delimiter is
// held back until the next chunk says (the delimiter starts with an ASCII record separator, which
// printed text hardly ends with).
class ResultBlockFilter {
 public:
  explicit ResultBlockFilter(std::string delimiter) : delimiter_(std::move(delimiter)) {}
  std::string Feed(std::string_view chunk);

 private:
  std::string delimiter_;
  std::string held_;  // outside the block: a possible start of the delimiter; inside: the block
  int delimiters_seen_ = 0;
};

// `inner` with stdout passed through a ResultBlockFilter when `launch` has a result delimiter;
// `inner` itself otherwise.
sandbox::Process::OutputCallback HideResultBlock(const Launch& launch,
                                                 sandbox::Process::OutputCallback inner);

}  // namespace gale::runner

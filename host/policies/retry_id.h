// The ids of an action.retry chain. A retry's id derives from the chain's first execution and
// the retry's number, so a runner that crashed after recording a failure and before requesting
// the retry, then redoes that work, creates the same record (create-if-absent), never a second.
#pragma once

#include <string>
#include <vector>

#include "host/common/result.h"
#include "host/store/store.h"

namespace gale::policies {

// UuidV5(kGaleNamespace, "<original>/retry/<attempt>"); attempt >= 1.
std::string RetryExecutionId(const std::string& original, int attempt);

// The chain `execution` belongs to, oldest first: its first execution, then retries 1, 2, ...
// as far as they exist. Just `execution` when it is neither a retry nor retried.
Result<std::vector<store::Execution>> RetryChain(store::Store& store,
                                                 const store::Execution& execution);

}  // namespace gale::policies

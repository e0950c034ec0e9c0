#include "host/policies/retry_id.h"

#include "host/common/uuid.h"

namespace gale::policies {
namespace {

// More than any max_retry_count a pack would set; bounds the walk over a chain.
constexpr int kMaxChain = 1000;

}  // namespace

std::string RetryExecutionId(const std::string& original, int attempt) {
  return UuidV5(kGaleNamespace, original + "/retry/" + std::to_string(attempt));
}

Result<std::vector<store::Execution>> RetryChain(store::Store& store,
                                                 const store::Execution& execution) {
  const std::string root = execution.retry_of.empty() ? execution.id : execution.retry_of;
  std::vector<store::Execution> chain;
  if (root == execution.id) {
    chain.push_back(execution);
  } else {
    GALE_ASSIGN_OR_RETURN(auto first, store.GetExecution(root));
    if (first) chain.push_back(std::move(*first));
  }
  for (int attempt = 1; attempt <= kMaxChain; ++attempt) {
    const std::string id = RetryExecutionId(root, attempt);
    if (id == execution.id) {
      chain.push_back(execution);
      continue;
    }
    GALE_ASSIGN_OR_RETURN(auto next, store.GetExecution(id));
    if (!next) break;
    chain.push_back(std::move(*next));
  }
  return chain;
}

}  // namespace gale::policies

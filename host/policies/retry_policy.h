// action.retry (issue 22): an execution that ends `failed` (retry_on: failure) or `timeout`
// (retry_on: timeout) gets a new execution linked to it: retry_of names the chain's first
// execution, retry_attempt counts 1, 2, ... up to max_retry_count, and its id derives from both
// (retry_id.h). The retry is created `scheduled`, with requested_at set to when its `delay`
// ends, BEFORE the original's final status is recorded: a crash in between leaves the original
// `abandoned` (its lease expires) and the retry waiting, never a failure without its retry nor
// two retries. The finishing node requests it when due; every runner node's sweep requests due
// retries too (a node that died before requesting), once the attempt before it is final.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "host/common/result.h"
#include "host/packs/metadata.h"
#include "host/store/store.h"

namespace gale::policies {

struct RetryOptions {
  store::Store* store = nullptr;
  std::string node_name;
  std::chrono::milliseconds sweep_interval{1000};
  std::function<store::TimeMs()> clock;
  std::function<Status(const store::Execution&)> request;
};

class RetryPolicy {
 public:
  explicit RetryPolicy(RetryOptions options);

  // Creates the retry of `record`, which ends with `status`, when one of `policies` says so;
  // returns it (created now or before), or nothing.
  Result<std::optional<store::Execution>> Prepare(const store::Execution& record,
                                                  store::ExecStatus status,
                                                  const std::vector<packs::PolicyMeta>& policies);
  // The original's status is recorded: request `retry` when it is due.
  void Arm(const store::Execution& retry);
  // Requests what Arm held that is now due; every sweep_interval also lists due retries in the
  // store (any node's).
  void Tick();

 private:
  void SweepDue();

  RetryOptions options_;
  std::mutex mu_;
  std::multimap<store::TimeMs, store::Execution> armed_;  // by due time
  std::map<std::string, store::TimeMs> requested_;        // ids the sweep requested lately
  store::TimeMs next_sweep_ = 0;
};

}  // namespace gale::policies

// Following an execution's output as it is appended (`gale execution tail`).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "host/common/result.h"
#include "host/store/store.h"

namespace gale::store {

struct FollowOptions {
  std::chrono::milliseconds poll_interval{200};
  // Polled between reads; returning true ends the follow early. May be empty.
  std::function<bool()> stop;
};

// Calls `on_chunk` for every chunk of `execution_id` with seq > after_seq, in order and without
// gaps, as they are appended, until the execution has finished and all its output was delivered,
// `on_chunk` returns false, or `stop` says so. Returns the seq of the last chunk delivered
// (after_seq when none). An unknown execution is an error.
Result<int64_t> FollowOutput(Store& store, const std::string& execution_id, int64_t after_seq,
                             const std::function<bool(const OutputChunk&)>& on_chunk,
                             const FollowOptions& options = {});

}  // namespace gale::store

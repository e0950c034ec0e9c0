#include "host/store/follow.h"

#include <thread>

namespace gale::store {

Result<int64_t> FollowOutput(Store& store, const std::string& execution_id, int64_t after_seq,
                             const std::function<bool(const OutputChunk&)>& on_chunk,
                             const FollowOptions& options) {
  int64_t last = after_seq;
  while (true) {
    // Look at the status before reading: output appended before the execution finished is then
    // always read by the final drain below.
    GALE_ASSIGN_OR_RETURN(std::optional<Execution> execution, store.GetExecution(execution_id));
    if (!execution) return Status::Error("no execution " + execution_id);
    bool finished = IsFinal(execution->status);
    while (true) {
      GALE_ASSIGN_OR_RETURN(std::vector<OutputChunk> chunks, store.ReadOutput(execution_id, last));
      for (const OutputChunk& chunk : chunks) {
        last = chunk.seq;
        if (!on_chunk(chunk)) return last;
      }
      if (chunks.empty()) break;
    }
    if (finished) return last;
    if (options.stop && options.stop()) return last;
    std::this_thread::sleep_for(options.poll_interval);
    if (options.stop && options.stop()) return last;
  }
}

}  // namespace gale::store

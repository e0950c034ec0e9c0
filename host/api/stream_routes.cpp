// GET /v1/stream: server-sent events of execution status changes, read from
// <prefix>execution-events as they are produced (StackStorm's st2.execution__update events).
#include <spdlog/spdlog.h>

#include "host/api/api_state.h"

namespace gale::api {

void AddStreamRoutes(Router& router, const std::shared_ptr<State>& state) {
  router.Add("GET", "/v1/stream", [state](HttpRequest&) {
    auto tailer = bus::Tailer::Create(state->options.bus,
                                      bus::Topic(state->options.bus, bus::kExecutionEvents),
                                      /*from_beginning=*/false);
    if (!tailer.ok()) return HttpResponse::Error(503, "bus: " + tailer.message());
    HttpResponse r;
    r.content_type = "text/event-stream";
    auto shared = std::shared_ptr<bus::Tailer>(std::move(tailer).value());
    r.stream = [shared](StreamWriter& out) {
      // A comment first, so clients know the stream is open before any event.
      if (!out.Write(": gale execution events\n\n")) return;
      auto last_write = std::chrono::steady_clock::now();
      while (out.Open()) {
        auto next = shared->Next(std::chrono::milliseconds(500));
        if (!next.ok()) {
          ClientLogLimit().Log(spdlog::level::warn, "event stream", "api: event stream: {}",
                               next.message());
          return;
        }
        if (next->has_value() && !(*next)->authentic) continue;  // not ours: counted, logged
        if (next->has_value()) {
          if (!out.Write("event: st2.execution__update\ndata: " + (*next)->value + "\n\n")) return;
          last_write = std::chrono::steady_clock::now();
        } else if (std::chrono::steady_clock::now() - last_write > std::chrono::seconds(15)) {
          if (!out.Write(": keep-alive\n\n")) return;  // also finds clients that left
          last_write = std::chrono::steady_clock::now();
        }
      }
    };
    return r;
  });
}

}  // namespace gale::api

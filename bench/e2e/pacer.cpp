// The bench pack's sensor: probes until told to go, then `count` bench.tick triggers at a fixed
// offered rate (open loop: each
// is sent at its scheduled time whatever happened to the previous ones, so a slow pipeline shows
// as latency rather than as a lower rate), each with the wall clock at dispatch.
#include <time.h>

#include <chrono>
#include <string>
#include <thread>

#include "plugin_api/pack.h"

namespace {

long long WallNanos() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

class Pacer : public gale::plugin::Sensor {
 public:
  using Sensor::Sensor;
  void run() override {
    auto& s = sensor_service();
    const auto config = s.config();
    const long long count = config.value("count", 0LL);
    const double rate = config.value("rate", 100.0);
    // Until the benchmark sees the whole pipeline working and sets the key `go`, a probe every
    // 200 ms (its rule runs core.noop): start-up (consumer groups joining) is not measured.
    for (long long probe = 0; !s.get_value("go"); ++probe) {
      s.dispatch("bench.probe", {{"n", probe}});
      if (s.wait_for_stop(std::chrono::milliseconds(200))) return;
    }
    const auto start = std::chrono::steady_clock::now();
    for (long long seq = 0; seq < count && !s.stop_requested(); ++seq) {
      if (rate > 0) {
        const auto due = start + std::chrono::nanoseconds(static_cast<long long>(seq * 1e9 / rate));
        const auto wait = due - std::chrono::steady_clock::now();
        if (wait > std::chrono::milliseconds(2) &&
            s.wait_for_stop(std::chrono::duration_cast<std::chrono::milliseconds>(wait) -
                            std::chrono::milliseconds(1))) {
          return;
        }
        // wait_for_stop has millisecond resolution; a short sleep ends on time (not a spin: at
        // 1,000/s a spin would take a core from the pipeline being measured).
        std::this_thread::sleep_until(due);
      }
      s.dispatch("bench.tick", {{"seq", seq}, {"sent_ns", std::to_string(WallNanos())}});
    }
    s.info("pacer: sent " + std::to_string(count) + " ticks");
    s.wait_for_stop(std::chrono::hours(24));
  }
};

void Register(gale::plugin::PackRegistry& pack) {
  pack.sensor<Pacer>("Pacer");
}

}  // namespace

GALE_PACK(Register)

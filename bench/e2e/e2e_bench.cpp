// Gale end to end, against the physical limits measured in the same run (issue 20's targets):
//   throughput  core.local executions of `true` per second on one node, flooded, next to bare
//               process creation at the runner's concurrency (target 1);
//   latency     sensor dispatch -> action process started, at fixed offered rates, next to the
//               pipeline floor: two bus hops and one sandboxed spawn (target 2);
//   scale       the same flood with 1, 2 and 3 nodes sharing the bus and the store;
//   collapse    twice the capacity offered, and a large backlog drained against a small one
//               (target 3);
//   memory      an idle node (target 5), the runner at 60 running executions.
// Each section prints a Markdown table headed by the machine, the bus and the store, then one
// "target ..." line per target it measures (met or missed, with the ratio). Real `gale up`
// processes, the embedded bus or the brokers given with --brokers, a SQLite file or the MongoDB
// server given with --store.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "bench/e2e/deployment.h"
#include "bench/e2e/options.h"
#include "bench/e2e/sections.h"

namespace gale::bench {
namespace {

constexpr const char* kUsage =
    "gale_e2e_bench [--brokers HOST:PORT] [--store mongodb://HOST:PORT/DB]\n"
    "               [--seconds 5] [--rates 100,1000] [--flood 3000] [--overload-seconds 10]\n"
    "               [--backlog 10000] [--backlog-small 1000]\n"
    "               [--sections throughput,latency,scale,collapse,memory]\n"
    "Runs real `gale up` nodes and prints Markdown tables and issue 20's target lines\n"
    "(see bench/reading.md). Without --brokers the nodes use the embedded bus; without --store\n"
    "each deployment gets a new SQLite file (with it, a new database, dropped afterwards).\n"
    "Sections run in the order above whatever the order given; collapse offers twice the\n"
    "capacity throughput measured (or measures it first). Default sections: throughput,\n"
    "latency, collapse, memory.\n";

int PositiveInt(const std::string& flag, const std::string& value, int min) {
  char* end = nullptr;
  const long v = std::strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || v < min || v > 100000000) {
    Fail(flag + ": '" + value + "' is not a number >= " + std::to_string(min));
  }
  return static_cast<int>(v);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Fail(a + " needs a value (see --help)");
      return argv[++i];
    };
    if (a == "--brokers") {
      o.brokers = next();
    } else if (a == "--store") {
      o.store = next();
      if (o.store.rfind("mongodb://", 0) != 0)
        Fail("--store: '" + o.store + "' is no mongodb:// URL");
    } else if (a == "--seconds") {
      o.seconds = PositiveInt(a, next(), 1);
    } else if (a == "--flood") {
      o.flood = PositiveInt(a, next(), 100);
    } else if (a == "--overload-seconds") {
      o.overload_seconds = PositiveInt(a, next(), 1);
    } else if (a == "--backlog") {
      o.backlog = PositiveInt(a, next(), 100);
    } else if (a == "--backlog-small") {
      o.backlog_small = PositiveInt(a, next(), 100);
    } else if (a == "--rates") {
      o.rates.clear();
      std::stringstream ss(next());
      for (std::string r; std::getline(ss, r, ',');) {
        const int v = std::atoi(r.c_str());
        if (v <= 0) Fail("--rates: '" + r + "' is not a positive rate");
        o.rates.push_back(v);
      }
    } else if (a == "--sections") {
      o.sections.clear();
      std::stringstream ss(next());
      for (std::string s; std::getline(ss, s, ',');) o.sections.push_back(s);
    } else if (a == "-h" || a == "--help") {
      std::printf("%s", kUsage);
      std::exit(0);
    } else {
      Fail("unknown argument '" + a + "' (see --help)");
    }
  }
  for (const auto& s : o.sections) {
    if (s != "latency" && s != "throughput" && s != "scale" && s != "collapse" && s != "memory") {
      Fail("unknown section '" + s + "' (throughput, latency, scale, collapse, memory)");
    }
  }
  return o;
}

}  // namespace
}  // namespace gale::bench

int main(int argc, char** argv) {
  using namespace gale::bench;
  spdlog::set_level(spdlog::level::warn);
  const Options o = Parse(argc, argv);
  auto has = [&](const char* s) {
    return std::find(o.sections.begin(), o.sections.end(), s) != o.sections.end();
  };
  Carry carry;
  if (has("throughput")) Throughput(o, carry);
  if (has("latency")) Latency(o);
  if (has("scale")) Scale(o);
  if (has("collapse")) Collapse(o, carry);
  if (has("memory")) MemorySection(o);
  return 0;
}

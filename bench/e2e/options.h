// What one run of gale_e2e_bench measures and against which bus and store, and the figures one
// section hands to the next (the overload section offers twice the capacity the throughput
// section measured).
#pragma once

#include <string>
#include <vector>

namespace gale::bench {

struct Options {
  std::string brokers;  // "" = the embedded bus
  // "" = a new SQLite file per deployment; mongodb://HOST[:PORT][/DB]: a new database per
  // deployment on that server (named after DB, dropped afterwards).
  std::string store;
  int seconds = 5;  // per offered rate (latency)
  int flood = 3000;
  std::vector<int> rates = {100, 1000};
  int overload_seconds = 10;
  int backlog = 10000;  // the large backlog, drained against a small one
  int backlog_small = 1000;
  std::vector<std::string> sections = {"throughput", "latency", "collapse", "memory"};
  std::string gale = std::string(GALE_BINARY_DIR) + "/bin/gale";
  std::string core_packs = std::string(GALE_BINARY_DIR) + "/packs";
  std::string bench_pack = GALE_BENCH_PACK_DIR;
};

// Figures measured by one section that a later one builds on.
struct Carry {
  double capacity = 0;         // executions/s of the throughput flood (0: not measured yet)
  long capacity_peak_kib = 0;  // the node's peak RSS during that flood
};

// "embedded bus (...)" or "Kafka at HOST:PORT"; "SQLite" or "MongoDB at HOST:PORT".
std::string BusName(const Options& o);
std::string StoreName(const Options& o);
// Short form for target lines: "embedded bus, SQLite" / "Kafka, MongoDB".
std::string Setup(const Options& o);

// Prints a section heading with the machine, the bus and the store.
void Header(const Options& o, const std::string& title);

}  // namespace gale::bench

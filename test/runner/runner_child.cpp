// A runner in a process of its own, for tests that kill it with SIGKILL:
//   gale_runner_child BROKERS EMBEDDED(0|1) TOPIC_PREFIX STORE_URL NODE MAX_CONCURRENCY LEASE_MS
//                     GALE_BINARY PACKS_DIR... [GALE_TEST_FAILPOINTS=...]
// A last argument GALE_TEST_FAILPOINTS=... is set in the child's environment (failpoint.h).
// Prints "started" once the runner runs; on SIGTERM or SIGINT stops it and prints its counters
// as JSON, exit 0. Exits 2 on a setup error.
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "host/packs/catalog.h"
#include "host/runner/runner_service.h"
#include "host/store/open.h"
#include "test/support/child_process.h"
#include "test/support/test_bus.h"
#include "test/support/test_store.h"

int main(int argc, char** argv) {
  using namespace gale;
  if (argc < 10) {
    std::cerr << "usage: " << argv[0]
              << " BROKERS EMBEDDED TOPIC_PREFIX STORE_URL NODE MAX LEASE_MS GALE PACKS...\n";
    return 2;
  }
  const std::string kFailpoints = "GALE_TEST_FAILPOINTS=";
  if (std::string(argv[argc - 1]).rfind(kFailpoints, 0) == 0) {  // no thread exists yet
    setenv("GALE_TEST_FAILPOINTS", argv[argc - 1] + kFailpoints.size(), 1);
    --argc;
  }
  sigset_t signals = gale::testing::BlockStopSignals();

  bus::BusConfig config;
  config.brokers = argv[1];
  config.embedded = std::string(argv[2]) == "1";
  config.topic_prefix = argv[3];
  gale::testing::ApplyTestBusSettings(&config);
  auto st = gale::testing::OpenTestStore(argv[4]);
  if (!st.ok()) {
    std::cerr << st.message() << "\n";
    return 2;
  }
  std::vector<std::string> paths(argv + 9, argv + argc);
  sandbox::Settings defaults;
  defaults.timeout = std::chrono::seconds(120);
  defaults.kill_grace = std::chrono::seconds(1);
  auto actions = runner::ActionIndex::FromCatalog(
      packs::Catalog::Load(paths, {.inspect_libraries = false}), defaults);
  runner::RunnerOptions options;
  options.bus = config;
  options.store = st->get();
  options.node_name = argv[5];
  options.max_concurrency = std::stoi(argv[6]);
  options.lease = std::chrono::milliseconds(std::stoi(argv[7]));
  options.gale_binary = argv[8];
  options.shutdown_grace = std::chrono::seconds(30);
  auto service = runner::RunnerService::Create(options, actions);
  if (!service.ok()) {
    std::cerr << service.message() << "\n";
    return 2;
  }
  if (Status s = (*service)->Start(); !s.ok()) {
    std::cerr << s.message() << "\n";
    return 2;
  }
  std::cout << "started" << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  (*service)->Stop();
  auto stats = (*service)->stats();
  std::cout << Json{{"claimed", stats.claimed},
                    {"succeeded", stats.succeeded},
                    {"abandoned", stats.abandoned},
                    {"skipped", stats.skipped}}
                   .dump()
            << std::endl;
  return 0;
}

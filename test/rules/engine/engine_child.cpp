// A rules engine in a process of its own, for tests that kill it with SIGKILL:
//   gale_rules_engine_child BROKERS EMBEDDED(0|1) TOPIC_PREFIX STORE_URL PACKS_DIR [FAILPOINTS]
// FAILPOINTS, when given, is the child's GALE_TEST_FAILPOINTS (host/common/failpoint.h).
// Prints "started" once the engine runs; on SIGTERM or SIGINT stops it cleanly, prints its
// counters as JSON and exits 0. Exits 2 on a setup error.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "host/bus/bus.h"
#include "host/packs/catalog.h"
#include "host/rules/engine/rule_set.h"
#include "host/rules/engine/rules_engine.h"
#include "host/store/open.h"
#include "test/support/child_process.h"
#include "test/support/test_bus.h"
#include "test/support/test_store.h"

int main(int argc, char** argv) {
  using namespace gale;
  if (argc != 6 && argc != 7) {
    std::cerr << "usage: " << argv[0]
              << " BROKERS EMBEDDED TOPIC_PREFIX STORE_URL PACKS_DIR [FAILPOINTS]\n";
    return 2;
  }
  if (argc == 7) setenv("GALE_TEST_FAILPOINTS", argv[6], 1);  // no thread exists yet
  // Blocked before any thread exists, so every thread inherits the mask and sigwait gets them.
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
  auto catalog = packs::Catalog::Load({argv[5]});
  auto rules = rules::engine::RuleSet::FromCatalog(catalog);
  rules::engine::RulesEngineOptions options;
  options.bus = config;
  options.store = st->get();
  options.node_name = "child-" + std::to_string(getpid());
  options.batch_size = 200;
  auto engine = rules::engine::RulesEngine::Create(options, rules);
  if (!engine.ok()) {
    std::cerr << engine.message() << "\n";
    return 2;
  }
  if (Status s = (*engine)->Start(); !s.ok()) {
    std::cerr << s.message() << "\n";
    return 2;
  }
  std::cout << "started" << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  (*engine)->Stop();
  auto stats = (*engine)->stats();
  std::cout << Json{{"triggers_processed", stats.triggers_processed},
                    {"executions_created", stats.executions_created},
                    {"requests_produced", stats.requests_produced}}
                   .dump()
            << std::endl;
  return 0;
}

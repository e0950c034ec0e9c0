// 500 keep-alive connections from a second process poll GET /v1/executions?limit=10 for 30 s
// (GALE_API_LOAD_SECONDS overrides; scripts/test --sanitize uses a short form): no request may
// fail, and the server's memory must be flat afterwards (no growth per connection or request).
#include <fstream>

#include "test/support/api_fixture.h"

namespace gale::testing {
namespace {

long RssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

Json Load(const NodeProcess& node, int connections, int seconds) {
  const std::string url = node.api_url();
  std::string rest = url.substr(url.find("//") + 2);
  const std::string cmd = "GALE_API_KEY=" + node.api_token() + " " + std::string(GALE_API_LOAD) +
                          " " + rest.substr(0, rest.rfind(':')) + " " +
                          rest.substr(rest.rfind(':') + 1) + " '/v1/executions?limit=10' " +
                          std::to_string(connections) + " " + std::to_string(seconds);
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[1024];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  pclose(p);
  return Json::parse(out, nullptr, false);
}

TEST_F(ApiNodeTest, FiveHundredKeepAliveClientsPollWithoutErrorsAndMemoryStaysFlat) {
  auto api = Api();
  for (int i = 0; i < 20; ++i) {
    Json noop = {{"action", "core.noop"}};
    ASSERT_EQ(api.Call("POST", "/v1/executions", &noop)->status, 201);
  }
  const char* env = std::getenv("GALE_API_LOAD_SECONDS");
  const int seconds = env ? std::atoi(env) : 30;
  // A short warm-up fills the allocator's pools; what matters is growth after it.
  Json warm = Load(node(), 500, 3);
  ASSERT_FALSE(warm.is_discarded());
  const long before = RssKib(node().pid());
  Json run = Load(node(), 500, seconds);
  ASSERT_FALSE(run.is_discarded());
  const long after = RssKib(node().pid());
  std::printf(
      "api load: %ld requests in %d s over %d connections, %ld errors; node RSS %ld -> "
      "%ld KiB\n",
      run["requests"].get<long>(), seconds, run["connections"].get<int>(),
      run["errors"].get<long>(), before, after);
  EXPECT_EQ(run["errors"], 0) << run.dump();
  EXPECT_GT(run["requests"].get<long>(), 500) << run.dump();
  // Flat: the second, longer run may not grow the node by more than 16 MiB over the warm one.
  EXPECT_LT(after - before, 16 * 1024) << "RSS " << before << " -> " << after << " KiB";
  EXPECT_EQ(api.Call("GET", "/healthz")->status, 200);
}

}  // namespace
}  // namespace gale::testing

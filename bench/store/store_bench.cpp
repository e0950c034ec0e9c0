// gale_store_bench: inserts/s, claims/s and output appends/s per store backend, a few seconds
// each. SQLite always (synchronous FULL and NORMAL, in a temporary directory); MongoDB when
// GALE_MONGODB_URL is set (in a scratch database that is dropped afterwards).
//   gale_store_bench [--seconds S] [--count N]
#include <mongoc/mongoc.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/machine.h"
#include "host/store/open.h"

using namespace gale::store;
using Clock = std::chrono::steady_clock;

namespace {

double g_seconds = 2.0;
int g_count = 5000;

// Runs `op(i)` for i = 0.. on `threads` threads until `count` calls or the time is up; returns
// calls per second and the number of calls for which op returned true.
template <class Op>
std::pair<double, int> Rate(int threads, int count, Op op) {
  std::atomic<int> next{0}, wins{0}, errors{0};
  auto deadline = Clock::now() + std::chrono::duration<double>(g_seconds);
  auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      while (Clock::now() < deadline) {
        int i = next.fetch_add(1);
        if (i >= count) break;
        gale::Result<bool> r = op(i);
        if (!r.ok()) {
          if (errors.fetch_add(1) == 0) std::fprintf(stderr, "  error: %s\n", r.message().c_str());
        } else if (*r) {
          wins.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  int done = std::min(next.load(), count);
  return {done / elapsed, wins.load()};
}

void Bench(const std::string& label, const std::string& url, const StoreOptions& options) {
  auto opened = OpenStore(url, options);
  if (!opened.ok()) {
    std::printf("%-28s cannot open: %s\n", label.c_str(), opened.message().c_str());
    return;
  }
  Store& store = **opened;
  auto [inserts, inserted] = Rate(1, g_count, [&](int i) {
    Execution e;
    e.id = "bench-" + std::to_string(i);
    e.action = "core.local";
    e.parameters = {{"cmd", "echo " + std::to_string(i)}};
    e.requested_at = i;
    return store.CreateExecution(e);
  });
  int half = inserted / 2;
  auto [claims1, won1] = Rate(1, half, [&](int i) {
    return store.ClaimExecution("bench-" + std::to_string(i), "node-0", 1LL << 40, 1);
  });
  // 8 threads racing for the same executions (every execution tried by each thread in turn).
  std::atomic<int> offset{half};
  auto [tries8, won8] = Rate(8, (inserted - half) * 8, [&](int i) {
    int id = offset.load() + i / 8;
    return store.ClaimExecution("bench-" + std::to_string(id), "node-" + std::to_string(i % 8),
                                1LL << 40, 1);
  });
  std::string data(200, 'x');
  auto [appends, appended] = Rate(1, g_count, [&](int i) {
    return gale::Result<bool>(store.AppendOutput("bench-0", "stdout", data, i).ok());
  });
  (void)appended;
  (void)won1;
  double claims8 = tries8 > 0 ? tries8 / 8 : 0;  // each execution is tried 8 times
  std::printf(
      "%-28s inserts/s %8.0f   claims/s 1 thread %8.0f   8 racing threads %8.0f   "
      "output appends/s %8.0f   (%d inserted, %d won by 8 threads)\n",
      label.c_str(), inserts, claims1, claims8, appends, inserted, won8);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0) g_seconds = std::atof(argv[i + 1]);
    if (std::strcmp(argv[i], "--count") == 0) g_count = std::atoi(argv[i + 1]);
  }
  std::printf("machine: %s\n", gale::bench::Machine().c_str());
  std::printf("each figure: at most %d operations or %.1f s\n\n", g_count, g_seconds);

  std::string tmpl = (std::filesystem::temp_directory_path() / "gale-bench-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return 1;
  StoreOptions full;
  Bench("sqlite (synchronous=FULL)", "sqlite://" + tmpl + "/full.db", full);
  StoreOptions normal;
  normal.sqlite_sync_full = false;
  Bench("sqlite (synchronous=NORMAL)", "sqlite://" + tmpl + "/normal.db", normal);
  std::filesystem::remove_all(tmpl);

  const char* mongo = std::getenv("GALE_MONGODB_URL");
  if (mongo == nullptr || *mongo == '\0') {
    std::printf("%-28s SKIPPED: GALE_MONGODB_URL is not set (run scripts/services up)\n",
                "mongodb");
    return 0;
  }
  std::string base = mongo;
  std::string db = "gale_bench_" + std::to_string(getpid());
  size_t hosts = base.find("://") + 3, q = base.find('?', hosts), slash = base.find('/', hosts);
  std::string tail = q == std::string::npos ? "" : base.substr(q);
  std::string head = base.substr(0, std::min(slash, q));
  std::string url = head + "/" + db + tail;
  Bench("mongodb (" + head + ")", url, StoreOptions());
  mongoc_init();
  mongoc_client_t* client = mongoc_client_new(url.c_str());
  if (client != nullptr) {
    mongoc_database_t* d = mongoc_client_get_database(client, db.c_str());
    bson_error_t error;
    mongoc_database_drop(d, &error);
    mongoc_database_destroy(d);
    mongoc_client_destroy(client);
  }
  return 0;
}

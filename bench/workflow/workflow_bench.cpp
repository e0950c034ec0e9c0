// Workflow transitions (issue 21, item 5): a 100-link sequential action-chain of `core.local true`
// on one embedded node (embedded bus, SQLite) completes in <= 1.5 x 100 x the single-execution
// latency measured on the same node in the same run. Both are the store's own timestamps,
// requested_at to finished_at, so polling adds nothing to either. Prints the ratio, met or
// missed, and the node's resident memory while the chains ran.
//   gale_workflow_bench [LINKS] [RUNS] [SINGLES]   (defaults 100 3 30)
// The with-items mode: one orquesta workflow whose one task runs `core.local true` over ITEMS
// items at CONCURRENCY (issue 21: 1,000 at 50 "completes, and its per-item overhead is
// reported"): the total time, the time per item against the single-execution latency and against
// the ideal ITEMS / CONCURRENCY x that latency, the first 100 items against the last 100 (do
// later items get slower as the state grows, st2 #4793?) and the node's peak resident set.
//   gale_workflow_bench items [ITEMS] [CONCURRENCY] [SINGLES]   (defaults 1000 50 30)
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/e2e/bench_node.h"
#include "bench/timing.h"
#include "host/cli/api_client.h"
#include "host/store/open.h"
#include "host/store/workflow_state.h"

namespace gale::bench {
namespace {
namespace fs = std::filesystem;

[[noreturn]] void Fail(const std::string& why) {
  std::fprintf(stderr, "gale_workflow_bench: %s\n", why.c_str());
  std::exit(1);
}

// The `wfbench` pack: action `chain`, LINKS links each running `true`, each going on to the next.
void WritePack(const fs::path& root, int links) {
  fs::create_directories(root / "wfbench/actions/chains");
  std::ofstream(root / "wfbench/pack.yaml")
      << "---\nref: wfbench\nname: wfbench\ndescription: workflow benchmark\nversion: 0.1.0\n"
         "author: bench\n";
  std::ofstream(root / "wfbench/actions/chain.yaml")
      << "---\nname: chain\nrunner_type: action-chain\nentry_point: chains/chain.yaml\n";
  std::ofstream chain(root / "wfbench/actions/chains/chain.yaml");
  chain << "---\nchain:\n";
  for (int i = 1; i <= links; ++i) {
    chain << "  - name: l" << i << "\n    ref: core.local\n    parameters: {cmd: \"true\"}\n";
    if (i < links) chain << "    on-success: l" << i + 1 << "\n";
  }
}

// The `wfbench` pack's action `items`: an orquesta workflow, one with-items task over `items`.
void WriteItemsPack(const fs::path& root) {
  fs::create_directories(root / "wfbench/actions/workflows");
  std::ofstream(root / "wfbench/pack.yaml")
      << "---\nref: wfbench\nname: wfbench\ndescription: workflow benchmark\nversion: 0.1.0\n"
         "author: bench\n";
  std::ofstream(root / "wfbench/actions/items.yaml")
      << "---\nname: items\nrunner_type: orquesta\nentry_point: workflows/items.yaml\n"
         "parameters:\n  items: {type: array, required: true}\n"
         "  conc: {type: integer, required: true}\n";
  std::ofstream(root / "wfbench/actions/workflows/items.yaml")
      << "version: 1.0\ninput:\n  - items\n  - conc\ntasks:\n  each:\n    with:\n"
         "      items: <% ctx(items) %>\n      concurrency: <% ctx(conc) %>\n"
         "    action: core.local cmd=\"true\"\n"
         "output:\n  - count: <% len(task(each).result) %>\n";
}

std::string FirstLine(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

// Runs `action` and waits for it; returns its record (requested_at, finished_at, status).
Json RunOnce(cli::ApiClient& api, const std::string& action, const Json& parameters) {
  Json body = {{"action", action}, {"parameters", parameters}};
  auto created = api.Call("POST", "/v1/executions", &body);
  if (!created.ok() || created->status != 201) {
    Fail("POST /v1/executions " + action + ": " +
         (created.ok() ? created->body : created.message()));
  }
  const std::string id = created->json().value("id", "");
  const auto deadline = Clock::now() + std::chrono::minutes(10);
  while (Clock::now() < deadline) {
    auto got = api.Call("GET", "/v1/executions/" + id);
    if (got.ok() && got->status == 200) {
      Json e = got->json();
      if (e.value("finished_at", int64_t{0}) > 0) return e;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Fail("execution " + id + " of " + action + " did not finish in 10 minutes");
}

double LatencyMs(const Json& e) {
  return static_cast<double>(e.value("finished_at", int64_t{0}) -
                             e.value("requested_at", int64_t{0}));
}

std::unique_ptr<BenchNode> StartNode(const std::string& dir) {
  NodeSpec spec;
  spec.gale_binary = std::string(GALE_BINARY_DIR) + "/bin/gale";
  spec.name = "wfbench";
  spec.packs_paths = {std::string(GALE_BINARY_DIR) + "/packs", (fs::path(dir) / "packs").string()};
  spec.topic_prefix = "gale-wfbench-" + std::to_string(getpid()) + ".";
  spec.store_url = "sqlite://" + dir + "/gale.db";
  auto node = BenchNode::Start(spec);
  if (!node.ok()) Fail(node.message());
  return std::move(node).value();
}

cli::ApiClient ApiOf(const BenchNode& node) {
  cli::ApiFlags flags;
  flags.url = FirstLine(fs::path(node.home()) / "api.addr");
  flags.key = FirstLine(fs::path(node.home()) / "api.token");
  return cli::ApiClient(flags);
}

// Single executions of `core.local true`, one after the other, after a warm-up: their latencies.
std::vector<double> Singles(cli::ApiClient& api, int n) {
  const Json true_cmd = {{"cmd", "true"}};
  for (int i = 0; i < 3; ++i) RunOnce(api, "core.local", true_cmd);
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    Json e = RunOnce(api, "core.local", true_cmd);
    if (e.value("status", "") != "succeeded") Fail("core.local true: " + e.dump());
    ms.push_back(LatencyMs(e));
  }
  return ms;
}

// How long k items took to complete early on and at the end: the k completions after the first
// wave (the first `concurrency` items are requested at once and end together, which says nothing
// of the rate), and the last k. At a steady rate both take the same time; a state that slows
// each step as it grows makes the last ones slower.
struct FirstLast {
  size_t first_from = 0;  // the early window: completions first_from+1 .. first_from+k
  double first_ms = 0;
  double last_ms = 0;
};
FirstLast FirstAndLast(const std::vector<Json>& items, size_t k, size_t concurrency) {
  std::vector<int64_t> finished;
  for (const auto& e : items) finished.push_back(e.value("finished_at", int64_t{0}));
  std::sort(finished.begin(), finished.end());
  const size_t n = finished.size();
  if (k == 0 || n <= k) return {};
  // After the first wave when there are enough items; else from the first completion.
  const size_t from = n >= concurrency + 2 * k ? concurrency : 0;
  return {from, static_cast<double>(finished[from + k - 1] - finished[from == 0 ? 0 : from - 1]),
          static_cast<double>(finished[n - 1] - finished[n - 1 - k])};
}

int ItemsMode(int n, int concurrency, int singles) {
  auto dir = MakeTempDir();
  if (!dir.ok()) Fail(dir.message());
  WriteItemsPack(fs::path(*dir) / "packs");
  auto node = StartNode(*dir);
  cli::ApiClient api = ApiOf(*node);
  const pid_t pid = node->pid();
  const std::vector<double> single_ms = Singles(api, singles);
  const double single_p50 = Percentile(single_ms, 0.5);
  const long hwm_before = PeakRssKib(pid);
  const long rss_before = MemoryOf(pid).rss_kib;

  Json list = Json::array();
  for (int i = 0; i < n; ++i) list.push_back(i);
  Json body = {{"action", "wfbench.items"},
               {"parameters", {{"items", list}, {"conc", concurrency}}}};
  auto created = api.Call("POST", "/v1/executions", &body);
  if (!created.ok() || created->status != 201) {
    std::string notes;  // why the pack may have been refused
    std::istringstream log(node->Log());
    for (std::string line; std::getline(log, line);) {
      if (line.find("wfbench") != std::string::npos) notes += "\n" + line;
    }
    Fail("POST wfbench.items: " + (created.ok() ? created->body : created.message()) + notes);
  }
  const std::string id = created->json().value("id", "");
  // Polled through the list (one record), not GET /v1/executions/ID, which reads every child.
  const auto deadline = Clock::now() + std::chrono::minutes(20);
  // The workflow's state document, read from the node's store about once a second: what every
  // step loads, copies and writes back (the largest seen, and the last before the end).
  auto state_store = store::OpenStore("sqlite://" + *dir + "/gale.db");
  size_t state_max = 0, state_last = 0;
  bool finished = false;
  for (int poll = 0; !finished && Clock::now() < deadline; ++poll) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (state_store.ok() && poll % 10 == 0) {
      auto kv =
          (*state_store)->GetKey({store::StateKey(id), store::KeyScope::kGale, ""}, store::NowMs());
      if (kv.ok() && *kv) {
        state_last = (*kv)->value.size();
        state_max = std::max(state_max, state_last);
      }
    }
    auto got = api.Call("GET", "/v1/executions?action=wfbench.items&limit=5");
    if (!got.ok() || got->status != 200) continue;
    for (const auto& e : got->json()) {
      if (e.value("id", "") == id && e.value("finished_at", int64_t{0}) > 0) finished = true;
    }
  }
  if (!finished) Fail("the with-items workflow " + id + " did not finish in 20 minutes");
  const long hwm_after = PeakRssKib(pid);
  const long rss_after = MemoryOf(pid).rss_kib;
  auto got = api.Call("GET", "/v1/executions/" + id);
  if (!got.ok() || got->status != 200) Fail("GET the with-items workflow " + id);
  const Json e = got->json();
  node->Stop();
  std::error_code ec;
  fs::remove_all(*dir, ec);
  if (e.value("status", "") != "succeeded") {
    Fail("the with-items workflow ended " + e.value("status", "") + ": " +
         e["result"].dump().substr(0, 2000));
  }
  std::vector<Json> items;
  for (const auto& c : e.value("children", Json::array())) items.push_back(c);
  if (items.size() != static_cast<size_t>(n)) {
    Fail(std::to_string(items.size()) + " item executions, not " + std::to_string(n));
  }
  const double total = LatencyMs(e);
  const double ideal = static_cast<double>(n) / concurrency * single_p50;
  const size_t k = std::min<size_t>(100, items.size() / 2);
  const FirstLast fl = FirstAndLast(items, k, static_cast<size_t>(concurrency));
  std::printf(
      "single execution (core.local true), requested to finished, %d runs: p50 %.1f ms, "
      "p90 %.1f ms\n",
      singles, single_p50, Percentile(single_ms, 0.9));
  std::printf(
      "with-items of %d items (core.local true) at concurrency %d, one orquesta workflow: "
      "%.0f ms, %.1f ms per item (%.2fx a single execution); ideal %d / %d x single = %.0f ms "
      "(%.2fx the ideal)\n",
      n, concurrency, total, total / n, total / n / single_p50, n, concurrency, ideal,
      total / ideal);
  std::printf(
      "items %zu-%zu completed in %.0f ms (%.0f items/s), the last %zu in %.0f ms (%.0f items/s); "
      "last / early %.2f\n",
      fl.first_from + 1, fl.first_from + k, fl.first_ms,
      fl.first_ms > 0 ? k * 1000.0 / fl.first_ms : 0.0, k, fl.last_ms,
      fl.last_ms > 0 ? k * 1000.0 / fl.last_ms : 0.0,
      fl.first_ms > 0 ? fl.last_ms / fl.first_ms : 0.0);
  std::printf("workflow state document: largest %.0f KB, last seen %.0f KB\n", state_max / 1000.0,
              state_last / 1000.0);
  std::printf(
      "node resident set: %.1f MiB before the workflow, %.1f MiB after; VmHWM %.1f MiB before, "
      "%.1f MiB after\n",
      rss_before / 1024.0, rss_after / 1024.0, hwm_before / 1024.0, hwm_after / 1024.0);
  std::printf(
      "target: with-items of %d items at concurrency %d completes: met (%.0f ms, per-item "
      "overhead %.1f ms over the ideal %.1f ms per item)\n",
      n, concurrency, total, (total - ideal) / n, ideal / n);
  return 0;
}

}  // namespace
}  // namespace gale::bench

int main(int argc, char** argv) {
  using namespace gale;
  using namespace gale::bench;
  if (argc > 1 && std::string(argv[1]) == "items") {
    const int n = argc > 2 ? std::atoi(argv[2]) : 1000;
    const int concurrency = argc > 3 ? std::atoi(argv[3]) : 50;
    const int singles = argc > 4 ? std::atoi(argv[4]) : 30;
    if (n < 1 || concurrency < 1 || singles < 1) {
      Fail("usage: gale_workflow_bench items [ITEMS] [CONCURRENCY] [SINGLES]");
    }
    return ItemsMode(n, concurrency, singles);
  }
  const int links = argc > 1 ? std::atoi(argv[1]) : 100;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  const int singles = argc > 3 ? std::atoi(argv[3]) : 30;
  if (links < 1 || runs < 1 || singles < 1)
    Fail(
        "usage: gale_workflow_bench [LINKS] [RUNS] [SINGLES] | items [ITEMS] [CONCURRENCY] "
        "[SINGLES]");
  auto dir = MakeTempDir();
  if (!dir.ok()) Fail(dir.message());
  const fs::path packs = fs::path(*dir) / "packs";
  WritePack(packs, links);

  NodeSpec spec;
  spec.gale_binary = std::string(GALE_BINARY_DIR) + "/bin/gale";
  spec.name = "wfbench";
  spec.packs_paths = {std::string(GALE_BINARY_DIR) + "/packs", packs.string()};
  spec.topic_prefix = "gale-wfbench-" + std::to_string(getpid()) + ".";
  spec.store_url = "sqlite://" + *dir + "/gale.db";
  auto node = BenchNode::Start(spec);
  if (!node.ok()) Fail(node.message());
  cli::ApiFlags flags;
  flags.url = FirstLine(fs::path((*node)->home()) / "api.addr");
  flags.key = FirstLine(fs::path((*node)->home()) / "api.token");
  cli::ApiClient api(flags);

  // Warm-up (the first spawns fill caches), then single executions one after the other.
  const Json true_cmd = {{"cmd", "true"}};
  for (int i = 0; i < 3; ++i) RunOnce(api, "core.local", true_cmd);
  std::vector<double> single_ms;
  for (int i = 0; i < singles; ++i) {
    Json e = RunOnce(api, "core.local", true_cmd);
    if (e.value("status", "") != "succeeded") Fail("core.local true: " + e.dump());
    single_ms.push_back(LatencyMs(e));
  }
  const double single_p50 = Percentile(single_ms, 0.5);

  // The chains, one after the other, with the node's resident set sampled meanwhile.
  std::atomic<bool> sampling{true};
  std::atomic<long> peak_rss{0};
  const pid_t pid = (*node)->pid();
  std::thread sampler([&] {
    while (sampling) {
      const long rss = MemoryOf(pid).rss_kib;
      if (rss > peak_rss) peak_rss = rss;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  const long rss_before = MemoryOf(pid).rss_kib;
  std::vector<double> chain_ms;
  // Where a link's time goes, from the tasks in the chains' results: the engine's step (the
  // previous link finished to this one requested) and the link itself (requested to finished).
  std::vector<double> step_ms, link_ms;
  for (int i = 0; i < runs; ++i) {
    Json e = RunOnce(api, "wfbench.chain", Json::object());
    if (e.value("status", "") != "succeeded") Fail("wfbench.chain: " + e.dump().substr(0, 2000));
    chain_ms.push_back(LatencyMs(e));
    const Json tasks = e["result"].value("tasks", Json::array());
    for (size_t k = 0; k < tasks.size(); ++k) {
      link_ms.push_back(LatencyMs(tasks[k]));
      if (k > 0) {
        step_ms.push_back(static_cast<double>(tasks[k].value("requested_at", int64_t{0}) -
                                              tasks[k - 1].value("finished_at", int64_t{0})));
      }
    }
  }
  sampling = false;
  sampler.join();
  const long hwm = PeakRssKib(pid);
  (*node)->Stop();
  std::error_code ec;
  fs::remove_all(*dir, ec);

  const double chain_p50 = Percentile(chain_ms, 0.5);
  const double limit = 1.5 * links * single_p50;
  std::printf(
      "single execution (core.local true), requested to finished, %d runs: p50 %.1f ms, "
      "p90 %.1f ms\n",
      singles, single_p50, Percentile(single_ms, 0.9));
  std::printf("%d-link sequential action-chain, %d runs:", links, runs);
  for (double ms : chain_ms) std::printf(" %.0f ms", ms);
  std::printf("; p50 %.0f ms = %.1f ms per link (%.2fx a single execution)\n", chain_p50,
              chain_p50 / links, chain_p50 / links / single_p50);
  if (!step_ms.empty()) {
    std::printf(
        "per link: the engine's step (previous link finished to this one requested) p50 "
        "%.1f ms, p90 %.1f ms; the link (requested to finished) p50 %.1f ms, p90 %.1f ms\n",
        Percentile(step_ms, 0.5), Percentile(step_ms, 0.9), Percentile(link_ms, 0.5),
        Percentile(link_ms, 0.9));
  }
  std::printf(
      "node resident set: %.1f MiB before the chains, peak %.1f MiB while they ran "
      "(sampled every 50 ms; VmHWM since start %.1f MiB)\n",
      rss_before / 1024.0, peak_rss.load() / 1024.0, hwm / 1024.0);
  std::printf(
      "target: %d-link action-chain <= 1.5 x %d x single-execution latency (%.0f ms): "
      "%s (ratio %.2f of the limit)\n",
      links, links, limit, chain_p50 <= limit ? "met" : "missed", chain_p50 / limit);
  return 0;
}

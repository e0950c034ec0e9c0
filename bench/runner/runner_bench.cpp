// The runner against the physical limit, measured in the same run:
//   1. spawn-to-exit latency of core.local's command (`/bin/sh -c /bin/true`) through the
//      sandbox with the settings the runner plans for it, against bare fork+execve+waitpid of
//      the same command;
//   2. executions per second through the whole runner (request on the embedded bus -> claim in
//      a SQLite store -> sandboxed process -> result recorded) with `max_concurrency` slots,
//      against bare fork+exec of the same command by as many threads.
//
//   3. with `policy`: the same throughput again with an action.concurrency policy of threshold 60
//      on core.local (issue 22: the policy check adds at most 10% to the per-execution cost),
//      in three rounds that alternate without and with it, each on fresh stores and topics,
//      and the median of the rounds' cost ratios.
//
//   gale_runner_bench [executions] [max_concurrency] [policy]   (default 2000 and 8)
//   BENCH_NO_CGROUP=1 gale_runner_bench ...            (sandbox without cgroups, to see their cost)
//   BENCH_SYNC=normal gale_runner_bench ...            (SQLite synchronous=NORMAL instead of a
//                                                       node's default FULL)
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "bench/machine.h"
#include "bench/timing.h"
#include "host/bus/bus.h"
#include "host/common/uuid.h"
#include "host/packs/catalog.h"
#include "host/runner/launch.h"
#include "host/runner/runner_service.h"
#include "host/store/open.h"
#include "sandbox/process.h"

extern char** environ;

namespace {

using gale::bench::Clock;
using gale::bench::Micros;
using gale::bench::Percentile;
using namespace gale;

const std::vector<std::string> kArgv = {"/bin/sh", "-c", "/bin/true"};

bool BareForkExec() {
  std::vector<char*> argv;
  for (const auto& a : kArgv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    execve(argv[0], argv.data(), environ);
    _exit(127);
  }
  int status = 0;
  return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
         WEXITSTATUS(status) == 0;
}

double BareThroughput(int total, int threads) {
  std::atomic<int> left{total};
  auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      while (left.fetch_sub(1) > 0) BareForkExec();
    });
  }
  for (auto& w : workers) w.join();
  return total / std::chrono::duration<double>(Clock::now() - start).count();
}

void Fail(const std::string& what) {
  std::fprintf(stderr, "gale_runner_bench: %s\n", what.c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  const int executions = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int slots = argc > 2 ? std::atoi(argv[2]) : 8;
  spdlog::set_level(spdlog::level::warn);
  std::printf("machine: %s\n", gale::bench::Machine().c_str());

  // The action exactly as the runner would run it.
  auto catalog =
      packs::Catalog::Load({std::string(GALE_BINARY_DIR) + "/packs"}, {.inspect_libraries = false});
  sandbox::Settings defaults;
  if (std::getenv("BENCH_NO_CGROUP")) defaults.cgroup = sandbox::CgroupMode::kOff;
  auto actions = runner::ActionIndex::FromCatalog(catalog, defaults);
  const runner::RunnableAction* local = actions->Find("core.local");
  if (local == nullptr) Fail("core.local not found under " GALE_BINARY_DIR "/packs");
  const gale::Json params = {{"cmd", "/bin/true"}};
  auto launch = runner::PlanLaunch(*local, params, {"", "bench"});
  if (!launch.ok()) Fail(launch.message());

  // 1. Latency, interleaved so both see the same machine state.
  const int rounds = 300;
  std::vector<double> bare, boxed;
  for (int i = 0; i < rounds + 20; ++i) {
    auto t0 = Clock::now();
    if (!BareForkExec()) Fail("bare fork/exec failed");
    auto t1 = Clock::now();
    auto outcome = sandbox::RunSandboxed(launch->command, launch->settings);
    auto t2 = Clock::now();
    if (!outcome.Succeeded()) Fail("sandboxed run failed: " + outcome.Describe());
    if (i < 20) continue;
    bare.push_back(Micros(t1 - t0));
    boxed.push_back(Micros(t2 - t1));
  }
  std::printf("\nspawn-to-exit of `/bin/sh -c /bin/true`, %d rounds\n", rounds);
  std::printf("%-34s %9s %9s %8s %8s\n", "mode", "p50 us", "p99 us", "x p50", "x p99");
  const double b50 = Percentile(bare, 0.5), b99 = Percentile(bare, 0.99);
  std::printf("%-34s %9.0f %9.0f %8.2f %8.2f\n", "bare fork+execve+waitpid", b50, b99, 1.0, 1.0);
  std::printf("%-34s %9.0f %9.0f %8.2f %8.2f\n", "runner sandbox (core.local)",
              Percentile(boxed, 0.5), Percentile(boxed, 0.99), Percentile(boxed, 0.5) / b50,
              Percentile(boxed, 0.99) / b99);

  // 2. Throughput through the runner.
  auto broker = bus::EmbeddedBroker::Start();
  if (!broker.ok()) Fail(broker.message());
  const char* sync = std::getenv("BENCH_SYNC");
  const bool sync_full = sync == nullptr || std::string(sync) != "normal";
  std::printf("\nstore: sqlite, synchronous=%s\n", sync_full ? "FULL" : "NORMAL");
  const bool with_policy = argc > 3 && std::string(argv[3]) == "policy";
  auto throughput = [&](std::shared_ptr<const runner::ActionIndex> actions,
                        const std::string& prefix) -> std::pair<double, runner::RunnerStats> {
    bus::BusConfig config;
    config.brokers = (*broker)->bootstrap();
    config.embedded = true;
    config.topic_prefix = prefix;
    config.partitions = 6;
    if (Status s = bus::EnsureTopics(config, broker->get(), 1); !s.ok()) Fail(s.message());
    auto dir = std::filesystem::temp_directory_path() / ("gale-runner-bench-" + UuidV4());
    std::filesystem::create_directories(dir);
    store::StoreOptions sopts;
    // A node's default: every commit reaches the disk (group commit keeps that affordable).
    sopts.sqlite_sync_full = sync_full;
    auto st = store::OpenStore("sqlite://" + (dir / "gale.db").string(), sopts);
    if (!st.ok()) Fail(st.message());
    auto producer = bus::Producer::Create(config);
    if (!producer.ok()) Fail(producer.message());

    std::vector<std::string> ids;
    for (int i = 0; i < executions; ++i) {
      store::Execution e;
      e.id = UuidV4();
      e.action = "core.local";
      e.parameters = params;
      e.trace_id = e.id;
      e.requested_at = store::NowMs();
      if (!(*st)->CreateExecution(e).ok()) Fail("create execution");
      ids.push_back(e.id);
    }
    runner::RunnerOptions options;
    options.bus = config;
    options.store = st->get();
    options.node_name = "bench";
    options.max_concurrency = slots;
    auto service = runner::RunnerService::Create(options, actions);
    if (!service.ok()) Fail(service.message());
    if (Status s = (*service)->Start(); !s.ok()) Fail(s.message());
    std::this_thread::sleep_for(std::chrono::seconds(4));  // joined the group
    auto start = Clock::now();
    for (const auto& id : ids) {
      gale::Json req = {{"id", id},
                        {"action", "core.local"},
                        {"parameters", params},
                        {"trace_id", id},
                        {"requested_at", store::NowMs()}};
      if (!(*producer)->Produce(bus::Topic(config, bus::kExecutions), id, req.dump()).ok()) {
        Fail("produce");
      }
    }
    if (!(*producer)->Flush(std::chrono::seconds(30)).ok()) Fail("flush");
    for (;;) {
      auto stats = (*service)->stats();
      if (stats.succeeded + stats.failed + stats.timed_out >= static_cast<uint64_t>(executions)) {
        break;
      }
      if (Clock::now() - start > std::chrono::minutes(10)) Fail("executions did not finish");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const double runner_rate =
        executions / std::chrono::duration<double>(Clock::now() - start).count();
    auto stats = (*service)->stats();
    (*service)->Stop();
    std::filesystem::remove_all(dir);
    return {runner_rate, stats};
  };
  const auto [runner_rate, stats] = throughput(actions, "bench.");
  const double bare_rate = BareThroughput(executions, slots);
  std::printf("\n%d executions of core.local `/bin/true`, %d slots\n", executions, slots);
  std::printf("%-34s %12s %8s\n", "mode", "per second", "ratio");
  std::printf("%-34s %12.0f %8.2f\n", "bare fork+exec, same threads", bare_rate, 1.0);
  std::printf("%-34s %12.0f %8.2f\n", "runner (bus+claim+sandbox+store)", runner_rate,
              runner_rate / bare_rate);
  std::printf("(succeeded %llu, failed %llu, peak running %llu)\n",
              static_cast<unsigned long long>(stats.succeeded),
              static_cast<unsigned long long>(stats.failed),
              static_cast<unsigned long long>(stats.peak_running));
  if (with_policy) {
    // core.local under a threshold-60 concurrency policy (delay), from a pack of its own.
    auto pol = std::filesystem::temp_directory_path() / ("gale-runner-bench-pol-" + UuidV4());
    std::filesystem::create_directories(pol / "benchpol" / "policies");
    std::ofstream(pol / "benchpol" / "pack.yaml") << "---\nref: benchpol\nname: benchpol\n"
                                                     "version: 0.1.0\n";
    std::ofstream(pol / "benchpol" / "policies" / "local.yaml")
        << "---\nname: local\nresource_ref: core.local\npolicy_type: action.concurrency\n"
           "parameters: {action: delay, threshold: 60}\n";
    auto with = packs::Catalog::Load({std::string(GALE_BINARY_DIR) + "/packs", pol.string()},
                                     {.inspect_libraries = false});
    auto policed = runner::ActionIndex::FromCatalog(with, defaults);
    if (policed->policies().For("core.local").empty()) Fail("the bench policy did not load");
    // Rounds alternate without and with the policy, so that both see the same machine; the
    // median of the rounds' ratios is the figure (one round's noise is larger than the cost).
    constexpr int kRounds = 3;
    std::vector<double> ratios;
    double policy_rate = 0;
    runner::RunnerStats policy_stats;
    for (int round = 0; round < kRounds; ++round) {
      const std::string tag = std::to_string(round);
      const double without =
          round == 0 ? runner_rate : throughput(actions, "bench-r" + tag + ".").first;
      std::tie(policy_rate, policy_stats) = throughput(policed, "bench-policy" + tag + ".");
      ratios.push_back(without / policy_rate);
      std::printf("%-34s %12.0f %8.2f  (round %d: without %.0f/s, cost ratio %.3f)\n",
                  "runner, concurrency policy (60)", policy_rate, policy_rate / bare_rate,
                  round + 1, without, ratios.back());
    }
    std::filesystem::remove_all(pol);
    std::printf("(last round: succeeded %llu, peak running %llu)\n",
                static_cast<unsigned long long>(policy_stats.succeeded),
                static_cast<unsigned long long>(policy_stats.peak_running));
    std::sort(ratios.begin(), ratios.end());
    const double ratio = ratios[ratios.size() / 2];
    std::printf(
        "target: policy check: %s (per-execution cost with the policy / without, median "
        "of %d rounds: %.3f; issue 22: <= 1.10)\n",
        ratio <= 1.10 ? "met" : "missed", kRounds, ratio);
  }
  return 0;
}

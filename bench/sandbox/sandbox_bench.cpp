// Spawn-to-exit latency of /bin/true: bare posix_spawn and fork/execve (+ waitpid) against
// Process::Spawn with each seccomp profile, with and without the execution's namespaces, cgroups
// and the drop to the action user, in the same run. Prints the machine, p50/p99, the ratio to
// bare posix_spawn, the CPU this process (the node's side) spent per spawn, and whether the
// shipped default isolation meets issue 20's target (<= 1.3x bare posix_spawn at p50). A few
// seconds in total.
//
// Then, unless a mode is chosen, throughput at a fixed concurrency (issue 20's node target is
// counted against bare posix_spawn of `/bin/sh -c true` at the same concurrency): executions per
// second and the node side's CPU per execution.
//
//   gale_sandbox_bench [iterations] [mode-substring]   (default 300 per mode, every mode)
#include <pwd.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "bench/machine.h"
#include "bench/timing.h"
#include "sandbox/process.h"

extern char** environ;

namespace {

using gale::bench::Clock;
using gale::bench::Micros;
using gale::bench::Percentile;
using gale::sandbox::CgroupMode;
using gale::sandbox::Command;
using gale::sandbox::Outcome;
using gale::sandbox::Process;
using gale::sandbox::SeccompProfile;
using gale::sandbox::Settings;

constexpr const char* kTrue = "/bin/true";

// When the caller had its result: waitpid returned, or the completion handler ran (work the
// sandbox does after that, such as removing the cgroup, is not latency anyone waits for).
Clock::time_point g_done_at;

bool BarePosixSpawn() {
  pid_t pid = 0;
  char* argv[] = {const_cast<char*>(kTrue), nullptr};
  if (posix_spawn(&pid, kTrue, nullptr, nullptr, argv, environ) != 0) return false;
  int status = 0;
  bool ok = waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  g_done_at = Clock::now();
  return ok;
}

bool BareForkExec() {
  char* argv[] = {const_cast<char*>(kTrue), nullptr};
  pid_t pid = fork();
  if (pid == 0) {
    execve(kTrue, argv, environ);
    _exit(127);
  }
  if (pid < 0) return false;
  int status = 0;
  bool ok = waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  g_done_at = Clock::now();
  return ok;
}

struct Mode {
  std::string name;
  std::function<bool()> run;
};

// CPU time of the calling thread (the bench runs the io_context on it: the node's side of a
// spawn, without the spawner, keeper and action processes).
double ThreadCpuMicros() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec +
         ru.ru_stime.tv_usec;
}

constexpr double kTargetRatio = 1.3;
constexpr int kConcurrency = 8;
constexpr auto kThroughputRun = std::chrono::seconds(3);

double ProcessCpuMicros() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec +
         ru.ru_stime.tv_usec;
}

// `/bin/sh -c true` by posix_spawn+waitpid on kConcurrency threads: completions per second.
double BareThroughput() {
  std::atomic<long> done{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int t = 0; t < kConcurrency; ++t) {
    threads.emplace_back([&] {
      char* argv[] = {const_cast<char*>("/bin/sh"), const_cast<char*>("-c"),
                      const_cast<char*>("true"), nullptr};
      while (!stop) {
        pid_t pid = 0;
        if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, environ) != 0) continue;
        int status = 0;
        waitpid(pid, &status, 0);
        ++done;
      }
    });
  }
  std::this_thread::sleep_for(kThroughputRun);
  stop = true;
  for (auto& t : threads) t.join();
  return done / (Micros(Clock::now() - start) / 1e6);
}

// The same through Process::Spawn with `settings`, kConcurrency in flight on an io_context run
// by two threads (a node's runner). Returns completions per second; `cpu_per_exec` gets this
// process's CPU (the node side) per execution.
double SandboxThroughput(const Settings& settings, double& cpu_per_exec, long& failed) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::atomic<long> done{0}, bad{0};
  std::atomic<bool> stop{false};
  std::atomic<int> in_flight{0};
  std::function<void()> start_one = [&] {
    ++in_flight;
    Process::Spawn(io, Command{{"/bin/sh", "-c", "true"}, {}}, settings, {}, [&](const Outcome& o) {
      ++done;
      if (!o.Succeeded()) ++bad;
      --in_flight;
      if (!stop) start_one();
    });
  };
  double cpu0 = ProcessCpuMicros();
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) threads.emplace_back([&] { io.run(); });
  for (int i = 0; i < kConcurrency; ++i) boost::asio::post(io, start_one);
  std::this_thread::sleep_for(kThroughputRun);
  stop = true;
  long counted = done;
  double seconds = Micros(Clock::now() - start) / 1e6;
  double cpu = ProcessCpuMicros() - cpu0;
  while (in_flight > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  guard.reset();
  for (auto& t : threads) t.join();
  cpu_per_exec = counted > 0 ? cpu / counted : 0;
  failed = bad;
  return counted / seconds;
}
constexpr const char* kShippedDefault = "sandbox, shipped default (+ cgroups)";

}  // namespace

int main(int argc, char** argv) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 300;
  if (iterations < 10) iterations = 10;
  const std::string only = argc > 2 ? argv[2] : "";

  std::printf("machine: %s, uid=%d\n", gale::bench::Machine().c_str(), static_cast<int>(geteuid()));
  std::printf("workload: %s, %d rounds over all modes (round-robin) after 20 warm-up rounds\n\n",
              kTrue, iterations);

  boost::asio::io_context io;
  // Namespaces (PID+mount+IPC, plus network without network) and the drop to the action user
  // are what a root node gives every execution; the "no ns" rows measure what they cost.
  struct Variant {
    SeccompProfile profile;
    CgroupMode cgroup = CgroupMode::kOff;
    bool namespaces = true;
    std::string user;
  };
  auto sandboxed = [&io](Variant v) {
    return [&io, v] {
      Settings s;
      s.profile = v.profile;
      s.cgroup = v.cgroup;
      s.namespaces = v.namespaces;
      s.user = v.user;
      bool ok = false;
      Process::Spawn(io, Command{{kTrue}, {}}, s, {}, [&ok](const Outcome& o) {
        g_done_at = Clock::now();
        ok = o.Succeeded();
      });
      io.restart();
      io.run();
      return ok;
    };
  };
  // The shipped default drops to gale-action (scripts/setup creates it) when the node is root.
  const std::string user = geteuid() == 0 && getpwnam("gale-action") ? "gale-action" : "";
  std::vector<Mode> modes = {
      {"bare posix_spawn+waitpid", BarePosixSpawn},
      {"bare fork+execve+waitpid", BareForkExec},
      {"sandbox, no seccomp, no ns", sandboxed({SeccompProfile::kNone, CgroupMode::kOff, false})},
      {"sandbox, default, no ns", sandboxed({SeccompProfile::kDefault, CgroupMode::kOff, false})},
      {"sandbox, default + pid/mnt/ipc ns", sandboxed({SeccompProfile::kDefault})},
      {"sandbox, default + ns + user",
       sandboxed({SeccompProfile::kDefault, CgroupMode::kOff, true, user})},
      {"sandbox, no-network + net ns", sandboxed({SeccompProfile::kNoNetwork})},
      {"sandbox, strict + net ns", sandboxed({SeccompProfile::kStrict})},
      {"sandbox, default + ns + cgroups", sandboxed({SeccompProfile::kDefault, CgroupMode::kAuto})},
      // What a root node gives every execution out of the box (Settings' defaults: profile
      // default, namespaces, cgroup auto) with the drop to gale-action.
      {kShippedDefault, sandboxed({SeccompProfile::kDefault, CgroupMode::kAuto, true, user})},
  };
  if (!only.empty()) {
    std::erase_if(modes, [&](const Mode& m) {
      return m.name != modes[0].name && m.name.find(only) == std::string::npos;
    });
  }

  // Round-robin: on a shared machine, background load then hits every mode alike.
  std::vector<std::vector<double>> samples(modes.size());
  std::vector<int> failures(modes.size(), 0);
  std::vector<double> cpu(modes.size(), 0);
  auto start_all = Clock::now();
  for (int i = -20; i < iterations; ++i) {  // the first 20 rounds warm up
    for (std::size_t m = 0; m < modes.size(); ++m) {
      auto t0 = Clock::now();
      double c0 = ThreadCpuMicros();
      bool ok = modes[m].run();
      if (i < 0) continue;
      samples[m].push_back(Micros(g_done_at - t0));
      cpu[m] += ThreadCpuMicros() - c0;
      if (!ok) ++failures[m];
    }
  }
  double base_p50 = Percentile(samples[0], 0.50), base_p99 = Percentile(samples[0], 0.99);
  std::printf("%-37s %9s %9s %7s %7s %12s\n", "mode", "p50 us", "p99 us", "x p50", "x p99",
              "node cpu us");
  double target_ratio = -1;
  for (std::size_t m = 0; m < modes.size(); ++m) {
    double p50 = Percentile(samples[m], 0.50), p99 = Percentile(samples[m], 0.99);
    std::string failed =
        failures[m] ? " (" + std::to_string(failures[m]) + " failed)" : std::string();
    std::printf("%-37s %9.0f %9.0f %7.2f %7.2f %12.0f%s\n", modes[m].name.c_str(), p50, p99,
                p50 / base_p50, p99 / base_p99, cpu[m] / iterations, failed.c_str());
    if (modes[m].name == kShippedDefault && failures[m] == 0) target_ratio = p50 / base_p50;
  }
  std::printf("\ntotal %.1f s\n", Micros(Clock::now() - start_all) / 1e6);
  if (target_ratio > 0) {
    std::printf(
        "target: sandboxed spawn (shipped default isolation) <= %.1fx bare posix_spawn: %s "
        "(ratio %.2f)\n",
        kTargetRatio, target_ratio <= kTargetRatio ? "met" : "missed", target_ratio);
  } else if (only.empty() || std::string(kShippedDefault).find(only) != std::string::npos) {
    std::printf(
        "target: sandboxed spawn (shipped default isolation) <= %.1fx bare posix_spawn: missed "
        "(its spawns failed)\n",
        kTargetRatio);
  }

  if (only.empty()) {
    Settings shipped;
    shipped.user = user;
    double bare = BareThroughput();
    double cpu_per_exec = 0;
    long failed = 0;
    double sandboxed = SandboxThroughput(shipped, cpu_per_exec, failed);
    std::printf(
        "\nthroughput, /bin/sh -c true, %d in flight, %lld s each:\n"
        "  bare posix_spawn+waitpid (%d threads)     %8.0f /s\n"
        "  sandbox, shipped default (2 io threads)   %8.0f /s  (%.2fx bare; node side %.0f us "
        "CPU per execution%s)\n",
        kConcurrency, static_cast<long long>(kThroughputRun.count()), kConcurrency, bare, sandboxed,
        sandboxed / bare, cpu_per_exec,
        failed ? (", " + std::to_string(failed) + " failed").c_str() : "");
  }
  return 0;
}

// Spawn-to-exit latency of /bin/true: bare posix_spawn and fork/execve (+ waitpid) against
// Process::Spawn with each seccomp profile, with and without the execution's namespaces and the
// drop to the action user, in the same run. Prints the machine, p50/p99 and the ratio to bare
// posix_spawn. A few seconds in total.
//
//   gale_sandbox_bench [iterations]   (default 300 per mode)
#include <pwd.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

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

bool BarePosixSpawn() {
  pid_t pid = 0;
  char* argv[] = {const_cast<char*>(kTrue), nullptr};
  if (posix_spawn(&pid, kTrue, nullptr, nullptr, argv, environ) != 0) return false;
  int status = 0;
  return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
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
  return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

struct Mode {
  std::string name;
  std::function<bool()> run;
};

}  // namespace

int main(int argc, char** argv) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 300;
  if (iterations < 10) iterations = 10;

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
      Process::Spawn(io, Command{{kTrue}, {}}, s, {},
                     [&ok](const Outcome& o) { ok = o.Succeeded(); });
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
  };

  // Round-robin: on a shared machine, background load then hits every mode alike.
  std::vector<std::vector<double>> samples(modes.size());
  std::vector<int> failures(modes.size(), 0);
  auto start_all = Clock::now();
  for (int i = -20; i < iterations; ++i) {  // the first 20 rounds warm up
    for (std::size_t m = 0; m < modes.size(); ++m) {
      auto t0 = Clock::now();
      bool ok = modes[m].run();
      if (i < 0) continue;
      samples[m].push_back(Micros(Clock::now() - t0));
      if (!ok) ++failures[m];
    }
  }
  double base_p50 = Percentile(samples[0], 0.50), base_p99 = Percentile(samples[0], 0.99);
  std::printf("%-34s %10s %10s %9s %9s\n", "mode", "p50 us", "p99 us", "x p50", "x p99");
  for (std::size_t m = 0; m < modes.size(); ++m) {
    double p50 = Percentile(samples[m], 0.50), p99 = Percentile(samples[m], 0.99);
    std::string failed =
        failures[m] ? " (" + std::to_string(failures[m]) + " failed)" : std::string();
    std::printf("%-34s %10.0f %10.0f %9.2f %9.2f%s\n", modes[m].name.c_str(), p50, p99,
                p50 / base_p50, p99 / base_p99, failed.c_str());
  }
  std::printf("\ntotal %.1f s\n", Micros(Clock::now() - start_all) / 1e6);
  return 0;
}

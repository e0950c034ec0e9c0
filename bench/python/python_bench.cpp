// Start-to-result of a hello-world python-script action (issue 19, item 10) against the
// interpreter's own start-up, measured in the same run, round-robin:
//   1. bare `/usr/bin/python3 -c pass` (posix_spawn + waitpid): the floor, what any Python costs;
//   2. the same command through the sandbox, with the settings the runner plans for the action;
//   3. the action itself, exactly as the runner runs it: PlanLaunch (parameters on stdin, the
//      shim's wrapper, the pack's Python), the sandbox, and FinishFromOutcome reading the result
//      block; timed from spawn to the parsed result.
// As root the sandbox drops to gale-action, as a root node's does. Prints p50/p90/p99, the ratio
// to (1), the CPU time a run costs (p50, the whole process tree: load-independent, unlike the
// wall time), and whether the target (p50 <= 60 ms) is met.
//
//   gale_python_bench [rounds]   (default 100 per mode, after 10 warm-up rounds)
#include <pwd.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "bench/machine.h"
#include "bench/timing.h"
#include "host/common/uuid.h"
#include "host/packs/catalog.h"
#include "host/runner/finish.h"
#include "host/runner/launch.h"
#include "sandbox/process.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using gale::bench::Clock;
using gale::bench::Micros;
using gale::bench::Percentile;
using namespace gale;

constexpr double kTargetP50Ms = 60;
// The action's parameters as the API would have filled them in (its default).
const Json kParams = {{"name", "world"}};

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "gale_python_bench: %s\n", what.c_str());
  std::exit(1);
}

// CPU time of the children reaped since the last call (user + system, ms).
double ChildrenCpuMs() {
  static double last = 0;
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  const double now = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                     (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
  const double delta = now - last;
  last = now;
  return delta;
}

double TreeCpuMs(const sandbox::Outcome& o) {
  return static_cast<double>(o.usage.cpu_user_ms + o.usage.cpu_system_ms);
}

bool BarePythonPass(double* cpu_ms) {
  ChildrenCpuMs();
  pid_t pid = 0;
  char* argv[] = {const_cast<char*>("/usr/bin/python3"), const_cast<char*>("-c"),
                  const_cast<char*>("pass"), nullptr};
  if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv, environ) != 0) return false;
  int status = 0;
  const bool ok = waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  *cpu_ms = ChildrenCpuMs();
  return ok;
}

// A pack in StackStorm's layout with one action, readable by the action user.
fs::path WriteHelloPack() {
  const fs::path root = fs::temp_directory_path() / ("gale-python-bench-" + UuidV4());
  const fs::path pack = root / "pybench";
  fs::create_directories(pack / "actions");
  std::ofstream(pack / "pack.yaml") << "---\nref: pybench\nname: pybench\n"
                                       "description: hello world in Python\nversion: 0.1.0\n"
                                       "author: Gale bench\n";
  std::ofstream(pack / "actions" / "hello.yaml")
      << "---\nname: hello\npack: pybench\nrunner_type: python-script\nentry_point: hello.py\n"
         "parameters:\n  name: {type: string, default: world}\n";
  std::ofstream(pack / "actions" / "hello.py")
      << "from st2common.runners.base_action import Action\n\n\n"
         "class Hello(Action):\n    def run(self, name):\n        return 'hello ' + name\n";
  for (const fs::path& p : {root, pack, pack / "actions"}) chmod(p.c_str(), 0755);
  return root;
}

struct Mode {
  std::string name;
  std::function<bool(double* cpu_ms)> run;  // sets the CPU time the run cost
  std::vector<double> ms;
  std::vector<double> cpu_ms;
  int failed = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const int rounds = std::max(10, argc > 1 ? std::atoi(argv[1]) : 100);
  spdlog::set_level(spdlog::level::warn);
  const std::string user = geteuid() == 0 && getpwnam("gale-action") ? "gale-action" : "";
  std::printf("machine: %s, uid=%d, actions run as %s\n", gale::bench::Machine().c_str(),
              static_cast<int>(geteuid()), user.empty() ? "this user" : user.c_str());

  const fs::path root = WriteHelloPack();
  auto catalog = packs::Catalog::Load({root.string()}, {.inspect_libraries = false});
  for (const auto& p : catalog.packs()) {
    if (!p.ok()) Fail(p.ref + ": " + (p.errors.empty() ? "" : p.errors.front()));
  }
  sandbox::Settings defaults;  // the node's defaults: default profile, namespaces, cgroups
  defaults.user = user;
  auto actions = runner::ActionIndex::FromCatalog(catalog, defaults);
  const runner::RunnableAction* hello = actions->Find("pybench.hello");
  if (hello == nullptr) Fail("pybench.hello did not load");
  const runner::LaunchContext ctx{"", "bench", std::string(GALE_BINARY_DIR) + "/share/gale/python"};
  auto plan = runner::PlanLaunch(*hello, kParams, ctx);
  if (!plan.ok()) Fail(plan.message());
  sandbox::Command pass_cmd{{"/usr/bin/python3", "-c", "pass"}, {}};

  std::vector<Mode> modes;
  modes.push_back({"bare python3 -c pass", BarePythonPass});
  modes.push_back({"sandbox, python3 -c pass", [&](double* cpu_ms) {
                     auto outcome = sandbox::RunSandboxed(pass_cmd, plan->settings);
                     *cpu_ms = TreeCpuMs(outcome);
                     return outcome.Succeeded();
                   }});
  modes.push_back({"python-script hello (runner path)", [&](double* cpu_ms) {
                     // A plan per execution, as the runner makes (a fresh result delimiter).
                     auto launch = runner::PlanLaunch(*hello, kParams, ctx);
                     if (!launch.ok()) return false;
                     auto outcome = sandbox::RunSandboxed(launch->command, launch->settings);
                     *cpu_ms = TreeCpuMs(outcome);
                     auto finish = runner::FinishFromOutcome(*launch, outcome);
                     return finish.status == store::ExecStatus::kSucceeded &&
                            finish.result["result"] == "hello world";
                   }});
  {
    // One run shown in full, so a failure says why.
    auto outcome = sandbox::RunSandboxed(plan->command, plan->settings);
    auto finish = runner::FinishFromOutcome(*plan, outcome);
    if (finish.status != store::ExecStatus::kSucceeded)
      Fail("hello failed: " + finish.result.dump());
  }

  for (int i = -10; i < rounds; ++i) {
    for (auto& m : modes) {
      double cpu = 0;
      const auto t0 = Clock::now();
      const bool ok = m.run(&cpu);
      const double ms = Micros(Clock::now() - t0) / 1000;
      if (i < 0) continue;
      m.ms.push_back(ms);
      m.cpu_ms.push_back(cpu);
      if (!ok) ++m.failed;
    }
  }
  fs::remove_all(root);

  std::printf("\nstart-to-result, %d rounds per mode (round-robin, after 10 warm-up rounds)\n",
              rounds);
  std::printf("%-36s %8s %8s %8s %8s %8s %8s\n", "mode", "p50 ms", "p90 ms", "p99 ms", "x p50",
              "x p90", "cpu ms");
  const double b50 = Percentile(modes[0].ms, 0.5), b90 = Percentile(modes[0].ms, 0.9);
  for (const auto& m : modes) {
    const double p50 = Percentile(m.ms, 0.5), p90 = Percentile(m.ms, 0.9);
    std::printf("%-36s %8.1f %8.1f %8.1f %8.2f %8.2f %8.1f%s\n", m.name.c_str(), p50, p90,
                Percentile(m.ms, 0.99), p50 / b50, p90 / b90, Percentile(m.cpu_ms, 0.5),
                m.failed ? (" (" + std::to_string(m.failed) + " failed)").c_str() : "");
  }
  const double action_p50 = Percentile(modes.back().ms, 0.5);
  std::printf("\ntarget: python-script p50 <= %.0f ms: %s (%.1f ms, %.2fx python3 -c pass)\n",
              kTargetP50Ms, action_p50 <= kTargetP50Ms ? "met" : "MISSED", action_p50,
              action_p50 / b50);
  return modes.back().failed == 0 ? 0 : 1;
}

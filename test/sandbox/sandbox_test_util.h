// Helpers for the sandbox tests: run a command next to a "bystander" (the runner keeps serving
// other executions meanwhile), find every process of a run by a unique marker, check pids are
// gone.
#pragma once

#include <dirent.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "host/common/read_file.h"
#include "sandbox/process.h"

namespace gale::sandbox::testing {

inline std::string HostilePath() {
  return GALE_HOSTILE_PATH;
}

inline std::string NewMarker() {
  static std::atomic<int> n{0};
  std::random_device rd;
  return "gale-test-" + std::to_string(getpid()) + "-" + std::to_string(++n) + "-" +
         std::to_string(rd());
}

// argv for gale_hostile MODE ARGS... --marker MARKER
inline Command Hostile(const std::string& marker, std::vector<std::string> args) {
  Command c;
  c.argv = {HostilePath()};
  for (auto& a : args) c.argv.push_back(std::move(a));
  c.argv.push_back("--marker");
  c.argv.push_back(marker);
  return c;
}

// Live processes (not zombies) whose command line contains `marker`. readdir, not
// std::filesystem: entries vanish under a fork bomb, and the iterator would throw.
inline std::vector<pid_t> ProcessesWithMarker(const std::string& marker) {
  std::vector<pid_t> pids;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return pids;
  while (dirent* e = readdir(proc)) {
    const std::string name = e->d_name;
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string cmdline = ReadFileOrEmpty("/proc/" + name + "/cmdline");
    if (cmdline.find(marker) == std::string::npos) continue;
    std::string stat_line = ReadFileOrEmpty("/proc/" + name + "/stat");
    stat_line = stat_line.substr(0, stat_line.find('\n'));
    auto paren = stat_line.rfind(')');
    if (paren == std::string::npos || paren + 2 >= stat_line.size()) continue;  // gone meanwhile
    if (stat_line[paren + 2] == 'Z') continue;
    pids.push_back(static_cast<pid_t>(std::strtol(name.c_str(), nullptr, 10)));
  }
  closedir(proc);
  return pids;
}

// The pid does not exist any more (not even as a zombie).
inline bool Gone(pid_t pid) {
  return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
}

// The action's main process is gone. In a PID namespace of its own its pid is a number of that
// namespace, and the namespace ends with its init, the keeper.
inline bool MainGone(const Outcome& o) {
  return o.pid_namespace ? Gone(o.keeper_pid) : Gone(o.main_pid);
}

struct RunResult {
  std::optional<Outcome> outcome;
  std::vector<Outcome> bystanders;
  // Bystanders that completed while the hostile execution was still running.
  int bystanders_done_first = 0;
  // Largest number of marker processes seen while sampling (when enabled).
  std::size_t max_marker_processes = 0;
};

// Runs `command` and, meanwhile, a `/bin/echo alive` every 100 ms on the same io_context (the
// first right away). Stops at `deadline` (a hang guard, not a performance claim).
inline RunResult RunWithBystanders(Command command, const Settings& settings,
                                   std::chrono::seconds deadline = std::chrono::seconds(60),
                                   const std::string& sample_marker = "") {
  boost::asio::io_context io;
  RunResult result;
  bool done = false;
  Process::Spawn(io, std::move(command), settings, {}, [&](const Outcome& o) {
    result.outcome = o;
    done = true;
  });
  Settings bystander;
  bystander.timeout = std::chrono::seconds(30);
  boost::asio::steady_timer timer(io);
  int started = 0;
  std::function<void()> tick = [&] {
    if (done && started > 0) return;
    ++started;
    Process::Spawn(io, Command{{"/bin/echo", "alive"}, {}}, bystander, {}, [&](const Outcome& o) {
      result.bystanders.push_back(o);
      if (!done) ++result.bystanders_done_first;
    });
    if (!sample_marker.empty()) {
      result.max_marker_processes =
          std::max(result.max_marker_processes, ProcessesWithMarker(sample_marker).size());
    }
    timer.expires_after(std::chrono::milliseconds(100));
    timer.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) tick();
    });
  };
  tick();
  auto until = std::chrono::steady_clock::now() + deadline;
  while (!(done && result.bystanders.size() == static_cast<std::size_t>(started)) &&
         std::chrono::steady_clock::now() < until) {
    io.run_for(std::chrono::milliseconds(50));
  }
  timer.cancel();
  io.run_for(std::chrono::milliseconds(10));
  if (std::getenv("GALE_SANDBOX_TEST_VERBOSE") != nullptr && result.outcome) {
    Json j = result.outcome->ToJson();
    for (const char* k : {"stdout", "stderr"}) {
      if (j[k].get<std::string>().size() > 200) j[k] = j[k].get<std::string>().substr(0, 200);
    }
    std::fprintf(stderr,
                 "outcome: %s\nbystanders: %zu (%d while running), max processes seen: %zu\n",
                 j.dump().c_str(), result.bystanders.size(), result.bystanders_done_first,
                 result.max_marker_processes);
  }
  return result;
}

// Every bystander ran normally, and at least one finished while the hostile one was running
// when `expect_during` (for executions that last long enough).
inline void ExpectBystandersServed(const RunResult& r, bool expect_during) {
  ASSERT_FALSE(r.bystanders.empty());
  for (const auto& b : r.bystanders) {
    EXPECT_EQ(b.kind, OutcomeKind::kExited) << b.Describe();
    EXPECT_EQ(b.out.data, "alive\n");
  }
  if (expect_during) {
    EXPECT_GE(r.bystanders_done_first, 1);
  }
}

inline void ExpectNothingLeft(const Outcome& o, const std::string& marker) {
  if (o.keeper_pid > 0) {
    EXPECT_TRUE(Gone(o.keeper_pid)) << "keeper " << o.keeper_pid;
  }
  if (o.main_pid > 0) {
    EXPECT_TRUE(MainGone(o)) << "main " << o.main_pid;
  }
  EXPECT_TRUE(ProcessesWithMarker(marker).empty());
}

inline bool IsRoot() {
  return geteuid() == 0;
}

}  // namespace gale::sandbox::testing

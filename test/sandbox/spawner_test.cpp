// The spawner (sandbox/spawner.h): one long-lived process per node creates every execution's
// keeper; plans too large to travel inline still arrive whole; a spawner killed from outside is
// replaced, and the executions it had started still finish with their outcome.
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "host/common/read_file.h"
#include "sandbox/process.h"
#include "sandbox_test_util.h"

namespace gale::sandbox {
namespace {

using namespace std::chrono_literals;
using testing::Gone;

Settings SpawnerQuick() {
  Settings s;
  s.timeout = 30s;
  s.kill_grace = 500ms;
  return s;
}

// This process's children running `gale-keeper --spawner`.
std::vector<pid_t> Spawners() {
  std::vector<pid_t> found;
  DIR* tasks = opendir("/proc/self/task");
  if (tasks == nullptr) return found;
  while (dirent* t = readdir(tasks)) {
    if (t->d_name[0] < '0' || t->d_name[0] > '9') continue;
    std::string children =
        ReadFileOrEmpty(std::string("/proc/self/task/") + t->d_name + "/children");
    std::size_t pos = 0;
    while (pos < children.size()) {
      std::size_t end = children.find(' ', pos);
      if (end == std::string::npos) end = children.size();
      std::string pid = children.substr(pos, end - pos);
      pos = end + 1;
      if (pid.empty()) continue;
      std::string cmdline = ReadFileOrEmpty("/proc/" + pid + "/cmdline");
      if (cmdline.rfind(std::string("gale-keeper\0--spawner\0", 22), 0) == 0) {
        found.push_back(static_cast<pid_t>(std::stol(pid)));
      }
    }
  }
  closedir(tasks);
  return found;
}

bool EventuallyGone(pid_t pid) {
  for (int i = 0; i < 200 && !Gone(pid); ++i) std::this_thread::sleep_for(10ms);
  return Gone(pid);
}

TEST(Spawner, OneSpawnerServesEveryExecution) {
  ASSERT_TRUE(RunSandboxed(Command{{"/bin/true"}, {}}, SpawnerQuick()).Succeeded());
  std::vector<pid_t> first = Spawners();
  ASSERT_EQ(first.size(), 1u);
  for (int i = 0; i < 3; ++i) {
    Outcome o = RunSandboxed(Command{{"/bin/echo", std::to_string(i)}, {}}, SpawnerQuick());
    ASSERT_TRUE(o.Succeeded()) << o.Describe();
    EXPECT_EQ(o.out.data, std::to_string(i) + "\n");
    EXPECT_NE(o.keeper_pid, first[0]) << "each execution gets a keeper of its own";
  }
  EXPECT_EQ(Spawners(), first);
}

TEST(Spawner, ALargeCommandLineAndEnvironmentArriveWhole) {
  // Far over what travels inline in the request: the plan goes through a sealed memfd. (One
  // argument can hold at most 128 KiB.)
  Command c{
      {"/bin/sh", "-c",
       "for a; do printf %s \"$a\"; done | wc -c; printf %s \"$GALE_TEST_BIG\" | wc -c", "sh"},
      {}};
  for (int i = 0; i < 4; ++i) c.argv.push_back(std::string(50 * 1024, static_cast<char>('a' + i)));
  Settings s = SpawnerQuick();
  s.env["GALE_TEST_BIG"] = std::string(100 * 1024, 'b');
  Outcome o = RunSandboxed(c, s);
  ASSERT_TRUE(o.Succeeded()) << o.Describe() << o.err.data;
  EXPECT_EQ(o.out.data, std::to_string(4 * 50 * 1024) + "\n" + std::to_string(100 * 1024) + "\n");
}

TEST(Spawner, KilledFromOutsideItIsReplacedAndItsExecutionsStillFinish) {
  ASSERT_TRUE(RunSandboxed(Command{{"/bin/true"}, {}}, SpawnerQuick()).Succeeded());
  std::vector<pid_t> before = Spawners();
  ASSERT_EQ(before.size(), 1u);

  boost::asio::io_context io;
  std::optional<Outcome> running;
  Process::Spawn(io, Command{{"/bin/sh", "-c", "sleep 0.5; echo done"}, {}}, SpawnerQuick(), {},
                 [&](const Outcome& o) { running = o; });
  boost::asio::steady_timer timer(io, 100ms);
  timer.async_wait([&](const boost::system::error_code&) { kill(before[0], SIGKILL); });
  io.run_for(20s);

  // Its keeper outlived the spawner and still reported how the action ended.
  ASSERT_TRUE(running);
  EXPECT_EQ(running->kind, OutcomeKind::kExited) << running->Describe();
  EXPECT_EQ(running->exit_code, 0);
  EXPECT_EQ(running->out.data, "done\n");
  EXPECT_NE(running->note.find("spawner ended"), std::string::npos) << running->note;
  EXPECT_TRUE(EventuallyGone(running->keeper_pid));

  // The next execution gets a new spawner; the dead one is reaped.
  Outcome next = RunSandboxed(Command{{"/bin/echo", "again"}, {}}, SpawnerQuick());
  ASSERT_TRUE(next.Succeeded()) << next.Describe();
  EXPECT_EQ(next.out.data, "again\n");
  std::vector<pid_t> after = Spawners();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(after[0], before[0]);
  EXPECT_TRUE(Gone(before[0]));
}

// On an io_context run by several threads, executions that end at once leave nothing pending
// behind them (no timer armed after the end): once they are done the io_context runs dry.
TEST(Spawner, QuickExecutionsOnAThreadPoolLeaveNothingPending) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) threads.emplace_back([&] { io.run(); });
  // Started from completion handlers, as a runner does: Spawn then runs on one io thread while
  // the other may already be handling the new execution's end.
  constexpr int kCount = 500;
  constexpr int kInFlight = 8;
  std::atomic<int> started{0}, done{0}, ok{0};
  Settings s = SpawnerQuick();
  s.timeout = 600s;  // what a leftover timer would hold the io_context for
  std::function<void()> start_one = [&] {
    if (++started > kCount) return;
    Process::Spawn(io, Command{{"/bin/true"}, {}}, s, {}, [&](const Outcome& o) {
      if (o.Succeeded()) ++ok;
      ++done;
      start_one();
    });
  };
  for (int i = 0; i < kInFlight; ++i) boost::asio::post(io, start_one);
  for (int i = 0; i < 6000 && done < kCount; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(done.load(), kCount);
  EXPECT_EQ(ok.load(), kCount);
  guard.reset();
  auto drained = std::async(std::launch::async, [&] {
    for (auto& t : threads) t.join();
  });
  bool dry = drained.wait_for(30s) == std::future_status::ready;
  EXPECT_TRUE(dry) << "the io_context still had work after every execution ended";
  if (!dry) io.stop();
  drained.wait();
}

}  // namespace
}  // namespace gale::sandbox

// gale::Spawn: descriptors, environment, privilege drop and namespaces of helper processes.
#include "host/common/subprocess.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace gale {
namespace {

namespace fs = std::filesystem;

// Runs argv with `options` (stdout captured) to completion; returns its stdout.
std::string Output(const std::vector<std::string>& argv, SpawnOptions options, int* code) {
  int out[2];
  EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
  options.stdout_fd = out[1];
  auto pid = Spawn(argv, options);
  close(out[1]);
  std::string text;
  if (pid.ok()) {
    char buf[4096];
    ssize_t n;
    while ((n = read(out[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
    int status = 0;
    waitpid(*pid, &status, 0);
    *code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  } else {
    ADD_FAILURE() << pid.message();
  }
  close(out[0]);
  return text;
}

std::set<std::string> Lines(const std::string& text) {
  std::set<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.insert(line);
  return lines;
}

std::set<int> OpenDescriptors(pid_t pid) {
  std::set<int> fds;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    fds.insert(std::stoi(e.path().filename().string()));
  }
  return fds;
}

std::string Target(const std::string& link) {
  std::error_code ec;
  return fs::read_symlink(link, ec).string();
}

TEST(SpawnTest, ChildKeepsOnlyStdioAndTheGivenDescriptorsInOrder) {
  int leaked[2], kept_a[2], kept_b[2];
  ASSERT_EQ(pipe(leaked), 0);  // not close-on-exec, like Boost.Asio's sockets
  ASSERT_EQ(pipe2(kept_a, O_CLOEXEC), 0);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, kept_b), 0);
  SpawnOptions options;
  options.keep_fds = {kept_b[1], kept_a[0]};
  auto pid = Spawn({"/bin/sleep", "30"}, options);
  ASSERT_TRUE(pid.ok()) << pid.message();
  // Spawn returns once the program is exec'ed, when its dynamic loader may still hold a library
  // open (as fd 5); sleep itself opens nothing. A leaked descriptor would stay: wait for the set.
  const std::set<int> expected{0, 1, 2, 3, 4};
  std::set<int> open_fds;
  for (int i = 0; i < 500 && (open_fds = OpenDescriptors(*pid)) != expected; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(open_fds, expected);
  const std::string proc = "/proc/" + std::to_string(*pid) + "/fd/";
  EXPECT_EQ(Target(proc + "3"), Target("/proc/self/fd/" + std::to_string(kept_b[1])));
  EXPECT_EQ(Target(proc + "4"), Target("/proc/self/fd/" + std::to_string(kept_a[0])));
  kill(*pid, SIGKILL);
  waitpid(*pid, nullptr, 0);
  for (int fd : {leaked[0], leaked[1], kept_a[0], kept_a[1], kept_b[0], kept_b[1]}) close(fd);
}

TEST(SpawnTest, EnvironmentFromTheAllowListOnlyWhenAsked) {
  setenv("GALE_TEST_SECRET", "x", 1);
  setenv("LC_TEST_SPAWN", "kept", 1);
  SpawnOptions filtered;
  filtered.env_allow = HelperEnvAllowList();
  filtered.env_extra = {"EXTRA=1"};
  int code = -1;
  auto lines = Lines(Output({"/usr/bin/env"}, filtered, &code));
  EXPECT_EQ(code, 0);
  EXPECT_TRUE(lines.contains("EXTRA=1"));
  EXPECT_TRUE(lines.contains("LC_TEST_SPAWN=kept"));
  for (const auto& line : lines) {
    const std::string name = line.substr(0, line.find('='));
    EXPECT_TRUE(name == "EXTRA" || name == "PATH" || name == "LANG" || name == "LANGUAGE" ||
                name.rfind("LC_", 0) == 0 || name == "TZ" || name.ends_with("SAN_OPTIONS"))
        << line;
  }
  // Callers that do not filter keep the whole environment.
  lines = Lines(Output({"/usr/bin/env"}, SpawnOptions{}, &code));
  EXPECT_TRUE(lines.contains("GALE_TEST_SECRET=x"));
  unsetenv("GALE_TEST_SECRET");
  unsetenv("LC_TEST_SPAWN");
}

TEST(SpawnTest, SetupFailuresNameTheStep) {
  SpawnOptions options;
  options.keep_fds = {987};  // not open
  auto pid = Spawn({"/bin/true"}, options);
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.message(), "cannot run /bin/true: arranging descriptors: Bad file descriptor");
  pid = Spawn({"/nonexistent/program"});
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.message(), "cannot run /nonexistent/program: No such file or directory");
}

// nobody, or the user Gale's setup creates for actions.
Credentials Unprivileged() {
  passwd* pw = getpwnam("gale-action");
  if (pw == nullptr) pw = getpwnam("nobody");
  return pw ? Credentials{pw->pw_uid, pw->pw_gid} : Credentials{65534, 65534};
}

std::map<std::string, std::string> StatusFields(const std::string& text) {
  std::map<std::string, std::string> fields;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t") + 1);
    fields[line.substr(0, colon)] = value;
  }
  return fields;
}

TEST(SpawnTest, DropsToAUserWithNoCapabilitiesInItsOwnNamespaces) {
  if (geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root (privilege drop, namespaces)";
  const Credentials user = Unprivileged();
  SpawnOptions options;
  options.no_new_privs = true;
  options.drop_to = user;
  options.new_namespaces = true;
  int code = -1;
  const std::string out =
      Output({"/bin/sh", "-c",
              "cat /proc/self/status; echo \"Shell: $$\"; echo \"Processes: $(ls /proc | grep -c "
              "'^[0-9]')\"; kill -0 " +
                  std::to_string(getpid()) + " 2>/dev/null; echo \"Kill: $?\""},
             options, &code);
  EXPECT_EQ(code, 0) << out;
  auto f = StatusFields(out);
  const std::string uid = std::to_string(user.uid), gid = std::to_string(user.gid);
  EXPECT_EQ(f["Uid"], uid + "\t" + uid + "\t" + uid + "\t" + uid) << out;
  EXPECT_EQ(f["Gid"], gid + "\t" + gid + "\t" + gid + "\t" + gid) << out;
  EXPECT_EQ(f["Groups"], gid) << out;
  for (const char* cap : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
    EXPECT_EQ(f[cap], "0000000000000000") << cap;
  }
  EXPECT_EQ(f["NoNewPrivs"], "1");
  EXPECT_EQ(f["Shell"], "1") << "not PID 1 of a new namespace";
  // sh, the subshell of $(...), ls and grep: nothing outside the namespace is visible.
  EXPECT_LE(std::stoi(f["Processes"]), 4) << out;
  EXPECT_EQ(f["Kill"], "1") << "the test process is visible from the child";
}

TEST(SpawnTest, ANamespacedChildIsSignalledAndReapedByItsOuterPid) {
  if (geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root (namespaces)";
  SpawnOptions options;
  options.new_namespaces = true;
  auto pid = Spawn({"/bin/sleep", "30"}, options);
  ASSERT_TRUE(pid.ok()) << pid.message();
  EXPECT_EQ(kill(*pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(*pid, &status, 0), *pid);
  EXPECT_EQ(DescribeWaitStatus(status), "killed by signal 9 (SIGKILL)");
}

TEST(SpawnTest, ADropIsRefusedWithoutRoot) {
  if (geteuid() == 0) GTEST_SKIP() << "SKIPPED: runs as root (tests the refusal for non-root)";
  SpawnOptions options;
  options.drop_to = Unprivileged();
  auto pid = Spawn({"/bin/true"}, options);
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.message(), "spawn /bin/true: a privilege drop needs root");
}

}  // namespace
}  // namespace gale

// gale-keeper run by hand and with plans it must refuse: a clear usage line, and a bad plan
// reported on the report pipe as a setup failure of stage "keeper" (what the node turns into a
// not-started outcome), never a crash or a half-started action.
#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sandbox/child.h"

namespace gale::sandbox::internal {
namespace {

struct KeeperRun {
  int status = -1;
  std::string out;
  std::string err;
};

std::string Drain(int fd) {
  std::string data;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  return data;
}

// Runs gale-keeper with `args`; `inherit` descriptors keep their numbers.
KeeperRun Keeper(std::vector<std::string> args, std::vector<int> inherit = {}) {
  int out[2], err[2];
  EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
  EXPECT_EQ(pipe2(err, O_CLOEXEC), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  for (int fd : inherit) posix_spawn_file_actions_adddup2(&actions, fd, fd);
  args.insert(args.begin(), "gale-keeper");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  char* envp[] = {nullptr};
  pid_t pid = 0;
  EXPECT_EQ(posix_spawn(&pid, GALE_KEEPER_PATH, &actions, nullptr, argv.data(), envp), 0);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  close(err[1]);
  KeeperRun run;
  run.out = Drain(out[0]);
  run.err = Drain(err[0]);
  EXPECT_EQ(waitpid(pid, &run.status, 0), pid);
  return run;
}

int Memfd(const std::string& bytes) {
  int fd = memfd_create("plan", MFD_CLOEXEC);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  return fd;
}

// The keeper's first word on the report pipe, given `plan` bytes.
Record RecordFor(const std::string& plan, int& status) {
  int report[2];
  EXPECT_EQ(pipe2(report, O_CLOEXEC), 0);
  int plan_fd = Memfd(plan);
  KeeperRun run =
      Keeper({std::to_string(plan_fd), std::to_string(report[1])}, {plan_fd, report[1]});
  close(plan_fd);
  close(report[1]);
  std::string bytes = Drain(report[0]);
  status = run.status;
  Record r;
  r.magic = 0;
  EXPECT_GE(bytes.size(), sizeof(Record));
  if (bytes.size() >= sizeof(Record)) std::memcpy(&r, bytes.data(), sizeof(Record));
  return r;
}

TEST(Keeper, HelpAndBadArgumentsAreOneUsageText) {
  KeeperRun help = Keeper({"--help"});
  EXPECT_TRUE(WIFEXITED(help.status) && WEXITSTATUS(help.status) == 0);
  EXPECT_NE(help.out.find("usage: gale-keeper PLAN_FD REPORT_FD"), std::string::npos) << help.out;

  for (const auto& args :
       std::vector<std::vector<std::string>>{{}, {"3"}, {"x", "4"}, {"3", "-1"}, {"3", "4", "5"}}) {
    KeeperRun bad = Keeper(args);
    EXPECT_TRUE(WIFEXITED(bad.status) && WEXITSTATUS(bad.status) == 2);
    EXPECT_NE(bad.err.find("usage: gale-keeper"), std::string::npos) << bad.err;
  }
}

TEST(Keeper, GarbagePlanIsReportedAsAKeeperSetupFailure) {
  for (const std::string& plan :
       {std::string(), std::string("not a plan"), std::string(4096, '\xff')}) {
    int status = -1;
    Record r = RecordFor(plan, status);
    EXPECT_EQ(r.magic, kRecordMagic);
    EXPECT_EQ(r.type, RecordType::kSetupError);
    EXPECT_EQ(r.stage, Stage::kKeeper);
    EXPECT_EQ(r.error, EPROTO);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 127) << status;
  }
}

TEST(Keeper, PlanNamingAnotherReportPipeIsRefused) {
  // A valid plan whose report descriptor is not the one on the command line: refused before
  // anything runs (the action would report where nobody listens).
  std::vector<std::string> argv = {"/bin/true"};
  char* argv_ptrs[] = {argv[0].data(), nullptr};
  char* envp[] = {nullptr};
  ChildPlan plan;
  plan.report_fd = 1000;
  plan.exec_paths = {"/bin/true"};
  plan.argv = argv_ptrs;
  plan.envp = envp;
  int status = -1;
  Record r = RecordFor(EncodePlan(plan), status);
  EXPECT_EQ(r.type, RecordType::kSetupError);
  EXPECT_EQ(r.stage, Stage::kKeeper);
  EXPECT_EQ(r.error, EPROTO);
}

}  // namespace
}  // namespace gale::sandbox::internal

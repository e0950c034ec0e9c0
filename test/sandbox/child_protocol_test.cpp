// The plan the node sends each gale-keeper: what is encoded comes back whole, and anything this
// build did not write (truncated, extended, another version) is refused rather than misread.
#include <linux/filter.h>
#include <sys/resource.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sandbox/child.h"

namespace gale::sandbox::internal {
namespace {

struct Source {
  std::vector<sock_filter> notify = {{0x06, 0, 0, 0x7fff0000}, {0x20, 1, 2, 4}};
  std::vector<sock_filter> fallback = {{0x06, 0, 0, 0x00050001}};
  std::vector<std::string> argv = {"/bin/sh", "-c", "echo 'a b'", ""};
  std::vector<std::string> envp = {"PATH=/usr/bin", "SECRET=x=y"};
  std::vector<char*> argv_ptrs, envp_ptrs;
  std::string dir = "/tmp/work dir";
  ChildPlan plan;

  Source() {
    for (auto& a : argv) argv_ptrs.push_back(a.data());
    argv_ptrs.push_back(nullptr);
    for (auto& e : envp) envp_ptrs.push_back(e.data());
    envp_ptrs.push_back(nullptr);
    plan.control_fd = 11;
    plan.report_fd = 12;
    plan.cgroup_kill_fd = -1;
    plan.stdin_fd = 14;
    plan.stdout_fd = 15;
    plan.stderr_fd = 16;
    plan.cgroup_procs_fds = {17, 18};
    plan.rlimits = {{RLIMIT_CPU, {5, 6}}, {RLIMIT_AS, {RLIM_INFINITY, RLIM_INFINITY}}};
    plan.drop_privileges = true;
    plan.uid = 1234;
    plan.gid = 5678;
    plan.working_dir = dir.c_str();
    plan.notify_program = {static_cast<unsigned short>(notify.size()), notify.data()};
    plan.fallback_program = {static_cast<unsigned short>(fallback.size()), fallback.data()};
    plan.notif_size = 80;
    plan.notif_resp_size = 24;
    plan.kill_on_violation = true;
    plan.exec_paths = {"/usr/local/bin/sh", "/bin/sh"};
    plan.argv = argv_ptrs.data();
    plan.envp = envp_ptrs.data();
  }
};

std::vector<std::string> Strings(char* const* array) {
  std::vector<std::string> out;
  for (; *array != nullptr; ++array) out.emplace_back(*array);
  return out;
}

std::vector<unsigned> Words(const sock_fprog& program) {
  std::vector<unsigned> out;
  for (unsigned short i = 0; i < program.len; ++i) {
    const sock_filter& f = program.filter[i];
    out.insert(out.end(), {f.code, f.jt, f.jf, f.k});
  }
  return out;
}

TEST(ChildProtocol, PlanRoundTripsWhole) {
  Source src;
  DecodedPlan got;
  ASSERT_TRUE(DecodePlan(EncodePlan(src.plan), got));
  const ChildPlan& p = got.plan;
  EXPECT_EQ(p.control_fd, 11);
  EXPECT_EQ(p.report_fd, 12);
  EXPECT_EQ(p.cgroup_kill_fd, -1);
  EXPECT_EQ(p.stdin_fd, 14);
  EXPECT_EQ(p.stdout_fd, 15);
  EXPECT_EQ(p.stderr_fd, 16);
  EXPECT_EQ(p.cgroup_procs_fds, (std::vector<int>{17, 18}));
  ASSERT_EQ(p.rlimits.size(), 2u);
  EXPECT_EQ(p.rlimits[0].resource, RLIMIT_CPU);
  EXPECT_EQ(p.rlimits[0].value.rlim_cur, 5u);
  EXPECT_EQ(p.rlimits[0].value.rlim_max, 6u);
  EXPECT_EQ(p.rlimits[1].value.rlim_cur, RLIM_INFINITY);
  EXPECT_TRUE(p.drop_privileges);
  EXPECT_EQ(p.uid, 1234u);
  EXPECT_EQ(p.gid, 5678u);
  ASSERT_NE(p.working_dir, nullptr);
  EXPECT_STREQ(p.working_dir, "/tmp/work dir");
  EXPECT_EQ(Words(p.notify_program), Words(src.plan.notify_program));
  EXPECT_EQ(Words(p.fallback_program), Words(src.plan.fallback_program));
  EXPECT_EQ(p.notif_size, 80);
  EXPECT_EQ(p.notif_resp_size, 24);
  EXPECT_TRUE(p.kill_on_violation);
  ASSERT_EQ(p.exec_paths.size(), 2u);
  EXPECT_STREQ(p.exec_paths[0], "/usr/local/bin/sh");
  EXPECT_STREQ(p.exec_paths[1], "/bin/sh");
  EXPECT_EQ(Strings(p.argv), src.argv);
  EXPECT_EQ(Strings(p.envp), src.envp);
}

TEST(ChildProtocol, EmptyOptionalPartsStayEmpty) {
  Source src;
  src.plan.working_dir = nullptr;
  src.plan.notify_program = {0, nullptr};
  src.plan.fallback_program = {0, nullptr};
  src.plan.cgroup_procs_fds.clear();
  src.plan.rlimits.clear();
  src.envp_ptrs = {nullptr};
  src.plan.envp = src.envp_ptrs.data();
  DecodedPlan got;
  ASSERT_TRUE(DecodePlan(EncodePlan(src.plan), got));
  EXPECT_EQ(got.plan.working_dir, nullptr);
  EXPECT_EQ(got.plan.notify_program.len, 0);
  EXPECT_EQ(got.plan.fallback_program.len, 0);
  EXPECT_TRUE(got.plan.cgroup_procs_fds.empty());
  EXPECT_TRUE(got.plan.rlimits.empty());
  EXPECT_EQ(got.plan.envp[0], nullptr);
  EXPECT_EQ(Strings(got.plan.argv), src.argv);
}

TEST(ChildProtocol, EveryTruncationAndAnyExtraByteIsRefused) {
  Source src;
  const std::string bytes = EncodePlan(src.plan);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    DecodedPlan got;
    EXPECT_FALSE(DecodePlan(std::string_view(bytes).substr(0, n), got)) << "prefix of " << n;
  }
  DecodedPlan got;
  EXPECT_FALSE(DecodePlan(bytes + '\0', got));
}

TEST(ChildProtocol, AnotherVersionOrGarbageIsRefused) {
  Source src;
  std::string bytes = EncodePlan(src.plan);
  bytes[3] = static_cast<char>(bytes[3] + 1);  // the version byte of the magic
  DecodedPlan got;
  EXPECT_FALSE(DecodePlan(bytes, got));
  // Huge counts do not make the decoder reserve memory it was never sent.
  std::string garbage = EncodePlan(src.plan).substr(0, 4) + std::string(64, '\xff');
  DecodedPlan got2;
  EXPECT_FALSE(DecodePlan(garbage, got2));
}

}  // namespace
}  // namespace gale::sandbox::internal

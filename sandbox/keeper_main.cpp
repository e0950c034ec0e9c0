// gale-keeper: the per-execution sandbox supervisor (child.h) and the spawner that creates one
// for each execution (spawner.h). The node starts the spawner once:
//
//   gale-keeper --spawner SOCKET_FD
//
// and the spawner forks a keeper per execution, without exec. A single keeper can also be run
// from a plan (tests):
//
//   gale-keeper PLAN_FD REPORT_FD
//
// PLAN_FD is a sealed memfd holding the encoded ChildPlan; REPORT_FD is the report pipe, where a
// plan that cannot be read is reported like any other setup failure (stage "keeper"). Every
// other descriptor the plan names was inherited at its number in the node.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "sandbox/child.h"
#include "sandbox/spawner.h"

namespace {

constexpr const char* kUsage =
    "usage: gale-keeper PLAN_FD REPORT_FD\n"
    "       gale-keeper --spawner SOCKET_FD\n"
    "The sandbox supervisor Gale starts for each execution (see docs/security.md); it is not\n"
    "meant to be run by hand.\n";

bool ParseFd(const char* text, int& fd) {
  char* end = nullptr;
  errno = 0;
  long value = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value < 0 || value > 1 << 20) return false;
  fd = static_cast<int>(value);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace gale::sandbox::internal;
  if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  int socket_fd = -1;
  if (argc == 3 && std::strcmp(argv[1], "--spawner") == 0 && ParseFd(argv[2], socket_fd)) {
    SpawnerMain(socket_fd);
  }
  int plan_fd = -1, report_fd = -1;
  if (argc != 3 || !ParseFd(argv[1], plan_fd) || !ParseFd(argv[2], report_fd)) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string bytes;
  if (!ReadPlanFile(plan_fd, bytes)) FailSetup(report_fd, Stage::kKeeper, errno != 0 ? errno : EIO);
  // Static storage: KeeperMain never returns, and the action child reads the plan after clone.
  static DecodedPlan decoded;
  if (!DecodePlan(bytes, decoded) || decoded.plan.report_fd != report_fd) {
    // A node and a keeper from different builds, or not a plan at all.
    FailSetup(report_fd, Stage::kKeeper, EPROTO);
  }
  close(plan_fd);
  KeeperMain(decoded.plan);
}

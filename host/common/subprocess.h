// Starting Gale's own helper processes (sensor hosts, `gale pack validate`). Not a sandbox: the
// code they run is trusted host code; actions go through sandbox/ instead.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "host/common/result.h"

namespace gale {

struct SpawnOptions {
  std::vector<std::string> env_extra;  // "NAME=value" added to (or replacing in) this environ
  bool die_with_parent = true;         // PR_SET_PDEATHSIG(SIGKILL): no orphans
  bool new_process_group = true;       // signals to the group reach the child's children too
  int stdout_fd = -1;                  // dup2'ed onto stdout when >= 0
};

// fork + exec of argv[0] (a path). Only async-signal-safe calls run between fork and exec, so
// this is safe from a multi-threaded process. Errors carry the program and errno text.
Result<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnOptions& options = {});

// How a child ended, as text for logs: "exited with code 3", "killed by signal 11 (SIGSEGV)".
std::string DescribeWaitStatus(int status);

struct Captured {
  int exit_code = -1;  // 128 + signal when killed
  std::string stdout_text;
};
// Runs argv to completion (killing it after `timeout`) and returns its stdout.
Result<Captured> RunCapture(const std::vector<std::string>& argv,
                            std::chrono::milliseconds timeout);

}  // namespace gale

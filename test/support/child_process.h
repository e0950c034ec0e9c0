// A program started by a test that the test may kill (SIGKILL in the crash tests); killed and
// reaped when the object goes away.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace gale::testing {

class ChildProcess {
 public:
  ChildProcess(const std::string& program, const std::vector<std::string>& args);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Sends `sig`, reaps the child and returns its wait status (-1 if it was not running).
  int Signal(int sig);

 private:
  pid_t pid_ = -1;
};

// For the companion programs: blocks SIGTERM and SIGINT in the calling thread (call it before
// any thread starts, so that all inherit the mask) and returns the set for sigwait().
sigset_t BlockStopSignals();

}  // namespace gale::testing

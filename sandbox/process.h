// A sandboxed process, parent side, on Boost.Asio.
//
//   auto p = Process::Spawn(io, {.argv = {"/bin/sh", "-c", cmd}}, settings,
//                           [](Stream s, std::string_view chunk) { /* live output */ },
//                           [](const Outcome& o) { /* once, at the end */ });
//   ...
//   p->Cancel();  // execution canceled: TERM, grace, KILL
//
// What happens (child.h has the child side):
//   - Spawn prepares everything the children need (seccomp program, argv/envp, PATH candidates,
//     uid/gid, cgroups, pipes), then asks the node's spawner (spawner.h; gale-keeper started
//     once, created like posix_spawn does, so the node is never copied) to fork the keeper (as
//     root, in new PID, mount and IPC namespaces, plus network for profiles without network),
//     which creates the action child. Spawn returns once the spawner has said the keeper exists.
//   - stdout and stderr are read as they fill; each chunk goes to the output callback and into
//     the Outcome until `output_cap_bytes` per stream; the rest is read, counted and dropped
//     (Outcome::out/err.truncated), so a flood never blocks the program nor grows memory.
//   - The wall timer sends TERM to every process of the execution, then KILL after kill_grace.
//   - The Outcome carries how the main process ended, the tree's rusage, the capture and the
//     denied system calls.
// Nothing is left running or unreaped: the keeper kills whatever the main process leaves behind
// and reaps everything, and the spawner reaps the keeper and reports its exit and the tree's
// rusage before closing the execution's report pipe; completion waits for that. This process
// only ever reaps the spawner, by its pid (never waitpid(-1)), so it coexists with any other
// child handling in the node, provided that does not reap with waitpid(-1) either.
//
// Threading: all handlers run on a strand of `io`; the io_context may be run by several threads.
// Cancel() may be called from any thread. The completion handler is called exactly once (also
// for failures before anything was started: kNotStarted), on the strand, never from inside
// Spawn().
// Lifetime: the execution keeps itself alive until completion; the returned handle is only needed
// for Cancel(). If the io_context is destroyed before completion, the execution is killed and
// reaped synchronously.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "host/common/result.h"
#include "sandbox/outcome.h"
#include "sandbox/settings.h"

namespace gale::sandbox {

struct Command {
  // argv[0] is the program: a path (contains '/') or a name looked up in the child's PATH
  // (Settings::env, else the allowed inherited PATH, else /usr/local/bin:/usr/bin:/bin).
  std::vector<std::string> argv;
  // Bytes on the program's stdin (through a sealed memfd: no pipe to keep fed). nullopt:
  // /dev/null.
  std::optional<std::string> stdin_data;
};

// What isolation this node can give its executions (checked once at node start, so that the
// node can say in one line what it cannot give).
struct IsolationReport {
  bool root = false;        // privilege drop to the action user and empty capability sets
  bool namespaces = false;  // PID, mount, IPC (and network) namespaces could be created
  std::string namespaces_error;
};
IsolationReport ProbeIsolation();

class Process {
 public:
  // Called on the strand with each chunk of output, up to the cap per stream.
  using OutputCallback = std::function<void(Stream stream, std::string_view chunk)>;
  using CompletionHandler = std::function<void(const Outcome& outcome)>;

  // Never fails: errors arrive as a kNotStarted outcome (a missing gale-keeper too). The keeper
  // is started before it returns.
  static std::shared_ptr<Process> Spawn(boost::asio::io_context& io, Command command,
                                        Settings settings, OutputCallback on_output,
                                        CompletionHandler on_done);

  // Ends the execution (Outcome kCanceled): SIGTERM to every process, SIGKILL after kill_grace.
  // Thread-safe; no effect once the execution is ending or over.
  void Cancel();

  // The supervisor's pid in this process's PID namespace (0 if it was not started). For
  // diagnostics.
  pid_t keeper_pid() const;

  struct Impl;  // process.cpp
  explicit Process(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<Impl> impl_;
};

// The supervisor program every execution needs (gale-keeper beside this program, else in
// ../libexec/gale), or an error naming where it was looked for. A runner checks it at start.
Result<std::string> FindKeeper();

// Convenience for tools and tests: runs one command on a private io_context and returns its
// outcome. Blocks.
Outcome RunSandboxed(Command command, const Settings& settings,
                     Process::OutputCallback on_output = {});

}  // namespace gale::sandbox

// A Python virtualenv per pack (issue 19, item 2), as StackStorm's packs have: built with pip
// from the pack's requirements.txt when the pack is registered or reloaded, and shared read-only
// by that pack's executions and sensors, which find its interpreter at
// <snapshot root>/<ref>@<digest>/virtualenv/bin/python.
//
// Building one costs from 80 ms (an empty venv) to minutes (pip fetching and building), so
// environments are cached by what they are made of: the requirements (with any local file or
// folder they name) and the interpreter. `<ref>@<digest>/virtualenv` is a symlink into the cache
// (<cache>/<key>), which lives beside the snapshot root so that it outlasts a node restart.
// Python finds pyvenv.cfg next to the path it was started by, not the resolved one, so the link
// behaves as the venv itself (sys.prefix is the link's path).
//
// Every pack gets one, requirements.txt or not: a pack without requirements shares the one empty
// venv (made once; a symlink per pack after that), so Python content sees the same thing (the
// standard library, no system site-packages) whether or not its pack lists requirements.
//
// pip runs the setup.py of any source distribution it builds, which is the pack author's code: it
// runs as a bounded subprocess (wall time, address space, an allow-listed environment), and on a
// root node as the action user, whose code the pack's actions run as anyway; the finished venv is
// then handed to root and made read-only for that user (docs/security.md).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "host/common/result.h"
#include "host/common/subprocess.h"

namespace gale::node {

struct PythonEnvOptions {
  // Never the `python3` found on PATH: a user-installed one (pyenv) is out of the action user's
  // reach.
  std::string python = "/usr/bin/python3";
  // Root node: pip runs as this user, and the result belongs to root with group `share_gid`
  // (directories 0750, files 0640 or 0750). Unset: pip runs as the node's user.
  std::optional<Credentials> build_as;
  std::optional<gid_t> share_gid;
  // One pip run (`python -m venv` gets the same).
  std::chrono::seconds timeout = std::chrono::seconds(600);
  // RLIMIT_AS of pip and what it starts (compilers of C extensions included).
  uint64_t address_space_bytes = 4ULL << 30;
};

class PythonEnvs {
 public:
  // `cache_dir` holds the built venvs; `snapshot_root` the <ref>@<digest> folders whose
  // `virtualenv` links keep a cache entry alive (see CollectUnused).
  PythonEnvs(std::string cache_dir, std::string snapshot_root, PythonEnvOptions options = {});

  // Gives `version_dir` (<snapshot root>/<ref>@<digest>, holding the pack copy <ref>/) its
  // `virtualenv` link, building the venv for <ref>/requirements.txt first when the cache has
  // none. `shown_dir` replaces the copy's path in messages (the pack as its author knows it).
  // Error: "pack <ref>: virtualenv: pip: <pip's last line>" (or what else failed). A pack
  // without requirements is never refused: when the interpreter is missing or the empty venv
  // cannot be made, it gets no link (and a warning).
  Status Attach(const std::string& ref, const std::filesystem::path& version_dir,
                const std::string& shown_dir = "");

  // Removes every cached venv no <ref>@<digest>/virtualenv link points to. Called after a batch
  // of refreshes (not in between: at start-up a pack refreshed later still needs its entry).
  void CollectUnused();

  const std::string& cache_dir() const { return cache_dir_; }

 private:
  // Builds the cache entry `key` for the pack copy `pack_dir`; the error is the message tail.
  Status Build(const std::filesystem::path& pack_dir, const std::filesystem::path& env);
  // Runs argv (python or pip) bounded, as build_as, in `cwd`, output (stderr too) captured.
  Result<Captured> RunBounded(const std::vector<std::string>& argv,
                              const std::filesystem::path& cwd,
                              const std::filesystem::path& env) const;

  std::string cache_dir_;
  std::string snapshot_root_;
  PythonEnvOptions options_;
  std::string python_identity_;  // resolved path, size and mtime of options_.python
};

// The cache key of a pack's venv: a digest of its requirements.txt (absent and blank are alike),
// of every local file or folder a requirement line names, and of `python_identity`.
std::string RequirementsKey(const std::filesystem::path& pack_dir,
                            const std::string& python_identity);

}  // namespace gale::node

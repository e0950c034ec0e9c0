// Private copies of the packs a node runs. A pack directory may be rewritten at any moment (a
// .so copied over in place, YAML half-saved); the node never runs from it. A changed pack is
// copied to a staging folder, validated there in a `gale pack validate` subprocess (so a broken
// or hostile library can only crash that child), and only then becomes the active version. A
// refused drop leaves the previous version running.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "host/common/json.h"
#include "host/common/result.h"

namespace gale::node {

class PythonEnvs;

struct ActivePack {
  std::string ref;
  std::string source;                // the directory under packs.paths
  std::string dir;                   // the private copy that hosts load
  std::string version;               // content digest of the copy
  std::vector<std::string> sensors;  // enabled sensor refs
  Json description;                  // `gale pack validate --json` output
};

enum class RefreshResult { kActivated, kUnchanged, kRefused, kRemoved };

class PackSnapshots {
 public:
  // Copies live under <root>/<ref>@<digest>/<ref>; `gale_binary` runs the validation.
  // `context_paths` are the packs paths a pack's rules may refer into. With `share_gid`, active
  // copies belong to that group (the action user's) and are readable by it, by nobody else;
  // staging copies stay the node's alone.
  PackSnapshots(std::string root, std::string gale_binary, std::vector<std::string> context_paths,
                std::optional<gid_t> share_gid = std::nullopt);

  // Stages and validates `source_dir`; on success it becomes the active version of its pack.
  // When the directory is gone (or no longer a pack) its active version is dropped.
  // `why` receives the one-line reason when the result is kRefused.
  RefreshResult Refresh(const std::string& source_dir, std::string* why = nullptr);

  std::vector<ActivePack> Active() const;

  // Each version activated from now on gets its Python virtualenv from `envs` (not owned; must
  // outlive this), at <root>/<ref>@<digest>/virtualenv; a failed build refuses the version.
  void UsePythonEnvs(PythonEnvs* envs) { python_envs_ = envs; }

 private:
  std::string root_;
  std::string gale_binary_;
  std::vector<std::string> context_paths_;
  std::optional<gid_t> share_gid_;
  std::map<std::string, ActivePack> by_source_;
  PythonEnvs* python_envs_ = nullptr;
};

// Digest of a directory tree (names and contents), hex.
std::string TreeDigest(const std::string& dir);

}  // namespace gale::node

// Private copies of the packs a node runs. A pack directory may be rewritten at any moment (a
// .so copied over in place, YAML half-saved); the node never runs from it. A changed pack is
// copied to a staging folder, validated there in a `gale pack validate` subprocess (so a broken
// or hostile library can only crash that child), and only then becomes the active version. A
// refused drop leaves the previous version running.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "host/common/json.h"
#include "host/common/result.h"

namespace gale::node {

class PythonEnvs;

struct ActivePack {
  std::string ref;
  std::string source;   // the directory under packs.paths
  std::string dir;      // the private copy that hosts load
  std::string version;  // content digest of the copy
  // Its digest without rules/: what a sensor host runs (a change of rules alone is no reason to
  // restart the pack's sensors, whose hooks are told instead).
  std::string sensor_version;
  std::vector<std::string> sensors;  // enabled sensor refs
  Json description;                  // `gale pack validate --json` output
};

enum class RefreshResult { kActivated, kUnchanged, kRefused, kRemoved };

class PackSnapshots {
 public:
  // Copies live under <root>/<ref>@<digest>/<ref>; `gale_binary` runs the validation, which
  // checks the pack alone (its rules' references into other packs are the node's to check,
  // across all active packs at once). `configs_dir` is packs.configs_path. With `share_gid`,
  // active copies belong to that group (the action user's) and are readable by it, by nobody
  // else; staging copies stay the node's alone.
  PackSnapshots(std::string root, std::string gale_binary, std::string configs_dir,
                std::optional<gid_t> share_gid = std::nullopt);

  // Stages and validates `source_dir`; on success it becomes the active version of its pack.
  // A resource file the validation refuses (the pack loads without it) that the running version
  // had keeps its previous file in the new copy, which is validated again: live reload never
  // loses a working action, rule or sensor to a broken save. When the directory is gone (or no
  // longer a pack) its active version is dropped. `why` receives the one-line reason when the
  // result is kRefused. Safe to call for different sources from several threads at once.
  RefreshResult Refresh(const std::string& source_dir, std::string* why = nullptr);

  // Refresh for many sources at once (a node's start): YAML-only packs are validated several to
  // a child, in up to `parallelism` children at a time; a pack with a library gets a child of
  // its own. `whys`, when set, receives one reason per source (empty unless kRefused).
  std::vector<RefreshResult> RefreshMany(const std::vector<std::string>& source_dirs,
                                         std::vector<std::string>* whys, size_t parallelism);

  std::vector<ActivePack> Active() const;

  // Pack copies (ActivePack::dir) a process still runs from although a newer version is active:
  // a sensor host kept across a change of rules alone. They stay on disk until no longer named.
  void KeepInUse(std::set<std::string> dirs);

  // Each version activated from now on gets its Python virtualenv from `envs` (not owned; must
  // outlive this), at <root>/<ref>@<digest>/virtualenv; a failed build refuses the version.
  void UsePythonEnvs(PythonEnvs* envs) { python_envs_ = envs; }

 private:
  // A source copied to its staging folder, not yet validated.
  struct Staged {
    std::string source;
    std::filesystem::path parent;  // <root>/.staging/<n>, removed once done
    std::filesystem::path dir;     // parent/<name>: what is validated, then activated
    std::string digest;
    bool has_library = false;
    std::optional<ActivePack> current;  // the running version, if any
  };
  // Copies the source; a result when there is nothing to validate (unchanged, removed, or the
  // copy failed), else nullopt and `staged` is ready.
  std::optional<RefreshResult> Stage(const std::string& source_dir, Staged& staged,
                                     std::string* why);
  // `gale pack validate DIR... --json` in one bounded child: one description per directory (or
  // the child's failure; a batch that fails is validated again one directory per child).
  std::vector<Result<Json>> Validate(const std::vector<std::string>& stagings) const;
  // Makes a validated copy the active version (carrying previous files of refused resources).
  RefreshResult Activate(Staged& staged, Result<Json> validated, std::string* why);

  std::string root_;
  std::string gale_binary_;
  std::string configs_dir_;
  std::optional<gid_t> share_gid_;
  mutable std::mutex mu_;  // guards by_source_ and the version folders under root_
  std::map<std::string, ActivePack> by_source_;
  int next_staging_ = 0;  // under mu_: each Refresh stages in its own folder
  PythonEnvs* python_envs_ = nullptr;
  std::set<std::string> in_use_;  // under mu_
};

// Digest of a directory tree (names and contents), hex; without the top-level folder `skip`
// when one is named.
std::string TreeDigest(const std::string& dir, const std::string& skip = "");

}  // namespace gale::node

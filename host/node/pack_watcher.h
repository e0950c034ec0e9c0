// Watches the packs paths with inotify and reports which pack directories changed, after the
// writes settle (a .so copied in place arrives as many writes; a rename arrives as one event).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "host/common/result.h"

namespace gale::node {

class PackWatcher {
 public:
  // `on_change` gets the set of pack directory names (under any packs path) that changed;
  // called on the watcher's thread once nothing has changed for `settle`.
  using Callback = std::function<void(const std::set<std::string>& pack_dirs)>;

  static Result<std::unique_ptr<PackWatcher>> Start(const std::vector<std::string>& packs_paths,
                                                    std::chrono::milliseconds settle,
                                                    Callback on_change);
  ~PackWatcher();

 private:
  PackWatcher() = default;
  void Loop();
  void WatchTree(const std::string& dir, int depth);

  int inotify_fd_ = -1;
  int wake_fd_ = -1;  // eventfd to stop the loop
  std::chrono::milliseconds settle_{};
  Callback on_change_;
  std::vector<std::string> roots_;
  std::map<int, std::string> watches_;  // watch descriptor -> directory
  std::thread thread_;
};

}  // namespace gale::node

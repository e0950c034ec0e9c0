// Temporary pack directories for tests.
#pragma once

#include <filesystem>
#include <map>
#include <string>

namespace gale::testing {

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// Hands `dir` to the action user (gale-action) when the test runs as root and that user exists:
// a root node runs sensors and actions as it, and they must read (a watched directory) or write
// (an action's log) there. Returns `dir`.
const std::filesystem::path& ShareWithActions(const std::filesystem::path& dir);

// Writes `files` (relative path -> contents) under `dir`, creating folders.
void WriteFiles(const std::filesystem::path& dir, const std::map<std::string, std::string>& files);

// Copies the built examples pack (build/packs/examples) to `dest` (a pack directory).
void CopyExamplesPack(const std::filesystem::path& dest);

// Runs a shell command, returning its exit code and stdout+stderr.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult RunCommand(const std::string& command);

}  // namespace gale::testing

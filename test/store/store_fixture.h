// A fresh Store per test for each backend: SQLite in a new temporary directory, MongoDB (when
// GALE_MONGODB_URL is set) in a new database that is dropped afterwards.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "host/store/open.h"
#include "host/store/store.h"

namespace gale::store::testing {

enum class Backend { kSqlite, kMongo };

std::string BackendName(const ::testing::TestParamInfo<Backend>& info);

// A directory removed (with its contents) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string RandomSuffix();

// The MongoDB URL `base` with its database replaced by `database`.
std::string WithDatabase(const std::string& base, const std::string& database);
void DropMongoDatabase(const std::string& url);

// Options for tests: short server and busy timeouts so a failure shows quickly.
StoreOptions TestOptions();

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Another Store on the same data (as a restarted process would open it).
  StorePtr Reopen();
  Store& store() { return *store_; }

  std::string url_;
  StorePtr store_;
  TempDir dir_;
};

// A child process with a pipe to its stdin and one from its stdout.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv);
  ~Child();  // kills and reaps if still running
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool ok() const { return pid_ > 0; }
  // One line without its newline; false at end of output.
  bool ReadLine(std::string* line);
  void WriteLine(const std::string& line);
  void Kill(int signal);
  // Exit status as from waitpid.
  int Wait();

 private:
  int pid_ = -1;
  int in_fd_ = -1;
  FILE* out_ = nullptr;
  bool reaped_ = false;
};

// The path of the gale_store_test_helper executable.
std::string HelperPath();

}  // namespace gale::store::testing

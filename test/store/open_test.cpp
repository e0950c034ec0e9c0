// Opening stores: URL dispatch, and the faults named in the issue (unreachable server; corrupt,
// foreign, read-only or missing SQLite files; a write that fails).
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>

#include "host/store/open.h"
#include "test/store/store_fixture.h"

namespace gale::store::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void ExpectOneLineNaming(const Status& s, const std::string& what) {
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(what), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
}

TEST(OpenStoreTest, UnknownSchemeNamesTheUrl) {
  auto r = OpenStore("redis://localhost/0");
  ASSERT_FALSE(r.ok());
  ExpectOneLineNaming(r.status(), "redis://localhost/0");
  EXPECT_FALSE(r.status().retryable());
  EXPECT_FALSE(OpenStore("").ok());
  EXPECT_FALSE(OpenStore("sqlite://").ok());
}

TEST(OpenStoreTest, UrlHelpers) {
  EXPECT_EQ(DefaultStoreUrl("/var/lib/gale"), "sqlite:///var/lib/gale/gale.db");
  EXPECT_EQ(DefaultStoreUrl("/var/lib/gale/"), "sqlite:///var/lib/gale/gale.db");
  EXPECT_EQ(RedactUrl("mongodb://u:secret@h1,h2/gale?w=1"), "mongodb://u:***@h1,h2/gale?w=1");
  EXPECT_EQ(RedactUrl("mongodb://h1/gale"), "mongodb://h1/gale");
  EXPECT_EQ(RedactUrl("mongodb://user@h1/gale"), "mongodb://user@h1/gale");
  // A password with a raw '/' or '@' (not percent-encoded) is still masked whole.
  EXPECT_EQ(RedactUrl("mongodb://u:se/cr@t@h1/gale?w=1"), "mongodb://u:***@h1/gale?w=1");
  EXPECT_EQ(UrlPassword("mongodb://u:se/cr@t@h1/gale?w=1"), "se/cr@t");
  EXPECT_EQ(UrlPassword("mongodb://u@h1/gale"), "");
  // Driver messages that echo the password, as written or decoded, lose it.
  EXPECT_EQ(RedactPassword("auth failed for u:p%40ss and u:p@ss", "p%40ss"),
            "auth failed for u:*** and u:***");
}

TEST(OpenStoreTest, RelativeSqlitePath) {
  TempDir dir;
  std::string cwd = std::filesystem::current_path().string();
  ASSERT_EQ(chdir(dir.path().c_str()), 0);
  auto r = OpenStore("sqlite://gale.db", TestOptions());
  EXPECT_TRUE(r.ok()) << r.message();
  r = Result<StorePtr>(Status::Error("closed"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/gale.db"));
  ASSERT_EQ(chdir(cwd.c_str()), 0);
}

TEST(OpenStoreTest, MissingDirectoryIsOneLineNamingThePath) {
  TempDir dir;
  std::string path = dir.path() + "/no/such/dir/gale.db";
  auto r = OpenStore("sqlite://" + path);
  ASSERT_FALSE(r.ok());
  ExpectOneLineNaming(r.status(), path);
  EXPECT_NE(r.message().find("does not exist"), std::string::npos) << r.message();
}

TEST(OpenStoreTest, ReadOnlyPlaceIsOneLineNamingThePath) {
  TempDir dir;
  std::string path;
  if (geteuid() != 0) {
    std::string ro = dir.path() + "/ro";
    ASSERT_EQ(mkdir(ro.c_str(), 0555), 0);
    path = ro + "/gale.db";
  } else if (access("/sys", F_OK) == 0) {
    path = "/sys/gale-store-test.db";  // root ignores permissions; sysfs refuses new files
  } else {
    GTEST_SKIP() << "SKIPPED: running as root with no read-only filesystem to try";
  }
  auto r = OpenStore("sqlite://" + path, TestOptions());
  ASSERT_FALSE(r.ok());
  ExpectOneLineNaming(r.status(), path);
  EXPECT_FALSE(r.status().retryable());
}

TEST(OpenStoreTest, ReadOnlyFileIsRefused) {
  if (geteuid() == 0) GTEST_SKIP() << "SKIPPED: root can write a read-only file";
  TempDir dir;
  std::string path = dir.path() + "/gale.db";
  { ASSERT_TRUE(OpenStore("sqlite://" + path, TestOptions()).ok()); }
  ASSERT_EQ(chmod(path.c_str(), 0444), 0);
  auto r = OpenStore("sqlite://" + path, TestOptions());
  ASSERT_FALSE(r.ok());
  ExpectOneLineNaming(r.status(), path);
  EXPECT_NE(r.message().find("read-only"), std::string::npos) << r.message();
}

TEST(OpenStoreTest, CorruptFileIsRefusedAndLeftAlone) {
  TempDir dir;
  std::string path = dir.path() + "/gale.db";
  std::mt19937 rng(7);
  std::string junk(64 * 1024, '\0');
  for (char& c : junk) c = static_cast<char>(rng());
  std::ofstream(path, std::ios::binary) << junk;
  auto r = OpenStore("sqlite://" + path, TestOptions());
  ASSERT_FALSE(r.ok());
  ExpectOneLineNaming(r.status(), path);
  EXPECT_NE(r.message().find("not a usable SQLite database"), std::string::npos) << r.message();
  EXPECT_EQ(ReadAll(path), junk);
}

TEST(OpenStoreTest, ForeignSqliteFileIsRefusedAndLeftAlone) {
  TempDir dir;
  std::string path = dir.path() + "/other.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE invoices (id INTEGER); CREATE TABLE customers (n)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  std::string before = ReadAll(path);
  auto r = OpenStore("sqlite://" + path, TestOptions());
  ASSERT_FALSE(r.ok());
  ExpectOneLineNaming(r.status(), path);
  EXPECT_NE(r.message().find("another application"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("invoices"), std::string::npos) << r.message();
  EXPECT_EQ(ReadAll(path), before);
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
}

TEST(OpenStoreTest, NewerSchemaIsRefused) {
  TempDir dir;
  std::string path = dir.path() + "/gale.db";
  { ASSERT_TRUE(OpenStore("sqlite://" + path, TestOptions()).ok()); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto r = OpenStore("sqlite://" + path, TestOptions());
  ASSERT_FALSE(r.ok());
  ExpectOneLineNaming(r.status(), path);
  EXPECT_NE(r.message().find("newer"), std::string::npos) << r.message();
}

// A store of schema 1 (dedupe keys without owners, executions without sealed secrets, trigger
// instances without trigger parameters) is migrated in place, its records kept.
TEST(OpenStoreTest, OlderSchemaIsMigratedKeepingItsRecords) {
  TempDir dir;
  std::string path = dir.path() + "/gale.db";
  {
    auto s = OpenStore("sqlite://" + path, TestOptions());
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_TRUE(*(*s)->InsertDedupeKey("old", "ti-1", 1000, 10));
    Execution e;
    e.id = "old-execution";
    e.action = "core.noop";
    e.parameters = {{"a", 1}};
    ASSERT_TRUE(*(*s)->CreateExecution(e));
    TriggerInstance t;
    t.id = "old-instance";
    t.trigger = "core.st2.webhook";
    ASSERT_TRUE(*(*s)->InsertTriggerInstance(t));
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db,
                   "ALTER TABLE dedupe_keys DROP COLUMN owner; ALTER TABLE executions DROP "
                   "COLUMN secret_parameters; DROP INDEX trigger_instances_status; ALTER TABLE "
                   "trigger_instances DROP COLUMN trigger_parameters; DROP TABLE policy_slots; "
                   "ALTER TABLE executions DROP COLUMN retry_of; ALTER TABLE executions DROP "
                   "COLUMN retry_attempt; ALTER TABLE executions DROP COLUMN parent; "
                   "ALTER TABLE executions DROP COLUMN task; "
                   "PRAGMA user_version = 1",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  auto s = OpenStore("sqlite://" + path, TestOptions());
  ASSERT_TRUE(s.ok()) << s.message();
  auto old = (*s)->GetExecution("old-execution");
  ASSERT_TRUE(old.ok() && old->has_value());
  EXPECT_EQ((**old).parameters, Json({{"a", 1}}));
  EXPECT_EQ((**old).secret_parameters, Json::object());
  EXPECT_EQ((**old).retry_of, "");
  EXPECT_EQ((**old).retry_attempt, 0);
  EXPECT_EQ((**old).parent, "");
  EXPECT_FALSE(*(*s)->InsertDedupeKey("old", "ti-2", 1000, 20)) << "the window survived";
  EXPECT_TRUE(*(*s)->InsertDedupeKey("new", "ti-3", 1000, 20));
  EXPECT_TRUE(*(*s)->InsertDedupeKey("new", "ti-3", 1000, 20));
  auto instance = (*s)->GetTriggerInstance("old-instance");
  ASSERT_TRUE(instance.ok() && instance->has_value());
  EXPECT_EQ((**instance).trigger_parameters, Json::object());
}

TEST(OpenStoreTest, ManyThreadsOpenOneNewFileAtOnce) {
  TempDir dir;
  std::string url = "sqlite://" + dir.path() + "/gale.db";
  std::vector<std::thread> threads;
  std::mutex mu;
  std::vector<std::string> failures;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      auto r = OpenStore(url, TestOptions());
      std::lock_guard lock(mu);
      if (!r.ok()) failures.push_back(r.message());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(failures.empty()) << failures.front();
}

TEST(OpenStoreTest, AFailedWriteIsReportedAndNothingIsWritten) {
  TempDir dir;
  std::string path = dir.path() + "/gale.db";
  StoreOptions options = TestOptions();
  options.busy_timeout = std::chrono::milliseconds(50);
  auto store = OpenStore("sqlite://" + path, options);
  ASSERT_TRUE(store.ok()) << store.message();
  // Another process holds the write lock (here: another connection).
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  Execution e;
  e.id = "ex-1";
  e.action = "core.noop";
  auto r = (*store)->CreateExecution(e);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().retryable()) << r.message();
  EXPECT_NE(r.message().find("ex-1"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find(path), std::string::npos) << r.message();
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  auto got = (*store)->GetExecution("ex-1");
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
  EXPECT_TRUE(*(*store)->CreateExecution(e)) << "works once the lock is gone";
}

TEST(OpenStoreTest, UnreachableMongoIsARetryableError) {
  StoreOptions options = TestOptions();
  options.server_timeout = std::chrono::milliseconds(300);
  auto r = OpenStore("mongodb://gale:pw@127.0.0.1:1/gale", options);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().retryable()) << r.message();
  ExpectOneLineNaming(r.status(), "mongodb://gale:***@127.0.0.1:1/gale");
  EXPECT_EQ(r.message().find("pw"), std::string::npos) << "password leaked: " << r.message();
}

TEST(OpenStoreTest, RetryBacksOffAndLogsEachAttempt) {
  StoreOptions options = TestOptions();
  options.server_timeout = std::chrono::milliseconds(100);
  std::vector<std::string> lines;
  auto r =
      OpenStoreWithRetry("mongodb://127.0.0.1:1/gale", options, std::chrono::milliseconds(2000),
                         [&](const std::string& line) { lines.push_back(line); });
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().retryable());
  ASSERT_GE(lines.size(), 2u);
  EXPECT_NE(lines[0].find("attempt 1"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("retrying in 200 ms"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("retrying in 400 ms"), std::string::npos) << lines[1];
  // A permanent error is not retried.
  lines.clear();
  auto bad = OpenStoreWithRetry("nope://x", options, std::chrono::seconds(5),
                                [&](const std::string& line) { lines.push_back(line); });
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(lines.empty());
}

}  // namespace
}  // namespace gale::store::testing

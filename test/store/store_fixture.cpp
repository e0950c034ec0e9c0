#include "test/store/store_fixture.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#include <cstdlib>
#include <filesystem>
#include <random>

extern char** environ;

namespace gale::store::testing {

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Mongo";
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "gale-store-XXXXXX").string();
  if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

std::string RandomSuffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  for (int i = 0; i < 10; ++i) out += kChars[rng() % (sizeof(kChars) - 1)];
  return out;
}

std::string WithDatabase(const std::string& base, const std::string& database) {
  size_t hosts = base.find("://");
  hosts = hosts == std::string::npos ? 0 : hosts + 3;
  size_t query = base.find('?', hosts);
  size_t slash = base.find('/', hosts);
  if (slash != std::string::npos && (query == std::string::npos || slash < query)) {
    return base.substr(0, slash + 1) + database +
           (query == std::string::npos ? "" : base.substr(query));
  }
  if (query == std::string::npos) return base + "/" + database;
  return base.substr(0, query) + "/" + database + base.substr(query);
}

void DropMongoDatabase(const std::string& url) {
  mongoc_init();
  bson_error_t error;
  mongoc_uri_t* uri = mongoc_uri_new_with_error(url.c_str(), &error);
  if (uri == nullptr) return;
  mongoc_client_t* client = mongoc_client_new_from_uri(uri);
  if (client != nullptr) {
    const char* name = mongoc_uri_get_database(uri);
    mongoc_database_t* db = mongoc_client_get_database(client, name ? name : "gale");
    mongoc_database_drop(db, &error);
    mongoc_database_destroy(db);
    mongoc_client_destroy(client);
  }
  mongoc_uri_destroy(uri);
}

StoreOptions TestOptions() {
  StoreOptions options;
  options.server_timeout = std::chrono::milliseconds(3000);
  options.sqlite_sync_full = false;  // tests survive kill -9, not power loss: NORMAL is enough
  return options;
}

void StoreTest::SetUp() {
  if (GetParam() == Backend::kMongo) {
    const char* base = std::getenv("GALE_MONGODB_URL");
    if (base == nullptr || *base == '\0') {
      GTEST_SKIP() << "SKIPPED: GALE_MONGODB_URL is not set (run scripts/services up)";
    }
    url_ = WithDatabase(base, "gale_test_" + RandomSuffix());
  } else {
    ASSERT_FALSE(dir_.path().empty());
    url_ = "sqlite://" + dir_.path() + "/gale.db";
  }
  Result<StorePtr> opened = OpenStore(url_, TestOptions());
  ASSERT_TRUE(opened.ok()) << opened.message();
  store_ = std::move(*opened);
}

void StoreTest::TearDown() {
  store_.reset();
  if (GetParam() == Backend::kMongo && !url_.empty()) DropMongoDatabase(url_);
}

StorePtr StoreTest::Reopen() {
  Result<StorePtr> opened = OpenStore(url_, TestOptions());
  EXPECT_TRUE(opened.ok()) << opened.message();
  return opened.ok() ? std::move(*opened) : nullptr;
}

Child::Child(const std::vector<std::string>& argv) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return;
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  pid_ = pid;
  in_fd_ = in[1];
  out_ = fdopen(out[0], "r");
}

Child::~Child() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    Wait();
  }
  if (in_fd_ >= 0) close(in_fd_);
  if (out_ != nullptr) fclose(out_);
}

bool Child::ReadLine(std::string* line) {
  line->clear();
  if (out_ == nullptr) return false;
  int c;
  while ((c = fgetc(out_)) != EOF) {
    if (c == '\n') return true;
    line->push_back(static_cast<char>(c));
  }
  return !line->empty();
}

void Child::WriteLine(const std::string& line) {
  std::string data = line + "\n";
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(in_fd_, data.data() + off, data.size() - off);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

void Child::Kill(int signal) {
  if (pid_ > 0 && !reaped_) kill(pid_, signal);
}

int Child::Wait() {
  if (pid_ <= 0) return -1;
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  return status;
}

std::string HelperPath() {
  return GALE_STORE_HELPER;
}

}  // namespace gale::store::testing

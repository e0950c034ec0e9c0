// Against the real MongoDB-protocol server (GALE_MONGODB_URL, from scripts/services up) with
// libmongoc: an insert reads back, a unique-index violation is reported as a duplicate key
// (code 11000), and a findAndModify compare-and-set (requested -> running, as a runner claims an
// execution) is won by exactly one of 8 racing threads.
#include <gtest/gtest.h>
#include <mongoc/mongoc.h>

#include <atomic>
#include <barrier>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "services_support.h"

namespace gale::test {
namespace {

class MongocRuntime : public ::testing::Environment {
 public:
  void SetUp() override { mongoc_init(); }
  void TearDown() override { mongoc_cleanup(); }
};
[[maybe_unused]] const auto* const kRuntime =
    ::testing::AddGlobalTestEnvironment(new MongocRuntime);

// Owns a heap bson_t (std::unique_ptr<bson_t> would drop bson_t's alignment attribute).
class BsonPtr {
 public:
  explicit BsonPtr(bson_t* b) : b_(b) {}
  ~BsonPtr() { bson_destroy(b_); }
  BsonPtr(const BsonPtr&) = delete;
  BsonPtr& operator=(const BsonPtr&) = delete;
  bson_t* get() const { return b_; }

 private:
  bson_t* b_;
};

std::string json_of(const bson_t* b) {
  char* s = bson_as_canonical_extended_json(b, nullptr);
  std::string out = s != nullptr ? s : "?";
  bson_free(s);
  return out;
}

// A fresh database per test on the server named by GALE_MONGODB_URL; dropped at the end.
class ServicesMongo : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto url = env_var("GALE_MONGODB_URL");
    if (!url) GTEST_SKIP() << "SKIPPED: GALE_MONGODB_URL is not set (run scripts/services up)";
    bson_error_t error;
    uri_ = mongoc_uri_new_with_error(url->c_str(), &error);
    ASSERT_NE(uri_, nullptr) << "bad GALE_MONGODB_URL '" << *url << "': " << error.message;
    mongoc_uri_set_option_as_int32(uri_, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 15000);
    pool_ = mongoc_client_pool_new(uri_);
    ASSERT_NE(pool_, nullptr);
    mongoc_client_pool_set_error_api(pool_, MONGOC_ERROR_API_VERSION_2);
    db_name_ = unique_name("gale_test");
    for (auto& c : db_name_) {
      if (c == '-') c = '_';
    }
    client_ = mongoc_client_pool_pop(pool_);
    BsonPtr ping(BCON_NEW("ping", BCON_INT32(1)));
    bson_t reply;
    const bool ok =
        mongoc_client_command_simple(client_, "admin", ping.get(), nullptr, &reply, &error);
    bson_destroy(&reply);
    ASSERT_TRUE(ok) << "ping " << *url << ": " << error.message;
  }

  void TearDown() override {
    if (client_ != nullptr) {
      mongoc_database_t* db = mongoc_client_get_database(client_, db_name_.c_str());
      bson_error_t error;
      EXPECT_TRUE(mongoc_database_drop_with_opts(db, nullptr, &error)) << error.message;
      mongoc_database_destroy(db);
      mongoc_client_pool_push(pool_, client_);
    }
    if (pool_ != nullptr) mongoc_client_pool_destroy(pool_);
    if (uri_ != nullptr) mongoc_uri_destroy(uri_);
  }

  mongoc_collection_t* collection(mongoc_client_t* client, const char* name) const {
    return mongoc_client_get_collection(client, db_name_.c_str(), name);
  }

  mongoc_uri_t* uri_ = nullptr;
  mongoc_client_pool_t* pool_ = nullptr;
  mongoc_client_t* client_ = nullptr;
  std::string db_name_;
};

TEST_F(ServicesMongo, InsertedDocumentReadsBack) {
  mongoc_collection_t* coll = collection(client_, "executions");
  BsonPtr doc(BCON_NEW("_id", BCON_UTF8("exec-1"), "action", BCON_UTF8("core.local"), "status",
                       BCON_UTF8("requested"), "attempt", BCON_INT32(1)));
  bson_error_t error;
  ASSERT_TRUE(mongoc_collection_insert_one(coll, doc.get(), nullptr, nullptr, &error))
      << error.message;

  BsonPtr filter(BCON_NEW("_id", BCON_UTF8("exec-1")));
  mongoc_cursor_t* cursor = mongoc_collection_find_with_opts(coll, filter.get(), nullptr, nullptr);
  const bson_t* found = nullptr;
  ASSERT_TRUE(mongoc_cursor_next(cursor, &found));
  bson_iter_t it;
  ASSERT_TRUE(bson_iter_init_find(&it, found, "status")) << json_of(found);
  EXPECT_STREQ(bson_iter_utf8(&it, nullptr), "requested");
  ASSERT_TRUE(bson_iter_init_find(&it, found, "attempt")) << json_of(found);
  EXPECT_EQ(bson_iter_as_int64(&it), 1);
  EXPECT_FALSE(mongoc_cursor_next(cursor, &found));
  EXPECT_FALSE(mongoc_cursor_error(cursor, &error)) << error.message;
  mongoc_cursor_destroy(cursor);
  EXPECT_EQ(
      mongoc_collection_count_documents(coll, filter.get(), nullptr, nullptr, nullptr, &error), 1)
      << error.message;
  mongoc_collection_destroy(coll);
}

TEST_F(ServicesMongo, UniqueIndexViolationIsReportedAsDuplicateKey) {
  mongoc_collection_t* coll = collection(client_, "trigger_instances");
  mongoc_database_t* db = mongoc_client_get_database(client_, db_name_.c_str());
  BsonPtr create(BCON_NEW("createIndexes", BCON_UTF8("trigger_instances"), "indexes", "[", "{",
                          "key", "{", "dedupe_key", BCON_INT32(1), "}", "name",
                          BCON_UTF8("dedupe_key_1"), "unique", BCON_BOOL(true), "}", "]"));
  bson_error_t error;
  bson_t reply;
  const bool created =
      mongoc_database_write_command_with_opts(db, create.get(), nullptr, &reply, &error);
  const std::string reply_json = json_of(&reply);
  bson_destroy(&reply);
  mongoc_database_destroy(db);
  ASSERT_TRUE(created) << error.message << " " << reply_json;

  BsonPtr first(BCON_NEW("_id", BCON_UTF8("ti-1"), "dedupe_key", BCON_UTF8("webhook:42")));
  ASSERT_TRUE(mongoc_collection_insert_one(coll, first.get(), nullptr, nullptr, &error))
      << error.message;

  BsonPtr second(BCON_NEW("_id", BCON_UTF8("ti-2"), "dedupe_key", BCON_UTF8("webhook:42")));
  bson_t insert_reply;
  const bool inserted =
      mongoc_collection_insert_one(coll, second.get(), nullptr, &insert_reply, &error);
  const std::string insert_json = json_of(&insert_reply);
  bson_destroy(&insert_reply);
  EXPECT_FALSE(inserted) << "second insert with the same unique key succeeded";
  EXPECT_EQ(error.code, 11000u) << "expected duplicate key (11000), got " << error.code << ": "
                                << error.message << " " << insert_json;

  BsonPtr other(BCON_NEW("_id", BCON_UTF8("ti-3"), "dedupe_key", BCON_UTF8("webhook:43")));
  EXPECT_TRUE(mongoc_collection_insert_one(coll, other.get(), nullptr, nullptr, &error))
      << error.message;
  BsonPtr all(bson_new());
  EXPECT_EQ(mongoc_collection_count_documents(coll, all.get(), nullptr, nullptr, nullptr, &error),
            2);
  mongoc_collection_destroy(coll);
}

TEST_F(ServicesMongo, FindAndModifyCompareAndSetHasExactlyOneWinner) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 25;
  {
    mongoc_collection_t* coll = collection(client_, "executions");
    for (int r = 0; r < kRounds; ++r) {
      const std::string id = "exec-" + std::to_string(r);
      BsonPtr doc(BCON_NEW("_id", BCON_UTF8(id.c_str()), "status", BCON_UTF8("requested")));
      bson_error_t error;
      ASSERT_TRUE(mongoc_collection_insert_one(coll, doc.get(), nullptr, nullptr, &error))
          << error.message;
    }
    mongoc_collection_destroy(coll);
  }

  // winners[r] = which threads' claim on execution r came back with the updated document
  std::vector<std::vector<int>> winners(kRounds);
  std::vector<std::string> errors;
  std::mutex mu;
  std::barrier sync(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      mongoc_client_t* client = mongoc_client_pool_pop(pool_);
      mongoc_collection_t* coll = collection(client, "executions");
      for (int r = 0; r < kRounds; ++r) {
        const std::string id = "exec-" + std::to_string(r);
        BsonPtr query(BCON_NEW("_id", BCON_UTF8(id.c_str()), "status", BCON_UTF8("requested")));
        BsonPtr update(
            BCON_NEW("$set", "{", "status", BCON_UTF8("running"), "owner", BCON_INT32(t), "}"));
        mongoc_find_and_modify_opts_t* opts = mongoc_find_and_modify_opts_new();
        mongoc_find_and_modify_opts_set_update(opts, update.get());
        mongoc_find_and_modify_opts_set_flags(opts, MONGOC_FIND_AND_MODIFY_RETURN_NEW);
        bson_t reply;
        bson_error_t error;
        sync.arrive_and_wait();  // all eight claim execution r at once
        const bool ok =
            mongoc_collection_find_and_modify_with_opts(coll, query.get(), opts, &reply, &error);
        bson_iter_t it;
        const bool won =
            ok && bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it);
        {
          std::lock_guard lock(mu);
          if (!ok) errors.push_back(std::string(error.message) + " " + json_of(&reply));
          if (won) winners[r].push_back(t);
        }
        bson_destroy(&reply);
        mongoc_find_and_modify_opts_destroy(opts);
      }
      mongoc_collection_destroy(coll);
      mongoc_client_pool_push(pool_, client);
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(errors.empty()) << errors.size() << " findAndModify errors, first: " << errors[0];

  mongoc_collection_t* coll = collection(client_, "executions");
  for (int r = 0; r < kRounds; ++r) {
    ASSERT_EQ(winners[r].size(), 1u) << "execution " << r << " claimed by " << winners[r].size()
                                     << " of " << kThreads << " threads";
    const std::string id = "exec-" + std::to_string(r);
    BsonPtr filter(BCON_NEW("_id", BCON_UTF8(id.c_str())));
    mongoc_cursor_t* cursor =
        mongoc_collection_find_with_opts(coll, filter.get(), nullptr, nullptr);
    const bson_t* doc = nullptr;
    ASSERT_TRUE(mongoc_cursor_next(cursor, &doc));
    bson_iter_t it;
    ASSERT_TRUE(bson_iter_init_find(&it, doc, "owner")) << json_of(doc);
    EXPECT_EQ(bson_iter_as_int64(&it), winners[r][0]) << json_of(doc);
    ASSERT_TRUE(bson_iter_init_find(&it, doc, "status"));
    EXPECT_STREQ(bson_iter_utf8(&it, nullptr), "running");
    mongoc_cursor_destroy(cursor);
  }
  mongoc_collection_destroy(coll);
}

}  // namespace
}  // namespace gale::test

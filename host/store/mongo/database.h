// One MongoDB database through a libmongoc client pool: the few operations the store makes,
// each failing with a one-line Status that names the (password-masked) URL and the operation,
// retryable when the server is unreachable or stepping down.
#pragma once

#include <mongoc/mongoc.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "host/common/result.h"
#include "host/store/mongo/bson_doc.h"
#include "host/store/open.h"

namespace gale::store::mongo {

bool IsDuplicateKey(const bson_error_t& e);
bool IsRetryable(const bson_error_t& e, const bson_t* reply);

class Database {
 public:
  // Parses the URL (database from its path, default "gale"; write concern and timeouts from
  // `options` unless the URL sets them), then checks that the server answers (bounded by the
  // server selection timeout: a retryable error), accepts a write, and has Gale's indexes.
  static Result<std::unique_ptr<Database>> Connect(const std::string& url,
                                                   const StoreOptions& options);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  const std::string& url() const { return url_; }  // password masked
  // MongoDB itself, as opposed to FerretDB or mongo-java-server (which only use an index for a
  // filter that is exactly {_id: x}).
  bool is_mongodb() const { return is_mongodb_; }

  Status Fail(const std::string& op, const bson_error_t& e, const bson_t* reply) const;

  // True when inserted, false on a duplicate _id.
  Result<bool> Insert(const std::string& collection, const Doc& doc, const std::string& op);

  struct UpdateResult {
    int64_t matched = 0;     // matched or upserted
    bool duplicate = false;  // an upsert lost a race to insert the same _id
  };
  Result<UpdateResult> Update(const std::string& collection, const Doc& filter, const Doc& update,
                              bool upsert, const std::string& op, bool allow_duplicate = true);
  // Last-writer-wins upsert (retried when a concurrent first insert wins).
  Status Upsert(const std::string& collection, const Doc& filter, const Doc& update,
                const std::string& op);
  // Deletes every match; returns how many.
  Result<int64_t> Delete(const std::string& collection, const Doc& filter, const std::string& op);
  // How many documents match (countDocuments).
  Result<int64_t> Count(const std::string& collection, const Doc& filter, const std::string& op);
  Result<std::optional<Doc>> FindById(const std::string& collection, const std::string& id,
                                      const std::string& op);

  template <class T, class F>
  Result<std::vector<T>> Find(const std::string& collection, const Doc& filter, const Doc& opts,
                              F read, const std::string& op) {
    Coll c(pool_, db_, collection);
    mongoc_cursor_t* cursor =
        mongoc_collection_find_with_opts(c.get(), filter.get(), opts.get(), nullptr);
    std::vector<T> out;
    const bson_t* doc = nullptr;
    while (mongoc_cursor_next(cursor, &doc)) out.push_back(read(View(doc)));
    bson_error_t error;
    const bson_t* reply = nullptr;
    if (mongoc_cursor_error_document(cursor, &error, &reply)) {
      Status s = Fail(op, error, reply);
      mongoc_cursor_destroy(cursor);
      return s;
    }
    mongoc_cursor_destroy(cursor);
    return out;
  }

 private:
  Database(mongoc_uri_t* uri, mongoc_client_pool_t* pool, std::string db, std::string url,
           bool is_mongodb)
      : uri_(uri), pool_(pool), db_(std::move(db)), url_(std::move(url)), is_mongodb_(is_mongodb) {}

  // A client from the pool and one of its collections, both given back on destruction.
  class Coll {
   public:
    Coll(mongoc_client_pool_t* pool, const std::string& db, const std::string& name)
        : pool_(pool),
          client_(mongoc_client_pool_pop(pool)),
          coll_(mongoc_client_get_collection(client_, db.c_str(), name.c_str())) {}
    ~Coll() {
      mongoc_collection_destroy(coll_);
      mongoc_client_pool_push(pool_, client_);
    }
    Coll(const Coll&) = delete;
    Coll& operator=(const Coll&) = delete;
    mongoc_collection_t* get() const { return coll_; }

   private:
    mongoc_client_pool_t* pool_;
    mongoc_client_t* client_;
    mongoc_collection_t* coll_;
  };

  mongoc_uri_t* uri_;
  mongoc_client_pool_t* pool_;
  const std::string db_;
  const std::string url_;
  const bool is_mongodb_;
};

}  // namespace gale::store::mongo

#include "host/store/mongo/database.h"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>

namespace gale::store::mongo {
namespace {

// The passwords of the URLs this process connected with. The driver's messages (and its log)
// may echo what it was given; they pass through Clean() before anyone sees them.
std::mutex passwords_mu;
std::set<std::string> passwords;

void RememberPassword(const std::string& url) {
  std::string password = UrlPassword(url);
  if (password.empty()) return;
  std::lock_guard lock(passwords_mu);
  passwords.insert(std::move(password));
}

std::string Clean(const char* message) {
  std::string text = message != nullptr ? message : "";
  std::lock_guard lock(passwords_mu);
  for (const std::string& p : passwords) text = RedactPassword(std::move(text), p);
  return text;
}

void InitDriver() {
  static std::once_flag once;
  std::call_once(once, [] {
    // The driver logs to stderr by default, down to debug level (server monitoring) and
    // warnings that are noise (FerretDB has no endSessions); keep errors only: what matters
    // reaches callers as a Status anyway. Set before mongoc_init(), which logs too.
    mongoc_log_set_handler(
        [](mongoc_log_level_t level, const char* domain, const char* message, void*) {
          if (level <= MONGOC_LOG_LEVEL_CRITICAL) {
            std::fprintf(stderr, "mongoc %s: %s\n", domain, Clean(message).c_str());
          }
        },
        nullptr);
    // Without this every process leaves a /dev/shm/mongoc-<pid> counters file behind unless it
    // calls mongoc_cleanup() (a killed one never does), and a later process that gets the same
    // pid warns "Falling back to malloc for counters" at init. Gale does not read the counters.
    setenv("MONGOC_DISABLE_SHM", "1", /*overwrite=*/0);
    mongoc_init();
  });
}

struct IndexSpec {
  const char* collection;
  const char* name;
  std::vector<std::pair<const char*, int>> keys;
};

const std::vector<IndexSpec>& Indexes() {
  static const std::vector<IndexSpec> kIndexes{
      {"executions", "time", {{"requested_at", -1}, {"_id", -1}}},
      {"executions", "status", {{"status", 1}, {"requested_at", -1}}},
      {"executions", "action", {{"action", 1}, {"requested_at", -1}}},
      {"executions", "rule", {{"rule", 1}, {"requested_at", -1}}},
      {"executions", "trigger_instance", {{"trigger_instance", 1}}},
      {"executions", "lease", {{"status", 1}, {"lease_expires_at", 1}}},
      {"executions", "finished", {{"status", 1}, {"finished_at", 1}}},
      {"executions_revs", "key", {{"key", 1}}},
      {"trigger_instances", "time", {{"occurred_at", -1}, {"_id", -1}}},
      {"trigger_instances", "trigger", {{"trigger", 1}, {"occurred_at", -1}}},
      {"trigger_instances", "status", {{"status", 1}, {"occurred_at", -1}}},
      {"execution_output", "seq", {{"execution_id", 1}, {"seq", 1}}},
      {"execution_output", "at", {{"at", 1}}},
      {"kv", "name", {{"scope", 1}, {"user", 1}, {"name_hex", 1}}},
      {"kv", "expiry", {{"expire_at", 1}}},
      {"dedupe_keys", "expiry", {{"expires_at", 1}}},
      {"dedupe_keys_revs", "key", {{"key", 1}}},
      {"leases_revs", "key", {{"key", 1}}},
      {"sensors", "node", {{"node", 1}}},
  };
  return kIndexes;
}

// One index per command: FerretDB 1.24 drops the connection (a panic) when one createIndexes
// names several indexes that all exist already, as on every open but the first.
Status CreateIndexes(mongoc_client_t* client, const std::string& db, const std::string& url) {
  mongoc_database_t* database = mongoc_client_get_database(client, db.c_str());
  Status result = Status::Ok();
  for (const IndexSpec& spec : Indexes()) {
    Doc key, index, cmd;
    Reply reply;
    for (const auto& [field, dir] : spec.keys) key.Int32(field, dir);
    index.Sub("key", key).Str("name", spec.name);
    std::vector<Doc> one;
    one.push_back(std::move(index));
    cmd.Str("createIndexes", spec.collection).Arr("indexes", DocArray(one));
    bson_error_t error;
    if (!mongoc_database_write_command_with_opts(database, cmd.get(), nullptr, reply.get(),
                                                 &error)) {
      result = Status::Error("mongodb store " + url + ": creating index " + spec.name + " on " +
                                 spec.collection + ": " + Clean(error.message),
                             IsRetryable(error, reply.get()));
      break;
    }
  }
  mongoc_database_destroy(database);
  return result;
}

}  // namespace

bool IsDuplicateKey(const bson_error_t& e) {
  return e.code == 11000 || e.code == 11001 || e.code == 12582;
}

bool IsRetryable(const bson_error_t& e, const bson_t* reply) {
  if (e.domain == MONGOC_ERROR_STREAM || e.domain == MONGOC_ERROR_SERVER_SELECTION) return true;
  if (reply != nullptr && (mongoc_error_has_label(reply, "RetryableWriteError") ||
                           mongoc_error_has_label(reply, "TransientTransactionError"))) {
    return true;
  }
  if (e.domain != MONGOC_ERROR_SERVER && e.domain != MONGOC_ERROR_WRITE_CONCERN) return false;
  switch (e.code) {
    case 6:      // HostUnreachable
    case 7:      // HostNotFound
    case 64:     // WriteConcernFailed (wtimeout)
    case 89:     // NetworkTimeout
    case 91:     // ShutdownInProgress
    case 189:    // PrimarySteppedDown
    case 262:    // ExceededTimeLimit
    case 9001:   // SocketException
    case 10107:  // NotWritablePrimary
    case 11600:  // InterruptedAtShutdown
    case 11602:  // InterruptedDueToReplStateChange
    case 13435:  // NotPrimaryNoSecondaryOk
    case 13436:  // NotPrimaryOrSecondary
      return true;
    default:
      return false;
  }
}

Result<std::unique_ptr<Database>> Database::Connect(const std::string& url,
                                                    const StoreOptions& options) {
  InitDriver();
  RememberPassword(url);
  const std::string shown = RedactUrl(url);
  bson_error_t error;
  mongoc_uri_t* uri = mongoc_uri_new_with_error(url.c_str(), &error);
  if (uri == nullptr) {
    return Status::Error("mongodb store URL " + shown + " is invalid: " + Clean(error.message));
  }
  if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS)) {
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
                                   static_cast<int32_t>(options.server_timeout.count()));
  }
  if (!mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS)) {
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS,
                                   static_cast<int32_t>(options.server_timeout.count()));
  }
  if (!mongoc_uri_has_option(uri, MONGOC_URI_W)) {
    mongoc_write_concern_t* wc = mongoc_write_concern_new();
    if (options.write_concern == "majority") {
      mongoc_write_concern_set_w(wc, MONGOC_WRITE_CONCERN_W_MAJORITY);
    } else {
      int w = std::atoi(options.write_concern.c_str());
      if (w <= 0) {
        mongoc_write_concern_destroy(wc);
        mongoc_uri_destroy(uri);
        return Status::Error("store write concern '" + options.write_concern +
                             "' is not \"majority\" or a number of nodes");
      }
      mongoc_write_concern_set_w(wc, w);
    }
    mongoc_write_concern_set_journal(wc, true);
    mongoc_uri_set_write_concern(uri, wc);
    mongoc_write_concern_destroy(wc);
  }
  const char* db_name = mongoc_uri_get_database(uri);
  std::string db = db_name != nullptr && *db_name != '\0' ? db_name : "gale";

  mongoc_client_pool_t* pool = mongoc_client_pool_new_with_error(uri, &error);
  if (pool == nullptr) {
    mongoc_uri_destroy(uri);
    return Status::Error("mongodb store " + shown + ": " + Clean(error.message));
  }
  mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
  mongoc_client_pool_set_appname(pool, "gale");
  mongoc_client_pool_max_size(pool, static_cast<uint32_t>(std::max(1, options.max_connections)));

  // The server must answer now (bounded by the server selection timeout), and accept writes
  // with the configured write concern.
  mongoc_client_t* client = mongoc_client_pool_pop(pool);
  auto fail = [&](Status s) -> Result<std::unique_ptr<Database>> {
    mongoc_client_pool_push(pool, client);
    mongoc_client_pool_destroy(pool);
    mongoc_uri_destroy(uri);
    return s;
  };
  Doc ping;
  Reply reply;
  ping.Int32("ping", 1);
  if (!mongoc_client_command_simple(client, "admin", ping.get(), nullptr, reply.get(), &error)) {
    return fail(Status::Error("mongodb store " + shown + " is unreachable: " + Clean(error.message),
                              IsRetryable(error, reply.get())));
  }
  Doc build_info;
  Reply info;
  build_info.Int32("buildInfo", 1);
  // MongoDB itself answers with its gitVersion; FerretDB adds ferretdbVersion, and
  // mongo-java-server has neither. Only MongoDB uses an index for the head's revision guard
  // (the others scan the collection for any filter beyond _id), so the guard is for it alone.
  bool answered =
      mongoc_client_command_simple(client, "admin", build_info.get(), nullptr, info.get(), &error);
  bool mongodb =
      answered && View(info.get()).Has("gitVersion") && !View(info.get()).Has("ferretdbVersion");
  {
    mongoc_collection_t* meta = mongoc_client_get_collection(client, db.c_str(), "gale_meta");
    Doc filter, set, update, opts;
    Reply r;
    filter.Str("_id", "schema");
    set.Int32("version", 1);
    update.Sub("$set", set);
    opts.Bool("upsert", true);
    bool ok =
        mongoc_collection_update_one(meta, filter.get(), update.get(), opts.get(), r.get(), &error);
    mongoc_collection_destroy(meta);
    if (!ok && !IsDuplicateKey(error)) {
      return fail(
          Status::Error("mongodb store " + shown + " refuses writes: " + Clean(error.message),
                        IsRetryable(error, r.get())));
    }
  }
  if (Status s = CreateIndexes(client, db, shown); !s) return fail(s);
  mongoc_client_pool_push(pool, client);
  return std::unique_ptr<Database>(new Database(uri, pool, db, shown, mongodb));
}

Database::~Database() {
  mongoc_client_pool_destroy(pool_);
  mongoc_uri_destroy(uri_);
}

Status Database::Fail(const std::string& op, const bson_error_t& e, const bson_t* reply) const {
  return Status::Error("mongodb store " + url_ + ": " + op + ": " + Clean(e.message),
                       IsRetryable(e, reply));
}

Result<bool> Database::Insert(const std::string& collection, const Doc& doc,
                              const std::string& op) {
  Coll c(pool_, db_, collection);
  bson_error_t error;
  Reply reply;
  if (mongoc_collection_insert_one(c.get(), doc.get(), nullptr, reply.get(), &error)) {
    return true;
  }
  if (IsDuplicateKey(error)) return false;
  return Fail(op, error, reply.get());
}

Result<Database::UpdateResult> Database::Update(const std::string& collection, const Doc& filter,
                                                const Doc& update, bool upsert,
                                                const std::string& op, bool allow_duplicate) {
  Coll c(pool_, db_, collection);
  Doc opts;
  Reply reply;
  if (upsert) opts.Bool("upsert", true);
  bson_error_t error;
  if (!mongoc_collection_update_one(c.get(), filter.get(), update.get(), opts.get(), reply.get(),
                                    &error)) {
    if (allow_duplicate && IsDuplicateKey(error)) return UpdateResult{0, true};
    // FerretDB reports a losing concurrent upsert as an internal error, not a duplicate.
    if (allow_duplicate && upsert &&
        std::string(error.message).find("uplicate") != std::string::npos) {
      return UpdateResult{0, true};
    }
    return Fail(op, error, reply.get());
  }
  View r(reply.get());
  return UpdateResult{r.Int("matchedCount") + r.Int("upsertedCount"), false};
}

Status Database::Upsert(const std::string& collection, const Doc& filter, const Doc& update,
                        const std::string& op) {
  for (int round = 0;; ++round) {
    auto r = Update(collection, filter, update, true, op, round < 3);
    if (r.ok() && r->duplicate) continue;
    return r.ok() ? Status::Ok() : r.status();
  }
}

Result<int64_t> Database::Delete(const std::string& collection, const Doc& filter,
                                 const std::string& op) {
  Coll c(pool_, db_, collection);
  Reply reply;
  bson_error_t error;
  if (!mongoc_collection_delete_many(c.get(), filter.get(), nullptr, reply.get(), &error)) {
    return Fail(op, error, reply.get());
  }
  return View(reply.get()).Int("deletedCount");
}

Result<int64_t> Database::Count(const std::string& collection, const Doc& filter,
                                const std::string& op) {
  Coll c(pool_, db_, collection);
  Reply reply;
  bson_error_t error;
  const int64_t n = mongoc_collection_count_documents(c.get(), filter.get(), nullptr, nullptr,
                                                      reply.get(), &error);
  if (n < 0) return Fail(op, error, reply.get());
  return n;
}

Result<std::optional<Doc>> Database::FindById(const std::string& collection, const std::string& id,
                                              const std::string& op) {
  Doc filter, opts;
  filter.Str("_id", id);
  opts.Int("limit", 1);
  Coll c(pool_, db_, collection);
  mongoc_cursor_t* cursor =
      mongoc_collection_find_with_opts(c.get(), filter.get(), opts.get(), nullptr);
  std::optional<Doc> out;
  const bson_t* doc = nullptr;
  if (mongoc_cursor_next(cursor, &doc)) {
    out.emplace();
    bson_concat(out->get(), doc);
  }
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

}  // namespace gale::store::mongo

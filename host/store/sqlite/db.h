// Thin RAII wrappers over one SQLite connection and its cached prepared statements.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "host/common/result.h"

namespace gale::store::sqlite {

// The connection's last error as a Status; busy, locked, I/O and disk-full errors are retryable.
Status Error(sqlite3* db, int rc);

// A cached statement borrowed from a Conn: bound with Bind*, stepped, then reset on destruction.
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* stmt, bool owned) : db_(db), stmt_(stmt), owned_(owned) {}
  Stmt(Stmt&& other) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& operator=(Stmt&&) = delete;
  ~Stmt();

  // Parameters are 1-based, as ?1, ?2... in the SQL.
  Stmt& Bind(int index, int64_t value);
  Stmt& BindText(int index, std::string_view text);
  Stmt& BindBlob(int index, std::string_view bytes);

  // Next row: true when there is one, false when done.
  Result<bool> Step();
  // Steps to the end, ignoring rows.
  Status Run();
  // Ready to be bound and stepped again (bindings cleared).
  void Reset();

  int64_t Int(int column) const;
  std::string Text(int column) const;  // also reads blobs
  bool IsNull(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  bool owned_;  // finalized on destruction instead of returned to the cache
  int bind_rc_ = SQLITE_OK;
};

class Conn {
 public:
  // Opens (never creates unless `flags` say so) with extended result codes and no SQLite mutex;
  // the caller uses a Conn from one thread at a time.
  static Result<std::unique_ptr<Conn>> Open(const std::string& path, int flags);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // A statement prepared once per connection and kept for reuse, or, with cache = false (SQL
  // built from a query's filters), prepared for this use only.
  Result<Stmt> Prepare(const std::string& sql, bool cache = true);
  // Runs one or more statements without results.
  Status Exec(const char* sql);
  int64_t Changes() const { return sqlite3_changes64(db_); }
  sqlite3* db() const { return db_; }

 private:
  explicit Conn(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::map<std::string, sqlite3_stmt*, std::less<>> cache_;
};

}  // namespace gale::store::sqlite

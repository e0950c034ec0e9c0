// Building the SQL of list queries: filters ANDed with numbered parameters, and newest-first
// paging by cursor and offset.
#pragma once

#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "host/store/internal.h"
#include "host/store/sqlite/db.h"
#include "host/store/store.h"

namespace gale::store::sqlite {

// A WHERE clause under construction, with its parameters in order.
class Where {
 public:
  // `clause` uses `?` for each of its parameters, numbered here.
  template <class... Args>
  void And(const std::string& clause, Args&&... args) {
    std::string numbered;
    for (char c : clause) {
      numbered += c;
      if (c == '?') numbered += std::to_string(++count_);
    }
    sql_ += (sql_.empty() ? " WHERE " : " AND ") + numbered;
    (binds_.emplace_back(std::forward<Args>(args)), ...);
  }
  const std::string& sql() const { return sql_; }
  int Next() { return ++count_; }
  void BindAll(Stmt& stmt) const {
    for (size_t i = 0; i < binds_.size(); ++i) {
      int index = static_cast<int>(i) + 1;
      if (auto* n = std::get_if<int64_t>(&binds_[i])) {
        stmt.Bind(index, *n);
      } else {
        stmt.BindText(index, std::get<std::string>(binds_[i]));
      }
    }
  }

 private:
  std::string sql_;
  int count_ = 0;
  std::vector<std::variant<int64_t, std::string>> binds_;
};

// A list query newest first on (time_column, id), paged by cursor and offset, limit + 1 rows
// fetched to tell whether there is a next page.
template <class T, class ReadRow>
Result<Page<T>> ListNewestFirst(Conn& conn, const std::string& select_from, Where& where,
                                const std::string& time_column, const std::string& cursor,
                                size_t limit, size_t offset, ReadRow read_row,
                                TimeMs (*time_of)(const T&),
                                const std::string& (*id_of)(const T&)) {
  if (!cursor.empty()) {
    auto decoded = internal::DecodeCursor(cursor);
    if (!decoded) return Status::Error("invalid page cursor '" + cursor + "'");
    where.And("(" + time_column + " < ? OR (" + time_column + " = ? AND id < ?))",
              int64_t{decoded->first}, int64_t{decoded->first}, decoded->second);
  }
  limit = internal::ClampLimit(limit);
  int limit_index = where.Next();
  int offset_index = where.Next();
  std::string sql = select_from + where.sql() + " ORDER BY " + time_column + " DESC, id DESC" +
                    " LIMIT ?" + std::to_string(limit_index) + " OFFSET ?" +
                    std::to_string(offset_index);
  GALE_ASSIGN_OR_RETURN(Stmt stmt, conn.Prepare(sql, false));
  where.BindAll(stmt);
  stmt.Bind(limit_index, static_cast<int64_t>(limit + 1));
  stmt.Bind(offset_index, static_cast<int64_t>(offset));
  Page<T> page;
  while (true) {
    GALE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    page.items.push_back(read_row(stmt));
  }
  if (page.items.size() > limit) {
    page.items.resize(limit);
    page.next_cursor = internal::EncodeCursor(time_of(page.items.back()), id_of(page.items.back()));
  }
  return page;
}

}  // namespace gale::store::sqlite

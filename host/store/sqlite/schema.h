// The SQLite store's schema and its migrations. A Gale database carries PRAGMA application_id
// kApplicationId and PRAGMA user_version = its schema version.
#pragma once

#include <string>

#include "host/common/result.h"
#include "host/store/sqlite/db.h"

namespace gale::store::sqlite {

inline constexpr int kApplicationId = 0x47616c65;  // "Gale"
inline constexpr int kSchemaVersion = 7;

// Refuses a file that is not Gale's (no need to hold a lock): not a database at all, or one
// with tables of another application, or of a newer schema. Errors name `path`.
Status CheckIdentity(Conn& conn, const std::string& path);

// Creates or migrates the schema to kSchemaVersion in one BEGIN IMMEDIATE transaction, so
// several processes opening one new file at once are safe.
Status Migrate(Conn& conn, const std::string& path);

}  // namespace gale::store::sqlite

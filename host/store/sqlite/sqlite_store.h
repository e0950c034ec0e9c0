// The embedded store: one SQLite file in WAL mode, safe for many threads of one process and for
// several processes of one node. Writes go through one connection per process under a mutex
// and BEGIN IMMEDIATE (so compare-and-set is atomic across processes too); reads use a small
// pool of read-only connections.
#pragma once

#include <memory>
#include <string>

#include "host/common/result.h"
#include "host/store/open.h"
#include "host/store/store.h"

namespace gale::store {

// `path` is a file path (not a URL). Errors are one line naming the path.
Result<StorePtr> OpenSqliteStore(const std::string& path, const StoreOptions& options);

}  // namespace gale::store

// The multi-node store on MongoDB (or a MongoDB-protocol server such as FerretDB) through a
// libmongoc client pool. Every compare-and-set is a single-document update or findAndModify
// with the expected state in its filter, so it needs no transactions.
#pragma once

#include <string>

#include "host/common/result.h"
#include "host/store/open.h"
#include "host/store/store.h"

namespace gale::store {

// Connects (bounded by options.server_timeout), checks that the server answers and accepts the
// write concern, and creates the indexes.
Result<StorePtr> OpenMongoStore(const std::string& url, const StoreOptions& options);

}  // namespace gale::store

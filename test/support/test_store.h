// A temporary store for tests: SQLite without full fsync (it survives kill -9 of a process all
// the same; only a power cut could lose the last commits).
#pragma once

#include <string>

#include "host/common/result.h"
#include "host/store/store.h"

namespace gale::testing {

Result<store::StorePtr> OpenTestStore(const std::string& url);

}  // namespace gale::testing

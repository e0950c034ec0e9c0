// The one layer that checks what callers hand the store, in front of either backend: ids, sizes,
// windows and TTLs are refused here with the same message whichever backend is configured, and
// the backends only ever see input that passed. OpenStore() wraps every store it opens.
#pragma once

#include "host/store/store.h"

namespace gale::store {

StorePtr WithInputChecks(StorePtr backend);

}  // namespace gale::store

#include "test_store.h"

#include "host/store/open.h"

namespace gale::testing {

Result<store::StorePtr> OpenTestStore(const std::string& url) {
  store::StoreOptions options;
  options.sqlite_sync_full = false;
  return store::OpenStore(url, options);
}

}  // namespace gale::testing

// URL dispatch to the backends, and retrying an unreachable store at start.
#include "host/store/open.h"

#include <algorithm>
#include <thread>

#include "host/store/mongo/mongo_store.h"
#include "host/store/sqlite/sqlite_store.h"

namespace gale::store {

std::string RedactUrl(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  size_t start = scheme + 3;
  size_t at = url.find('@', start);
  size_t slash = url.find('/', start);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return url;
  size_t colon = url.find(':', start);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

std::string DefaultStoreUrl(const std::string& gale_home) {
  std::string home = gale_home.empty() ? "." : gale_home;
  if (home.size() > 1 && home.back() == '/') home.pop_back();
  return "sqlite://" + home + "/gale.db";
}

Result<StorePtr> OpenStore(const std::string& url, const StoreOptions& options) {
  if (url.rfind("sqlite://", 0) == 0) return OpenSqliteStore(url.substr(9), options);
  if (url.rfind("mongodb://", 0) == 0 || url.rfind("mongodb+srv://", 0) == 0) {
    return OpenMongoStore(url, options);
  }
  return Status::Error("store URL '" + RedactUrl(url) +
                       "' has an unknown scheme; use sqlite://PATH or mongodb://HOST/DB");
}

Result<StorePtr> OpenStoreWithRetry(const std::string& url, const StoreOptions& options,
                                    std::chrono::milliseconds max_wait, const LogFn& log) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + max_wait;
  std::chrono::milliseconds backoff{200};
  for (int attempt = 1;; ++attempt) {
    Result<StorePtr> store = OpenStore(url, options);
    if (store.ok() || !store.status().retryable()) return store;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return Status::Error(
          store.message() + " (gave up after " + std::to_string(attempt) + " attempts)", true);
    }
    auto wait = std::min(backoff, left);
    if (log) {
      log("store " + RedactUrl(url) + " unavailable (attempt " + std::to_string(attempt) +
          "): " + store.message() + "; retrying in " + std::to_string(wait.count()) + " ms");
    }
    std::this_thread::sleep_for(wait);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

}  // namespace gale::store

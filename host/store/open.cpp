// URL dispatch to the backends, and retrying an unreachable store at start.
#include "host/store/open.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "host/common/hex.h"
#include "host/store/checked_store.h"
#include "host/store/mongo/mongo_store.h"
#include "host/store/sqlite/sqlite_store.h"

namespace gale::store {

namespace {

// Where the password of `url` starts and ends; npos when it has none.
std::pair<size_t, size_t> PasswordSpan(const std::string& url) {
  constexpr auto kNone = std::make_pair(std::string::npos, std::string::npos);
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return kNone;
  const size_t start = scheme + 3;
  const size_t options = url.find('?', start);
  const size_t end = options == std::string::npos ? url.size() : options;
  const size_t at = end > start ? url.rfind('@', end - 1) : std::string::npos;
  if (at == std::string::npos || at < start) return kNone;
  const size_t colon = url.find(':', start);
  if (colon == std::string::npos || colon > at) return kNone;
  return {colon + 1, at};
}

std::string PercentDecoded(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const int hi = text[i] == '%' && i + 2 < text.size() ? HexDigitValue(text[i + 1]) : -1;
    const int lo = hi >= 0 ? HexDigitValue(text[i + 2]) : -1;
    if (lo >= 0) {
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

void ReplaceAll(std::string& text, const std::string& what) {
  if (what.empty()) return;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 3)) {
    text.replace(at, what.size(), "***");
  }
}

}  // namespace

std::string RedactUrl(const std::string& url) {
  const auto [begin, end] = PasswordSpan(url);
  if (begin == std::string::npos) return url;
  return url.substr(0, begin) + "***" + url.substr(end);
}

std::string UrlPassword(const std::string& url) {
  const auto [begin, end] = PasswordSpan(url);
  return begin == std::string::npos ? "" : url.substr(begin, end - begin);
}

std::string RedactPassword(std::string text, const std::string& password) {
  ReplaceAll(text, password);
  ReplaceAll(text, PercentDecoded(password));
  return text;
}

std::string DefaultStoreUrl(const std::string& gale_home) {
  std::string home = gale_home.empty() ? "." : gale_home;
  if (home.size() > 1 && home.back() == '/') home.pop_back();
  return "sqlite://" + home + "/gale.db";
}

namespace {

Result<StorePtr> OpenBackend(const std::string& url, const StoreOptions& options) {
  if (url.rfind("sqlite://", 0) == 0) return OpenSqliteStore(url.substr(9), options);
  if (url.rfind("mongodb://", 0) == 0 || url.rfind("mongodb+srv://", 0) == 0) {
    return OpenMongoStore(url, options);
  }
  return Status::Error("store URL '" + RedactUrl(url) +
                       "' has an unknown scheme; use sqlite://PATH or mongodb://HOST/DB");
}

}  // namespace

Result<StorePtr> OpenStore(const std::string& url, const StoreOptions& options) {
  GALE_ASSIGN_OR_RETURN(StorePtr backend, OpenBackend(url, options));
  return WithInputChecks(std::move(backend));
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

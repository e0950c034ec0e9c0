// Opening a Store from its URL.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "host/common/result.h"
#include "host/store/store.h"

namespace gale::store {

using LogFn = std::function<void(const std::string& line)>;

struct StoreOptions {
  // MongoDB: how long to look for a server (at open and for each operation) before an
  // operation fails with a retryable error. A serverSelectionTimeoutMS in the URL wins.
  std::chrono::milliseconds server_timeout{5000};
  // MongoDB: write concern, "majority" or a number of nodes ("1"). A `w=` in the URL wins.
  std::string write_concern = "majority";
  // MongoDB: client pool size. SQLite: connections kept for readers.
  int max_connections = 16;
  // SQLite: how long a writer waits for another process's write lock before a retryable error.
  std::chrono::milliseconds busy_timeout{10000};
  // SQLite: synchronous=FULL (survives power loss) or NORMAL (survives a crash of the process,
  // faster). Both survive kill -9.
  bool sqlite_sync_full = true;
  // Warnings worth a log line (e.g. a fallback); may be empty.
  LogFn log;
};

// `sqlite://PATH` (absolute `sqlite:///var/gale/gale.db` or relative `sqlite://gale.db`) or
// `mongodb://[user:pass@]host[:port][,...]/[database][?options]` (database defaults to "gale").
// Creates the schema / indexes when missing. Errors are one line naming the URL (passwords
// masked) or the file: an unreachable server is retryable, a corrupt, foreign, read-only or
// unreachable file or an unknown scheme is not.
Result<StorePtr> OpenStore(const std::string& url, const StoreOptions& options = {});

// OpenStore, retrying retryable errors with exponential backoff (0.2 s doubling up to 5 s)
// for up to `max_wait`; each failed attempt is reported through `log`.
Result<StorePtr> OpenStoreWithRetry(const std::string& url, const StoreOptions& options,
                                    std::chrono::milliseconds max_wait, const LogFn& log);

// `sqlite://<gale_home>/gale.db`, the default when no store is configured.
std::string DefaultStoreUrl(const std::string& gale_home);

// The URL with any password replaced by "***", for messages. A password typed with a raw '/'
// or '@' (not percent-encoded) is masked too: everything between the user's ':' and the last
// '@' before the options goes.
std::string RedactUrl(const std::string& url);
// The password of a URL as written in it ("" when none).
std::string UrlPassword(const std::string& url);
// `text` with every occurrence of `password` (as written, and percent-decoded) replaced by
// "***": for messages from a driver that may echo what it was given.
std::string RedactPassword(std::string text, const std::string& password);

}  // namespace gale::store

// API keys (`gale apikey create|list|delete`): random tokens handed out once; the store keeps only
// their SHA-256 (scope `gale`, name "apikey:<sha256 hex>") with the key's scope, so a copy of the
// database grants nothing. Clients send a key in the `St2-Api-Key` header (StackStorm's name);
// webhook routes also take the `st2-api-key` query parameter (StackStorm's webhook senders).
//
// Scopes, each including the one before: `read` (GET only), `run` (also runs, cancels and re-runs
// actions and fires webhooks), `admin` (everything, including `decrypt=true` and datastore, rule
// and pack changes). Keys stored before scopes existed count as `run`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "host/common/result.h"
#include "host/store/store.h"

namespace gale::api {

enum class ApiScope { kRead = 0, kRun = 1, kAdmin = 2 };
const char* ToString(ApiScope scope);
std::optional<ApiScope> ParseApiScope(const std::string& text);  // "read" | "run" | "admin"

struct ApiKeyInfo {
  std::string id;  // the first 12 hex digits of the hash: names the key in list and delete
  std::string name;
  store::TimeMs created_at = 0;
  ApiScope scope = ApiScope::kRun;
};

struct NewApiKey {
  ApiKeyInfo info;
  std::string key;  // shown once, never stored
};

Result<NewApiKey> CreateApiKey(store::Store& store, const std::string& name, ApiScope scope,
                               store::TimeMs now);
Result<std::vector<ApiKeyInfo>> ListApiKeys(store::Store& store);
// False when no key has that id.
Result<bool> DeleteApiKey(store::Store& store, const std::string& id);
// The key's scope when `key` was created and not deleted; nullopt otherwise.
Result<std::optional<ApiScope>> VerifyApiKey(store::Store& store, const std::string& key);

// Writes a new random 256-bit token (hex) to `path`, mode 0600, atomically (a temporary file
// renamed over it); returns it. The node's own admin credential: see docs/security.md.
Result<std::string> WriteNodeToken(const std::string& path);

// Equal strings, compared in time that does not depend on where they differ.
bool SameSecret(const std::string& a, const std::string& b);

std::string Sha256Hex(const std::string& data);

}  // namespace gale::api

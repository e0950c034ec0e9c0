// API keys (`gale apikey create|list|delete`): random tokens handed out once; the store keeps only
// their SHA-256 (scope `gale`, name "apikey:<sha256 hex>"), so a copy of the database grants
// nothing. Clients send a key in the `St2-Api-Key` header (StackStorm's name) or the
// `st2-api-key` query parameter (for event streams).
#pragma once

#include <string>
#include <vector>

#include "host/common/result.h"
#include "host/store/store.h"

namespace gale::api {

struct ApiKeyInfo {
  std::string id;  // the first 12 hex digits of the hash: names the key in list and delete
  std::string name;
  store::TimeMs created_at = 0;
};

struct NewApiKey {
  ApiKeyInfo info;
  std::string key;  // shown once, never stored
};

Result<NewApiKey> CreateApiKey(store::Store& store, const std::string& name, store::TimeMs now);
Result<std::vector<ApiKeyInfo>> ListApiKeys(store::Store& store);
// False when no key has that id.
Result<bool> DeleteApiKey(store::Store& store, const std::string& id);
// True when `key` was created and not deleted.
Result<bool> VerifyApiKey(store::Store& store, const std::string& key);

std::string Sha256Hex(const std::string& data);

}  // namespace gale::api

#include "host/api/api_keys.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "host/common/hex.h"

namespace gale::api {
namespace {

constexpr const char* kPrefix = "apikey:";

store::KeyRef RefOf(const std::string& hash) {
  return {kPrefix + hash, store::KeyScope::kGale, ""};
}

}  // namespace

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), digest, &n, EVP_sha256(), nullptr);
  return HexEncode(digest, n);
}

Result<NewApiKey> CreateApiKey(store::Store& store, const std::string& name, store::TimeMs now) {
  unsigned char random[24];
  if (RAND_bytes(random, sizeof random) != 1) return Status::Error("no randomness for a key");
  NewApiKey created;
  created.key = "gale_" + HexEncode(random, sizeof random);
  const std::string hash = Sha256Hex(created.key);
  created.info = {hash.substr(0, 12), name, now};
  store::KeyValue kv;
  kv.name = kPrefix + hash;
  kv.scope = store::KeyScope::kGale;
  kv.value = Json{{"id", created.info.id}, {"name", name}, {"created_at", now}}.dump();
  if (Status s = store.SetKey(kv, now); !s.ok()) return s.WithContext("storing the API key");
  return created;
}

Result<std::vector<ApiKeyInfo>> ListApiKeys(store::Store& store) {
  auto all = store.ListKeys(store::KeyScope::kGale, "", kPrefix, store::NowMs());
  if (!all.ok()) return all.status();
  std::vector<ApiKeyInfo> out;
  for (const auto& kv : *all) {
    Json j = Json::parse(kv.value, nullptr, false);
    if (!j.is_object()) continue;
    out.push_back({j.value("id", ""), j.value("name", ""), j.value("created_at", int64_t{0})});
  }
  return out;
}

Result<bool> DeleteApiKey(store::Store& store, const std::string& id) {
  if (id.size() < 6) return Status::Error("API key id '" + id + "' is too short");
  auto all = store.ListKeys(store::KeyScope::kGale, "", std::string(kPrefix) + id, store::NowMs());
  if (!all.ok()) return all.status();
  if (all->empty()) return false;
  if (all->size() > 1) return Status::Error("API key id '" + id + "' is ambiguous");
  return store.DeleteKey({(*all)[0].name, store::KeyScope::kGale, ""});
}

Result<bool> VerifyApiKey(store::Store& store, const std::string& key) {
  if (key.empty() || key.size() > 256) return false;
  auto got = store.GetKey(RefOf(Sha256Hex(key)), store::NowMs());
  if (!got.ok()) return got.status();
  return got->has_value();
}

}  // namespace gale::api

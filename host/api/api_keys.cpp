#include "host/api/api_keys.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "host/common/hex.h"

namespace gale::api {
namespace {

constexpr const char* kPrefix = "apikey:";

store::KeyRef RefOf(const std::string& hash) {
  return {kPrefix + hash, store::KeyScope::kGale, ""};
}

// A stored key's scope; keys stored before scopes existed were usable for everything but
// key management, which `run` is now.
ApiScope ScopeOf(const Json& j) {
  return ParseApiScope(j.value("scope", "run")).value_or(ApiScope::kRun);
}

Status WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::Error(std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

const char* ToString(ApiScope scope) {
  switch (scope) {
    case ApiScope::kRead:
      return "read";
    case ApiScope::kRun:
      return "run";
    case ApiScope::kAdmin:
      return "admin";
  }
  return "run";
}

std::optional<ApiScope> ParseApiScope(const std::string& text) {
  if (text == "read") return ApiScope::kRead;
  if (text == "run") return ApiScope::kRun;
  if (text == "admin") return ApiScope::kAdmin;
  return std::nullopt;
}

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), digest, &n, EVP_sha256(), nullptr);
  return HexEncode(digest, n);
}

Result<NewApiKey> CreateApiKey(store::Store& store, const std::string& name, ApiScope scope,
                               store::TimeMs now) {
  unsigned char random[24];
  if (RAND_bytes(random, sizeof random) != 1) return Status::Error("no randomness for a key");
  NewApiKey created;
  created.key = "gale_" + HexEncode(random, sizeof random);
  const std::string hash = Sha256Hex(created.key);
  created.info = {hash.substr(0, 12), name, now, scope};
  store::KeyValue kv;
  kv.name = kPrefix + hash;
  kv.scope = store::KeyScope::kGale;
  kv.value =
      Json{{"id", created.info.id}, {"name", name}, {"created_at", now}, {"scope", ToString(scope)}}
          .dump();
  if (Status s = store.SetKey(kv, now); !s.ok()) return s.WithContext("storing the API key");
  return created;
}

Result<std::vector<ApiKeyInfo>> ListApiKeys(store::Store& store) {
  GALE_ASSIGN_OR_RETURN(auto all,
                        store.ListKeys(store::KeyScope::kGale, "", kPrefix, store::NowMs()));
  std::vector<ApiKeyInfo> out;
  for (const auto& kv : all) {
    Json j = Json::parse(kv.value, nullptr, false);
    if (!j.is_object()) continue;
    out.push_back(
        {j.value("id", ""), j.value("name", ""), j.value("created_at", int64_t{0}), ScopeOf(j)});
  }
  return out;
}

Result<bool> DeleteApiKey(store::Store& store, const std::string& id) {
  if (id.size() < 6) return Status::Error("API key id '" + id + "' is too short");
  GALE_ASSIGN_OR_RETURN(auto all, store.ListKeys(store::KeyScope::kGale, "",
                                                 std::string(kPrefix) + id, store::NowMs()));
  if (all.empty()) return false;
  if (all.size() > 1) return Status::Error("API key id '" + id + "' is ambiguous");
  return store.DeleteKey({all[0].name, store::KeyScope::kGale, ""});
}

Result<std::optional<ApiScope>> VerifyApiKey(store::Store& store, const std::string& key) {
  if (key.empty() || key.size() > 256) return std::optional<ApiScope>();
  GALE_ASSIGN_OR_RETURN(auto got, store.GetKey(RefOf(Sha256Hex(key)), store::NowMs()));
  if (!got.has_value()) return std::optional<ApiScope>();
  Json j = Json::parse(got->value, nullptr, false);
  return std::optional<ApiScope>(j.is_object() ? ScopeOf(j) : ApiScope::kRun);
}

Result<std::string> WriteNodeToken(const std::string& path) {
  unsigned char random[32];
  if (RAND_bytes(random, sizeof random) != 1) return Status::Error("no randomness for api.token");
  const std::string token = HexEncode(random, sizeof random);
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  // O_EXCL with 0600: the file is never readable by others, whatever the umask.
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::Error(tmp + ": " + std::strerror(errno));
  Status written = WriteAll(fd, token + "\n");
  if (written.ok() && ::fsync(fd) != 0) written = Status::Error(std::strerror(errno));
  ::close(fd);
  if (written.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    written = Status::Error(std::strerror(errno));
  }
  if (!written.ok()) {
    ::unlink(tmp.c_str());
    return Status::Error(path + ": " + written.message());
  }
  return token;
}

bool SameSecret(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace gale::api

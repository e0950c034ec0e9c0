#include "host/store/key_cipher.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>

#include "host/common/hex.h"
#include "host/common/key_file.h"

namespace gale::store {
namespace {

// "aes256gcm:" values were sealed before the binding (no associated data); still read.
constexpr std::string_view kPrefixV1 = "aes256gcm:", kPrefixV2 = "aes256gcm2:";
constexpr std::string_view kBinding{"gale-kv-v2\0", 11};
constexpr size_t kNonce = 12, kTag = 16;

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

// GCM's associated data for a value stored under `key`. A NUL in the user or the name would
// make two keys' data equal, so such keys are refused (the store never holds them anyway).
Result<std::string> BindingOf(const KeyRef& key) {
  if (key.user.find('\0') != std::string::npos || key.name.find('\0') != std::string::npos) {
    return Status::Error("datastore key " + KeyCipher::Describe(key) + " contains a NUL byte");
  }
  std::string aad(kBinding);
  aad += ToString(key.scope);
  aad += '\0';
  aad += key.user;
  aad += '\0';
  aad += key.name;
  return aad;
}

Status OpenSslFailed(const char* step) {
  return Status::Error(std::string("datastore cipher: OpenSSL ") + step + " failed");
}

Result<std::string> Seal(const std::array<unsigned char, 32>& key, const std::string& aad,
                         std::string_view plain) {
  std::string out(kNonce + plain.size() + kTag, '\0');
  auto* bytes = reinterpret_cast<unsigned char*>(out.data());
  if (RAND_bytes(bytes, kNonce) != 1) return OpenSslFailed("RAND_bytes (no randomness)");
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  if (!ctx) return OpenSslFailed("EVP_CIPHER_CTX_new");
  int len = 0, tail = 0;
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), bytes) != 1) {
    return OpenSslFailed("EVP_EncryptInit_ex");
  }
  if (EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1) {
    return OpenSslFailed("EVP_EncryptUpdate (associated data)");
  }
  if (EVP_EncryptUpdate(ctx.get(), bytes + kNonce, &len,
                        reinterpret_cast<const unsigned char*>(plain.data()),
                        static_cast<int>(plain.size())) != 1) {
    return OpenSslFailed("EVP_EncryptUpdate");
  }
  if (EVP_EncryptFinal_ex(ctx.get(), bytes + kNonce + len, &tail) != 1 ||
      static_cast<size_t>(len + tail) != plain.size()) {
    return OpenSslFailed("EVP_EncryptFinal_ex");
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, bytes + kNonce + plain.size()) !=
      1) {
    return OpenSslFailed("EVP_CTRL_GCM_GET_TAG");
  }
  return std::string(kPrefixV2) + HexEncode(bytes, out.size());
}

// The plain text of nonce | ciphertext | tag. When the tag does not verify, *refused is set
// (the caller says which key); otherwise an error is OpenSSL itself failing.
Result<std::string> Open(const std::array<unsigned char, 32>& key, const std::string& aad,
                         const std::string& raw, bool* refused) {
  *refused = false;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  const size_t n = raw.size() - kNonce - kTag;
  std::string plain(n, '\0');
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  if (!ctx) return OpenSslFailed("EVP_CIPHER_CTX_new");
  int len = 0, tail = 0;
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), bytes) != 1) {
    return OpenSslFailed("EVP_DecryptInit_ex");
  }
  if (!aad.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                                        reinterpret_cast<const unsigned char*>(aad.data()),
                                        static_cast<int>(aad.size())) != 1) {
    return OpenSslFailed("EVP_DecryptUpdate (associated data)");
  }
  if (EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len,
                        bytes + kNonce, static_cast<int>(n)) != 1) {
    return OpenSslFailed("EVP_DecryptUpdate");
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag,
                          const_cast<unsigned char*>(bytes + kNonce + n)) != 1) {
    return OpenSslFailed("EVP_CTRL_GCM_SET_TAG");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len, &tail) !=
      1) {
    *refused = true;
    return Status::Error("the tag does not verify");
  }
  return plain;
}

enum class Format { kNone, kUnbound, kBound };

// Which format `sealed` is in, with its raw bytes in *raw.
Format Parse(std::string_view sealed, std::string* raw) {
  Format format = Format::kNone;
  if (sealed.starts_with(kPrefixV2)) {
    format = Format::kBound;
    sealed.remove_prefix(kPrefixV2.size());
  } else if (sealed.starts_with(kPrefixV1)) {
    format = Format::kUnbound;
    sealed.remove_prefix(kPrefixV1.size());
  }
  if (format == Format::kNone || !HexDecode(sealed, raw) || raw->size() < kNonce + kTag) {
    return Format::kNone;
  }
  return format;
}

}  // namespace

std::string KeyCipher::Describe(const KeyRef& key) {
  std::string out(ToString(key.scope));
  if (key.scope == KeyScope::kUser) out += ":" + key.user;
  return out + ":" + key.name;
}

Result<KeyCipher> KeyCipher::LoadOrCreate(const std::string& path) {
  GALE_ASSIGN_OR_RETURN(
      auto key, LoadOrCreateKeyFile(path, "the datastore key", "datastore.encryption_key_path"));
  KeyCipher cipher;
  cipher.key_ = key;
  return cipher;
}

Result<std::string> KeyCipher::Encrypt(const KeyRef& key, std::string_view plain) const {
  GALE_ASSIGN_OR_RETURN(auto aad, BindingOf(key));
  auto sealed = Seal(key_, aad, plain);
  if (!sealed.ok()) return sealed.status().WithContext("sealing " + Describe(key));
  return sealed;
}

Result<std::string> KeyCipher::Decrypt(const KeyRef& key, std::string_view sealed) const {
  std::string raw;
  const Format format = Parse(sealed, &raw);
  if (format == Format::kNone) {
    return Status::Error("datastore value of " + Describe(key) + " is not an encrypted value");
  }
  std::string aad;
  if (format == Format::kBound) {
    GALE_ASSIGN_OR_RETURN(auto bound, BindingOf(key));
    aad = std::move(bound);
  }
  bool refused = false;
  auto plain = Open(key_, aad, raw, &refused);
  if (plain.ok()) return plain;
  if (!refused) return plain.status().WithContext("opening " + Describe(key));
  return Status::Error("datastore value of " + Describe(key) + " does not open: " +
                       (format == Format::kBound
                            ? "it was sealed for another key, or altered, or with another "
                              "datastore.encryption_key_path"
                            : "altered, or sealed with another datastore.encryption_key_path"));
}

Result<std::string> KeyCipher::DecryptUnbound(std::string_view sealed) const {
  std::string raw;
  const Format format = Parse(sealed, &raw);
  if (format == Format::kNone) return Status::Error("not an encrypted datastore value");
  if (format == Format::kBound) {
    return Status::Error(
        "this encrypted value is bound to its datastore key: decrypt it as read from the "
        "datastore (st2kv.system.NAME | decrypt_kv)");
  }
  bool refused = false;
  auto plain = Open(key_, "", raw, &refused);
  if (plain.ok() || !refused) return plain;
  return Status::Error(
      "encrypted datastore value does not decrypt with this node's key "
      "(altered, or sealed with another datastore.encryption_key_path)");
}

}  // namespace gale::store

#include "host/store/key_cipher.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "host/common/hex.h"

namespace gale::store {
namespace {

constexpr std::string_view kPrefix = "aes256gcm:";
constexpr size_t kNonce = 12, kTag = 16;

bool Unhex(std::string_view text, std::string* out) {
  if (text.size() % 2 != 0) return false;
  out->clear();
  for (size_t i = 0; i < text.size(); i += 2) {
    int v = 0;
    for (size_t j = 0; j < 2; ++j) {
      const int d = HexDigitValue(text[i + j]);
      if (d < 0) return false;
      v = v * 16 + d;
    }
    *out += static_cast<char>(v);
  }
  return true;
}

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

// Writes a fresh key to a private temporary file and links it into place: link() fails when
// the key exists, so nodes starting together (or the API and rules roles of one node) all end
// up with the one key that won, and nobody ever reads a half-written file.
Status CreateKeyFile(const std::string& path, const std::array<unsigned char, 32>& key) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(path).parent_path();
  std::error_code ec;
  if (!dir.empty() && !fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    ::chmod(dir.c_str(), 0700);
  }
  std::string tmp = path + ".XXXXXX";
  const int fd = ::mkstemp(tmp.data());  // mode 0600
  if (fd < 0) {
    return Status::Error(path + ": cannot create the datastore key: " + std::strerror(errno));
  }
  const std::string text = HexEncode(key.data(), key.size()) + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  const int linked = written ? ::link(tmp.c_str(), path.c_str()) : -1;
  const int link_errno = errno;
  ::unlink(tmp.c_str());
  if (!written) return Status::Error(path + ": cannot write the datastore key");
  if (linked != 0 && link_errno != EEXIST) {
    return Status::Error(path + ": cannot create the datastore key: " + std::strerror(link_errno));
  }
  return Status::Ok();
}

}  // namespace

Result<KeyCipher> KeyCipher::LoadOrCreate(const std::string& path) {
  KeyCipher cipher;
  if (::access(path.c_str(), F_OK) != 0) {
    if (RAND_bytes(cipher.key_.data(), static_cast<int>(cipher.key_.size())) != 1) {
      return Status::Error("cannot generate the datastore key: no randomness");
    }
    if (Status created = CreateKeyFile(path, cipher.key_); !created.ok()) return created;
    // Read back: another process may have created it first.
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status::Error(path + ": " + std::strerror(errno));
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", st.st_mode & 0777);
    return Status::Error(path + ": the datastore key may be read by others (mode " + mode +
                         "); chmod 600 it");
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Error(path + ": " + std::strerror(errno));
  char buf[130];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  std::string_view text(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  std::string raw;
  if (text.size() != 64 || !Unhex(text, &raw)) {
    return Status::Error(path + ": not a datastore key (expected 64 hex digits)");
  }
  std::memcpy(cipher.key_.data(), raw.data(), cipher.key_.size());
  return cipher;
}

std::string KeyCipher::Encrypt(std::string_view plain) const {
  unsigned char nonce[kNonce];
  RAND_bytes(nonce, kNonce);
  std::string out(kNonce + plain.size() + kTag, '\0');
  auto* bytes = reinterpret_cast<unsigned char*>(out.data());
  std::memcpy(bytes, nonce, kNonce);
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), nonce);
  EVP_EncryptUpdate(ctx.get(), bytes + kNonce, &len,
                    reinterpret_cast<const unsigned char*>(plain.data()),
                    static_cast<int>(plain.size()));
  EVP_EncryptFinal_ex(ctx.get(), bytes + kNonce + len, &len);
  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, bytes + kNonce + plain.size());
  return std::string(kPrefix) + HexEncode(bytes, out.size());
}

Result<std::string> KeyCipher::Decrypt(std::string_view sealed) const {
  std::string raw;
  if (sealed.substr(0, kPrefix.size()) != kPrefix || !Unhex(sealed.substr(kPrefix.size()), &raw) ||
      raw.size() < kNonce + kTag) {
    return Status::Error("not an encrypted datastore value");
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  const size_t n = raw.size() - kNonce - kTag;
  std::string plain(n, '\0');
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), bytes);
  EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len, bytes + kNonce,
                    static_cast<int>(n));
  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag,
                      const_cast<unsigned char*>(bytes + kNonce + n));
  if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len, &len) !=
      1) {
    return Status::Error(
        "encrypted datastore value does not decrypt with this node's key "
        "(altered, or sealed with another datastore.encryption_key_path)");
  }
  return plain;
}

}  // namespace gale::store

// The datastore's key cipher: sealed values round-trip, tampering, foreign keys and values moved
// between datastore keys are refused, values sealed before the binding still open, the key file
// is private (not a link, not another user's), and nodes starting together end up with one key.
#include "host/store/key_cipher.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "host/common/hex.h"
#include "store_fixture.h"

namespace gale::store {
namespace {

const KeyRef kSystemA{"a", KeyScope::kSystem, ""};

TEST(KeyCipherTest, SealsAndOpensAndRefusesWhatWasAltered) {
  testing::TempDir dir;
  auto cipher = KeyCipher::LoadOrCreate(dir.path() + "/keys/datastore.key");
  ASSERT_TRUE(cipher.ok()) << cipher.message();
  const std::string sealed = *cipher->Encrypt(kSystemA, "hunter2");
  EXPECT_EQ(sealed.rfind("aes256gcm2:", 0), 0u);
  EXPECT_EQ(sealed.find("hunter2"), std::string::npos);
  EXPECT_NE(sealed, *cipher->Encrypt(kSystemA, "hunter2")) << "a fresh nonce every time";
  EXPECT_EQ(*cipher->Decrypt(kSystemA, sealed), "hunter2");
  EXPECT_EQ(*cipher->Decrypt(kSystemA, *cipher->Encrypt(kSystemA, "")), "");

  std::string altered = sealed;
  altered.back() = altered.back() == '0' ? '1' : '0';
  EXPECT_FALSE(cipher->Decrypt(kSystemA, altered).ok());
  EXPECT_FALSE(cipher->Decrypt(kSystemA, "hunter2").ok());
  auto other = KeyCipher::LoadOrCreate(dir.path() + "/other.key");
  ASSERT_TRUE(other.ok());
  auto foreign = other->Decrypt(kSystemA, sealed);
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.message().find("hunter2"), std::string::npos);

  struct stat st {};
  ASSERT_EQ(::stat((dir.path() + "/keys/datastore.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir.path() + "/keys").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST(KeyCipherTest, AKeyFileOthersCanReadOrThatIsNotAKeyIsRefused) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/datastore.key";
  ASSERT_TRUE(KeyCipher::LoadOrCreate(path).ok());
  ::chmod(path.c_str(), 0644);
  auto open = KeyCipher::LoadOrCreate(path);
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.message().find("chmod 600"), std::string::npos) << open.message();
  std::ofstream(path, std::ios::trunc) << "not a key\n";
  ::chmod(path.c_str(), 0600);
  auto garbage = KeyCipher::LoadOrCreate(path);
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.message().find("64 hex digits"), std::string::npos) << garbage.message();
}

// Whoever can write the store cannot move a secret into another key (say one a rule hands to a
// less guarded action): the value is bound to its scope, user and name.
TEST(KeyCipherTest, AValueMovedToAnotherKeyDoesNotOpen) {
  testing::TempDir dir;
  auto cipher = KeyCipher::LoadOrCreate(dir.path() + "/datastore.key");
  ASSERT_TRUE(cipher.ok()) << cipher.message();
  const std::string sealed = *cipher->Encrypt(kSystemA, "hunter2");
  const std::vector<std::pair<KeyRef, std::string>> elsewhere = {
      {{"b", KeyScope::kSystem, ""}, "system:b"},
      {{"a", KeyScope::kUser, "alice"}, "user:alice:a"},
      {{"a", KeyScope::kUser, ""}, "user::a"},
  };
  for (const auto& [key, label] : elsewhere) {
    auto opened = cipher->Decrypt(key, sealed);
    ASSERT_FALSE(opened.ok()) << label;
    EXPECT_NE(opened.message().find("datastore value of " + label +
                                    " does not open: it was sealed for another key, or altered"),
              std::string::npos)
        << opened.message();
    EXPECT_EQ(opened.message().find("hunter2"), std::string::npos);
  }
  // One user's value does not open as another's.
  const KeyRef alice{"a", KeyScope::kUser, "alice"}, bob{"a", KeyScope::kUser, "bob"};
  EXPECT_FALSE(cipher->Decrypt(bob, *cipher->Encrypt(alice, "x")).ok());
  // Nor does a bound value open as a literal, where there is no key to check it against.
  auto unbound = cipher->DecryptUnbound(sealed);
  ASSERT_FALSE(unbound.ok());
  EXPECT_NE(unbound.message().find("bound to its datastore key"), std::string::npos)
      << unbound.message();
  // A NUL in a name could make two keys' associated data equal.
  EXPECT_FALSE(cipher->Encrypt({std::string("a\0b", 3), KeyScope::kSystem, ""}, "x").ok());
}

// A value sealed before the binding ("aes256gcm:", no associated data), as the previous release
// wrote it with this key.
std::string SealUnbound(const std::string& key_path, const std::string& plain) {
  std::ifstream in(key_path);
  std::string hex;
  in >> hex;
  std::string key;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    key += static_cast<char>(HexDigitValue(hex[i]) * 16 + HexDigitValue(hex[i + 1]));
  }
  unsigned char out[12 + 64 + 16];
  RAND_bytes(out, 12);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0;
  EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr,
                     reinterpret_cast<const unsigned char*>(key.data()), out);
  EVP_EncryptUpdate(ctx, out + 12, &len, reinterpret_cast<const unsigned char*>(plain.data()),
                    static_cast<int>(plain.size()));
  EVP_EncryptFinal_ex(ctx, out + 12 + len, &len);
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out + 12 + plain.size());
  EVP_CIPHER_CTX_free(ctx);
  return "aes256gcm:" + HexEncode(out, 12 + plain.size() + 16);
}

TEST(KeyCipherTest, AValueSealedBeforeTheBindingStillOpens) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/datastore.key";
  auto cipher = KeyCipher::LoadOrCreate(path);
  ASSERT_TRUE(cipher.ok()) << cipher.message();
  const std::string old = SealUnbound(path, "hunter2");
  auto opened = cipher->Decrypt(kSystemA, old);
  ASSERT_TRUE(opened.ok()) << opened.message();
  EXPECT_EQ(*opened, "hunter2");
  // Unbound, it opens under any key (docs/security.md: re-bound when next written).
  EXPECT_EQ(*cipher->Decrypt({"b", KeyScope::kSystem, ""}, old), "hunter2");
  EXPECT_EQ(*cipher->DecryptUnbound(old), "hunter2");
  std::string altered = old;
  altered.back() = altered.back() == '0' ? '1' : '0';
  EXPECT_FALSE(cipher->Decrypt(kSystemA, altered).ok());
}

// A link lets whoever controls its target choose the key; refused even when the target is fine.
TEST(KeyCipherTest, AKeyFileThatIsASymlinkIsRefused) {
  testing::TempDir dir;
  const std::string real = dir.path() + "/real.key", link = dir.path() + "/datastore.key";
  ASSERT_TRUE(KeyCipher::LoadOrCreate(real).ok());
  ASSERT_EQ(::symlink(real.c_str(), link.c_str()), 0);
  auto opened = KeyCipher::LoadOrCreate(link);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.message(), link + ": the datastore key is a symbolic link; point " +
                                  "datastore.encryption_key_path at the file itself");
  // A dangling link is not followed to create a key somewhere else either.
  const std::string dangling = dir.path() + "/dangling.key";
  ASSERT_EQ(::symlink((dir.path() + "/nowhere.key").c_str(), dangling.c_str()), 0);
  EXPECT_FALSE(KeyCipher::LoadOrCreate(dangling).ok());
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/nowhere.key"));
}

TEST(KeyCipherTest, AKeyFileAnotherUserOwnsIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "SKIPPED: chown to another user needs root";
  const passwd* nobody = ::getpwnam("nobody");
  if (nobody == nullptr) GTEST_SKIP() << "SKIPPED: no user 'nobody' to hand the key to";
  testing::TempDir dir;
  const std::string path = dir.path() + "/datastore.key";
  ASSERT_TRUE(KeyCipher::LoadOrCreate(path).ok());
  ASSERT_EQ(::chown(path.c_str(), nobody->pw_uid, static_cast<gid_t>(-1)), 0);
  auto opened = KeyCipher::LoadOrCreate(path);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.message(), path + ": the datastore key is owned by uid " +
                                  std::to_string(nobody->pw_uid) +
                                  ", not this node's (0); chown it");
}

// The API and rules roles of several nodes sharing one home all start at once.
TEST(KeyCipherTest, ConcurrentFirstStartsAgreeOnOneKey) {
  for (int round = 0; round < 10; ++round) {
    testing::TempDir dir;
    const std::string path = dir.path() + "/keys/datastore.key";
    std::mutex mu;
    std::vector<KeyCipher> ciphers;
    std::vector<std::string> errors;
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        auto c = KeyCipher::LoadOrCreate(path);
        std::lock_guard lock(mu);
        if (c.ok()) {
          ciphers.push_back(*c);
        } else {
          errors.push_back(c.message());
        }
      });
    }
    for (auto& t : threads) t.join();
    ASSERT_TRUE(errors.empty()) << errors.front();
    const std::string sealed = *ciphers.front().Encrypt(kSystemA, "x");
    for (const KeyCipher& c : ciphers) EXPECT_EQ(*c.Decrypt(kSystemA, sealed), "x");
    size_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path() + "/keys")) {
      (void)e;
      ++files;
    }
    EXPECT_EQ(files, 1u) << "no temporary file left behind";
  }
}

}  // namespace
}  // namespace gale::store

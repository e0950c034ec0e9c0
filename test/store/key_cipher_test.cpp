// The datastore's key cipher: sealed values round-trip, tampering and foreign keys are refused,
// the key file is private, and nodes starting together end up with one key.
#include "host/store/key_cipher.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "store_fixture.h"

namespace gale::store {
namespace {

TEST(KeyCipherTest, SealsAndOpensAndRefusesWhatWasAltered) {
  testing::TempDir dir;
  auto cipher = KeyCipher::LoadOrCreate(dir.path() + "/keys/datastore.key");
  ASSERT_TRUE(cipher.ok()) << cipher.message();
  const std::string sealed = cipher->Encrypt("hunter2");
  EXPECT_EQ(sealed.rfind("aes256gcm:", 0), 0u);
  EXPECT_EQ(sealed.find("hunter2"), std::string::npos);
  EXPECT_NE(sealed, cipher->Encrypt("hunter2")) << "a fresh nonce every time";
  EXPECT_EQ(*cipher->Decrypt(sealed), "hunter2");

  std::string altered = sealed;
  altered.back() = altered.back() == '0' ? '1' : '0';
  EXPECT_FALSE(cipher->Decrypt(altered).ok());
  EXPECT_FALSE(cipher->Decrypt("hunter2").ok());
  auto other = KeyCipher::LoadOrCreate(dir.path() + "/other.key");
  ASSERT_TRUE(other.ok());
  auto foreign = other->Decrypt(sealed);
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
    const std::string sealed = ciphers.front().Encrypt("x");
    for (const KeyCipher& c : ciphers) EXPECT_EQ(*c.Decrypt(sealed), "x");
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

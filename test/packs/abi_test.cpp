// The plugin ABI is versioned: any change to plugin_api/ headers must come with a bump of
// kAbiVersion, because a pack built against other headers could otherwise load and crash.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>

#include "plugin_api/abi.h"

namespace {

namespace fs = std::filesystem;

// Digest of every header under plugin_api/, by name order.
std::string HeadersDigest() {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::directory_iterator(fs::path(GALE_SOURCE_DIR) / "plugin_api")) {
    if (e.path().extension() != ".h") continue;
    std::ifstream in(e.path(), std::ios::binary);
    files[e.path().filename().string()] =
        std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  std::string all;
  for (const auto& [name, text] : files) all += name + '\0' + text + '\0';
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(all.data(), all.size(), md, &len, EVP_sha256(), nullptr);
  std::ostringstream hex;
  for (unsigned i = 0; i < len; ++i) hex << std::hex << std::setw(2) << std::setfill('0') << +md[i];
  return hex.str();
}

TEST(PluginAbiTest, HeadersMatchTheRecordedDigestOfThisVersion) {
  // kAbiVersion -> digest of plugin_api/*.h at that version. When you change a header: bump
  // kAbiVersion in plugin_api/abi.h and add the new digest this test prints.
  const std::map<std::uint32_t, std::string> recorded = {
      {1, "cc7359bd372896c4e840a77022cb534eb6357628982579d755ef5f1f7dfdeb83"},
      {2, "8a0371b993f485940e671aaf8b078e3d121b20ff24886d26090c803679271464"},
  };
  const std::string digest = HeadersDigest();
  auto it = recorded.find(gale::plugin::kAbiVersion);
  ASSERT_NE(it, recorded.end()) << "no digest recorded for ABI version "
                                << gale::plugin::kAbiVersion << "; add {"
                                << gale::plugin::kAbiVersion << ", \"" << digest << "\"}";
  EXPECT_EQ(it->second, digest)
      << "plugin_api/ headers changed without an ABI version bump: bump kAbiVersion and record {"
      << gale::plugin::kAbiVersion + 1 << ", \"<new digest>\"} (current digest " << digest << ")";
}

}  // namespace

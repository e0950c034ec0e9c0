// gale.yaml: the runner and sandbox sections, and one-line errors naming the file and line.
#include "host/config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace gale::config {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gale-config-test-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  Result<Config> LoadText(const std::string& yaml) {
    const fs::path file = dir_ / "gale.yaml";
    std::ofstream(file) << yaml;
    Overrides o;
    o.config_file = file.string();
    o.home = (dir_ / "home").string();
    return Load(o);
  }
  fs::path dir_;
};

TEST_F(ConfigTest, RunnerAndSandboxSectionsAreRead) {
  auto c = LoadText(
      "runner: {max_concurrency: 4, default_timeout: 30, lease_timeout: 5, shutdown_grace: 2}\n"
      "sandbox: {profile: no-network, timeout: 10, memory: 256}\n");
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->max_concurrency, 4);
  EXPECT_EQ(c->default_timeout, 30);
  EXPECT_EQ(c->lease_timeout, 5);
  EXPECT_EQ(c->shutdown_grace, 2);
  EXPECT_EQ(c->sandbox["profile"], "no-network");
}

TEST_F(ConfigTest, DefaultsWithoutAFile) {
  Overrides o;
  o.home = (dir_ / "home").string();
  auto c = Load(o);
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->max_concurrency, 60);
  EXPECT_EQ(c->lease_timeout, 30);
  EXPECT_TRUE(c->sandbox.empty());
}

TEST_F(ConfigTest, BadSandboxAndRunnerValuesAreOneLineErrorsWithTheLine) {
  auto bad_profile = LoadText("node: {name: n1}\nsandbox:\n  profile: none\n");
  ASSERT_FALSE(bad_profile.ok());
  EXPECT_NE(bad_profile.message().find("gale.yaml:2: sandbox: "), std::string::npos)
      << bad_profile.message();
  EXPECT_NE(bad_profile.message().find("none"), std::string::npos) << bad_profile.message();
  auto unknown = LoadText("sandbox: {profil: strict}\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.message().find("profil"), std::string::npos) << unknown.message();
  auto lease = LoadText("runner:\n  lease_timeout: 0\n");
  ASSERT_FALSE(lease.ok());
  EXPECT_NE(lease.message().find("gale.yaml:2: runner.lease_timeout"), std::string::npos)
      << lease.message();
}

}  // namespace
}  // namespace gale::config

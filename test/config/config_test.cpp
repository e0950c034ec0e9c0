// gale.yaml: the runner, sandbox and bus.security sections, and one-line errors naming the file
// and line.
#include "host/config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
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

TEST_F(ConfigTest, BusSecurityBecomesLibrdkafkaPropertiesWithThePasswordFromItsFile) {
  std::ofstream(dir_ / "kafka.password") << "s3cret\n";
  auto c = LoadText(
      "bus:\n"
      "  brokers: 127.0.0.1:9096\n"
      "  security:\n"
      "    protocol: sasl_plaintext\n"
      "    sasl_mechanism: SCRAM-SHA-256\n"
      "    username: gale\n"
      "    password_file: kafka.password\n");  // relative to gale.yaml's folder
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->bus_properties["security.protocol"], "sasl_plaintext");
  EXPECT_EQ(c->bus_properties["sasl.mechanism"], "SCRAM-SHA-256");
  EXPECT_EQ(c->bus_properties["sasl.username"], "gale");
  EXPECT_EQ(c->bus_properties["sasl.password"], "s3cret");
  EXPECT_TRUE(IsSecretBusProperty("sasl.password"));
  EXPECT_TRUE(IsSecretBusProperty("producer.ssl.key.password"));
  EXPECT_FALSE(IsSecretBusProperty("sasl.username"));
}

TEST_F(ConfigTest, BusSecurityPasswordFromTheEnvironmentAndTlsFiles) {
  setenv("GALE_CONFIG_TEST_KAFKA_PASSWORD", "from-env", 1);
  auto c = LoadText(
      "bus:\n"
      "  security: {protocol: sasl_ssl, sasl_mechanism: PLAIN, username: u,\n"
      "             password_env: GALE_CONFIG_TEST_KAFKA_PASSWORD, ca_file: /etc/ca.pem}\n");
  unsetenv("GALE_CONFIG_TEST_KAFKA_PASSWORD");
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->bus_properties["sasl.password"], "from-env");
  EXPECT_EQ(c->bus_properties["ssl.ca.location"], "/etc/ca.pem");
}

TEST_F(ConfigTest, BusSecurityMistakesAreOneLineErrorsWithTheLine) {
  auto inline_password =
      LoadText("bus:\n  security:\n    protocol: sasl_plaintext\n    password: hunter2\n");
  ASSERT_FALSE(inline_password.ok());
  EXPECT_NE(inline_password.message().find("gale.yaml:4: bus.security.password: "),
            std::string::npos)
      << inline_password.message();
  EXPECT_NE(inline_password.message().find("password_file or password_env"), std::string::npos);
  EXPECT_EQ(inline_password.message().find("hunter2"), std::string::npos);

  auto in_properties = LoadText("bus:\n  properties:\n    sasl.password: hunter2\n");
  ASSERT_FALSE(in_properties.ok());
  EXPECT_NE(in_properties.message().find("gale.yaml:3: bus.properties.sasl.password: "),
            std::string::npos)
      << in_properties.message();

  auto missing_file = LoadText(
      "bus:\n  security:\n    protocol: sasl_plaintext\n    sasl_mechanism: PLAIN\n"
      "    username: gale\n    password_file: /nonexistent/kafka.password\n");
  ASSERT_FALSE(missing_file.ok());
  EXPECT_NE(missing_file.message().find(
                "gale.yaml:6: bus.security.password_file: cannot read /nonexistent/kafka.password"),
            std::string::npos)
      << missing_file.message();

  auto unset_env = LoadText(
      "bus:\n  security: {protocol: sasl_plaintext, sasl_mechanism: PLAIN, username: gale,\n"
      "    password_env: GALE_CONFIG_TEST_UNSET_VARIABLE}\n");
  ASSERT_FALSE(unset_env.ok());
  EXPECT_NE(unset_env.message().find("GALE_CONFIG_TEST_UNSET_VARIABLE is not set"),
            std::string::npos)
      << unset_env.message();

  auto no_username = LoadText(
      "bus:\n  security:\n    protocol: sasl_plaintext\n    sasl_mechanism: PLAIN\n"
      "    password_env: HOME\n");
  ASSERT_FALSE(no_username.ok());
  EXPECT_NE(no_username.message().find("username is required"), std::string::npos)
      << no_username.message();

  auto bad_mechanism = LoadText(
      "bus:\n  security:\n    protocol: sasl_plaintext\n"
      "    sasl_mechanism: GSSAPI\n");
  ASSERT_FALSE(bad_mechanism.ok());
  EXPECT_NE(bad_mechanism.message().find("gale.yaml:4: bus.security.sasl_mechanism"),
            std::string::npos)
      << bad_mechanism.message();

  auto tls_on_plaintext =
      LoadText("bus:\n  security:\n    protocol: plaintext\n    ca_file: /etc/ca.pem\n");
  ASSERT_FALSE(tls_on_plaintext.ok());
  EXPECT_NE(tls_on_plaintext.message().find("gale.yaml:4: bus.security.ca_file: only with ssl"),
            std::string::npos)
      << tls_on_plaintext.message();
}

}  // namespace
}  // namespace gale::config

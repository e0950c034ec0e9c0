// `gale pack list` and `gale pack init` as a user runs them: the real binary, real files, and a
// scaffolded pack built with CMake against Gale's package.
#include <gtest/gtest.h>

#include "host/common/json.h"
#include "plugin_api/abi.h"
#include "test/support/pack_dir.h"

namespace {

using gale::Json;
using gale::testing::RunCommand;
using gale::testing::TempDir;
using gale::testing::WriteFiles;

const std::string kGale = std::string(GALE_BINARY_DIR) + "/bin/gale";

TEST(CliPackTest, ListFindsShippedPacksByDefault) {
  auto r = RunCommand(kGale + " pack list");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("examples"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("examples.DirectorySensor"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("core.local"), std::string::npos) << r.output;
  // No "error: ..." line (core.error is an action's name, not one).
  EXPECT_EQ(r.output.find("error:"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("\033["), std::string::npos) << "no colour when piped";
}

TEST(CliPackTest, ListJsonShowsBrokenPackErrorsAndOthers) {
  TempDir dir;
  gale::testing::CopyExamplesPack(dir.path() / "examples");
  WriteFiles(dir.path() / "broken", {{"pack.yaml", "---\nname: broken\nversion: 1.0.0\n"},
                                     {"actions/a.yaml", "---\nname: a\nrunner_type: shel\n"}});
  auto r = RunCommand(kGale + " pack list --json --packs " + dir.str());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  Json out = Json::parse(r.output);
  ASSERT_EQ(out["packs"].size(), 2u);
  EXPECT_EQ(out["packs"][0]["ref"], "broken");
  EXPECT_EQ(out["packs"][0]["status"], "invalid");
  ASSERT_EQ(out["packs"][0]["errors"].size(), 1u);
  EXPECT_NE(out["packs"][0]["errors"][0].get<std::string>().find("unknown runner_type 'shel'"),
            std::string::npos);
  EXPECT_EQ(out["packs"][1]["ref"], "examples");
  EXPECT_EQ(out["packs"][1]["status"], "loaded");
  EXPECT_EQ(out["packs"][1]["library"]["abi_version"], gale::plugin::kAbiVersion);
}

TEST(CliPackTest, EveryCommandHasHelpAndBadUsageFails) {
  for (const char* cmd : {"--help", "pack --help", "pack list --help", "pack init --help"}) {
    auto r = RunCommand(kGale + " " + cmd);
    EXPECT_EQ(r.exit_code, 0) << cmd << ": " << r.output;
    EXPECT_NE(r.output.find("Usage"), std::string::npos) << cmd << ": " << r.output;
  }
  auto r = RunCommand(kGale + " pack frobnicate");
  EXPECT_NE(r.exit_code, 0);
  r = RunCommand(kGale + " pack init 'Bad Name'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("invalid pack name 'Bad Name'"), std::string::npos) << r.output;
}

TEST(CliPackTest, InitScaffoldsAPackThatBuildsAndLoadsWithNoEdits) {
  TempDir dir;
  auto r = RunCommand(kGale + " pack init mypack --dir " + dir.str());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = RunCommand(kGale + " pack init mypack --dir " + dir.str());
  EXPECT_EQ(r.exit_code, 1) << "a second init must refuse the existing directory";
  EXPECT_NE(r.output.find("already exists"), std::string::npos) << r.output;

  const std::string src = dir.str() + "/mypack";
  r = RunCommand("cmake -S " + src + " -B " + src + "/build -G Ninja -DCMAKE_BUILD_TYPE=Release");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = RunCommand("cmake --build " + src + "/build");
  ASSERT_EQ(r.exit_code, 0) << r.output;

  r = RunCommand(kGale + " pack list --json --packs " + src + "/build/packs");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  Json out = Json::parse(r.output);
  ASSERT_EQ(out["packs"].size(), 1u) << r.output;
  const Json& p = out["packs"][0];
  EXPECT_EQ(p["ref"], "mypack");
  EXPECT_EQ(p["status"], "loaded") << p["errors"];
  EXPECT_EQ(p["sensors"][0]["ref"], "mypack.TickSensor");
  EXPECT_EQ(p["trigger_types"][0]["ref"], "mypack.tick");
  EXPECT_EQ(p["actions"][0]["ref"], "mypack.write_line");
  EXPECT_EQ(p["rules"][0]["ref"], "mypack.on_tick");
  EXPECT_EQ(p["library"]["abi_version"], gale::plugin::kAbiVersion);
}

}  // namespace

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
  // The action is refused; the pack (with nothing else in it) loads.
  EXPECT_EQ(out["packs"][0]["status"], "loaded");
  EXPECT_TRUE(out["packs"][0]["actions"].empty());
  ASSERT_EQ(out["packs"][0]["refused"].size(), 1u);
  const Json& refused = out["packs"][0]["refused"][0];
  EXPECT_EQ(refused["kind"], "action");
  EXPECT_EQ(refused["file"], "actions/a.yaml");
  ASSERT_EQ(refused["errors"].size(), 1u);
  EXPECT_NE(refused["errors"][0].get<std::string>().find("unknown runner_type 'shel'"),
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

namespace {

// A pack with one good action, one broken action file, a rule naming a missing action and an
// aliases/ folder: `gale pack validate` passes it without the broken parts and lists them;
// --strict refuses it whole, as before partial registration (pack authors' CI).
TEST(CliPackTest, ValidateListsRefusedResourcesAndStrictRefusesThePack) {
  TempDir dir;
  const std::string pack = (dir.path() / "part").string();
  WriteFiles(dir.path() / "part",
             {{"pack.yaml", "---\nname: part\nversion: 1.0.0\n"},
              {"actions/good.yaml", "---\nname: good\nrunner_type: noop\n"},
              {"actions/broken.yaml", "---\nname: broken\nrunner_type: noop\nparameters: [\n"},
              {"rules/missing.yaml",
               "---\nname: missing\ntrigger: {type: core.st2.webhook, parameters: {url: m}}\n"
               "action: {ref: part.nothing}\n"},
              {"aliases/a.yaml", "---\n"}});
  auto r = RunCommand(kGale + " pack validate --json " + pack);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  Json out = Json::parse(r.output);
  EXPECT_EQ(out["status"], "loaded");
  ASSERT_EQ(out["actions"].size(), 1u);
  EXPECT_EQ(out["actions"][0]["ref"], "part.good");
  EXPECT_EQ(out["actions"][0]["file"], "actions/good.yaml");
  ASSERT_EQ(out["refused"].size(), 2u) << out.dump(2);
  EXPECT_EQ(out["refused"][0]["kind"], "action");
  EXPECT_EQ(out["refused"][0]["file"], "actions/broken.yaml");
  EXPECT_EQ(
      out["refused"][0]["errors"][0].get<std::string>().rfind(pack + "/actions/broken.yaml:5: ", 0),
      0u)
      << out["refused"][0];
  EXPECT_EQ(out["refused"][1]["kind"], "rule");
  EXPECT_EQ(out["refused"][1]["ref"], "part.missing");
  EXPECT_EQ(out["refused"][1]["errors"][0],
            pack + "/rules/missing.yaml:2: rule 'missing': unknown action 'part.nothing'");
  ASSERT_EQ(out["notes"].size(), 1u);
  EXPECT_NE(out["notes"][0].get<std::string>().find("aliases"), std::string::npos);

  r = RunCommand(kGale + " pack validate " + pack);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("valid (without 2 refused resource(s))"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("refused: action " + pack + "/actions/broken.yaml"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("refused: rule part.missing"), std::string::npos) << r.output;

  r = RunCommand(kGale + " pack validate --strict " + pack);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("error: " + pack + "/actions/broken.yaml:5: "), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("error: " + pack + "/rules/missing.yaml:2: "), std::string::npos)
      << r.output;
  r = RunCommand(kGale + " pack validate --strict --json " + pack);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(Json::parse(r.output)["status"], "invalid");

  // `gale pack list` shows them too.
  r = RunCommand(kGale + " pack list --json --packs " + dir.str());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Json::parse(r.output)["packs"][0]["refused"].size(), 2u) << r.output;
}

// Several directories: one JSON document listing each (how a node validates many packs in one
// child); the exit code says whether all are valid.
TEST(CliPackTest, ValidateSeveralDirectories) {
  TempDir dir;
  WriteFiles(dir.path() / "a", {{"pack.yaml", "---\nname: a\nversion: 1.0.0\n"}});
  WriteFiles(dir.path() / "b", {{"pack.yaml", "---\nname: [\n"}});
  auto r = RunCommand(kGale + " pack validate --json " + dir.str() + "/a " + dir.str() + "/b");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  Json out = Json::parse(r.output);
  ASSERT_EQ(out["packs"].size(), 2u);
  EXPECT_EQ(out["packs"][0]["status"], "loaded");
  EXPECT_EQ(out["packs"][1]["status"], "invalid");
}

}  // namespace

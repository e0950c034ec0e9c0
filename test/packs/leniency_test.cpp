// StackStorm's registrar is lenient where Gale's reader used to refuse: null descriptions and
// defaults, dotted action names, the draft-3 `items: {required: true}` form, string defaults its
// casts accept, config.schema.yaml defaults, configs in a configs directory, aliases/ folders.
// Each case is a pack written as StackStorm's documentation describes it.
#include <gtest/gtest.h>

#include "host/packs/catalog.h"
#include "host/packs/metadata_reader.h"
#include "test/support/pack_dir.h"

namespace gale::packs {
namespace {

using testing::TempDir;
using testing::WriteFiles;

constexpr const char* kPack = "---\nname: lenient\nversion: 1.0.0\n";

class LeniencyTest : public ::testing::Test {
 protected:
  // Writes pack "lenient" with `files` (pack.yaml added unless given) and reads it alone.
  Pack Read(std::map<std::string, std::string> files, const ReadOptions& options = {}) {
    files.emplace("pack.yaml", kPack);
    WriteFiles(root_.path() / "lenient", files);
    return ReadPackMetadata((root_.path() / "lenient").string(), options);
  }
  std::string Path(const std::string& rel) const {
    return (root_.path() / "lenient" / rel).string();
  }
  static std::string Refusals(const Pack& p) {
    std::string out;
    for (const auto& r : p.refused) {
      for (const auto& e : r.errors) out += e + "\n";
    }
    for (const auto& e : p.errors) out += e + "\n";
    return out;
  }
  static const ActionMeta* Action(const Pack& p, const std::string& ref) {
    for (const auto& a : p.actions) {
      if (a.ref == ref) return &a;
    }
    return nullptr;
  }

  TempDir root_;
};

TEST_F(LeniencyTest, NullDescriptionsAreAccepted) {
  Pack p = Read({{"pack.yaml",
                  "---\nname: lenient\nversion: 1.0.0\ndescription: null\n"
                  "author: ~\nemail:\n"},
                 {"actions/a.yaml",
                  "---\nname: a\nrunner_type: local-shell-cmd\ndescription: null\nparameters:\n"
                  "  cmd:\n    type: string\n    description: ~\n    default: 'true'\n"},
                 {"rules/r.yaml",
                  "---\nname: r\ndescription:\ntrigger: {type: core.st2.webhook, parameters: "
                  "{url: x}}\naction: {ref: lenient.a}\n"}});
  EXPECT_TRUE(p.ok()) << Refusals(p);
  EXPECT_TRUE(p.refused.empty()) << Refusals(p);
  ASSERT_NE(Action(p, "lenient.a"), nullptr);
  EXPECT_EQ(Action(p, "lenient.a")->description, "");
  EXPECT_FALSE(
      Action(p, "lenient.a")->parameters_schema["properties"]["cmd"].contains("description"));
  ASSERT_EQ(p.rules.size(), 1u);
}

TEST_F(LeniencyTest, DottedActionNameIsPartOfItsRef) {
  Pack p = Read({{"actions/post.yaml",
                  "---\nname: chat.postMessage\nrunner_type: local-shell-cmd\n"
                  "parameters:\n  cmd: {type: string, default: 'true'}\n"},
                 {"rules/r.yaml",
                  "---\nname: r\ntrigger: {type: core.st2.webhook, parameters: {url: x}}\n"
                  "action: {ref: lenient.chat.postMessage}\n"}});
  EXPECT_TRUE(p.refused.empty()) << Refusals(p);
  const ActionMeta* a = Action(p, "lenient.chat.postMessage");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->name, "chat.postMessage");
  // Checked across packs too: the rule finds it by its dotted ref.
  Catalog catalog = Catalog::Load({root_.str()});
  ASSERT_NE(catalog.FindPack("lenient"), nullptr);
  EXPECT_EQ(catalog.FindPack("lenient")->rules.size(), 1u)
      << Refusals(*catalog.FindPack("lenient"));
  EXPECT_NE(catalog.FindAction("lenient.chat.postMessage"), nullptr);
}

TEST_F(LeniencyTest, NullDefaultMeansNoDefault) {
  Pack p = Read({{"actions/a.yaml",
                  "---\nname: a\nrunner_type: local-shell-cmd\nparameters:\n"
                  "  cmd: {type: string, default: 'true'}\n  count:\n    type: integer\n"
                  "    default: ~\n"}});
  EXPECT_TRUE(p.refused.empty()) << Refusals(p);
  const ActionMeta* a = Action(p, "lenient.a");
  ASSERT_NE(a, nullptr);
  EXPECT_FALSE(a->parameters_schema["properties"]["count"].contains("default"))
      << a->parameters_schema.dump();
  EXPECT_EQ(a->parameters_schema["properties"]["count"]["type"], "integer");
}

TEST_F(LeniencyTest, ItemsRequiredFormIsAccepted) {
  Pack p = Read({{"actions/a.yaml",
                  "---\nname: a\nrunner_type: local-shell-cmd\nparameters:\n"
                  "  cmd: {type: string, default: 'true'}\n  hosts:\n    type: array\n"
                  "    items:\n      type: string\n      required: true\n"
                  "  labels:\n    type: object\n    additionalProperties:\n      type: string\n"
                  "      required: true\n"}});
  EXPECT_TRUE(p.refused.empty()) << Refusals(p);
  const ActionMeta* a = Action(p, "lenient.a");
  ASSERT_NE(a, nullptr);
  const Json& hosts = a->parameters_schema["properties"]["hosts"];
  EXPECT_EQ(hosts["items"], Json({{"type", "string"}})) << hosts.dump();
  EXPECT_EQ(a->parameters_schema["properties"]["labels"]["additionalProperties"],
            Json({{"type", "string"}}));
}

TEST_F(LeniencyTest, DefaultsAreCastAsStackStormCastsParameters) {
  Pack p = Read({{"actions/a.yaml",
                  "---\nname: a\nrunner_type: local-shell-cmd\nparameters:\n"
                  "  cmd: {type: string, default: 'true'}\n"
                  "  count: {type: integer, default: '5'}\n"
                  "  ratio: {type: number, default: '1.5'}\n"
                  "  dry: {type: boolean, default: 'True'}\n"
                  "  tags: {type: array, default: '[\"a\", \"b\"]'}\n"
                  "  opts: {type: object, default: '{\"k\": 1}'}\n"},
                 // StackStorm's string cast refuses a non-string; so does Gale, for that action.
                 {"actions/b.yaml",
                  "---\nname: b\nrunner_type: local-shell-cmd\nparameters:\n"
                  "  cmd: {type: string, default: 'true'}\n  name: {type: string, default: 5}\n"},
                 {"actions/c.yaml",
                  "---\nname: c\nrunner_type: local-shell-cmd\nparameters:\n"
                  "  cmd: {type: string, default: 'true'}\n  count: {type: integer, "
                  "default: 'five'}\n"}});
  const ActionMeta* a = Action(p, "lenient.a");
  ASSERT_NE(a, nullptr) << Refusals(p);
  const Json& props = a->parameters_schema["properties"];
  EXPECT_EQ(props["count"]["default"], Json(5));
  EXPECT_EQ(props["ratio"]["default"], Json(1.5));
  EXPECT_EQ(props["dry"]["default"], Json(true));
  EXPECT_EQ(props["tags"]["default"], Json::array({"a", "b"}));
  EXPECT_EQ(props["opts"]["default"], Json({{"k", 1}}));
  EXPECT_EQ(a->parameters["count"]["default"], Json(5)) << "listed as it runs";
  EXPECT_EQ(Action(p, "lenient.b"), nullptr);
  EXPECT_EQ(Action(p, "lenient.c"), nullptr);
  ASSERT_EQ(p.refused.size(), 2u) << Refusals(p);
  EXPECT_EQ(p.refused[0].errors.at(0), Path("actions/b.yaml") +
                                           ":6: parameters.name.default violates its own schema: "
                                           "expected type string, got integer");
  EXPECT_EQ(p.refused[1].errors.at(0).rfind(Path("actions/c.yaml") + ":6: ", 0), 0u)
      << p.refused[1].errors.at(0);
  EXPECT_TRUE(p.ok()) << "the pack loads with action a";
}

TEST_F(LeniencyTest, ConfigSchemaFillsDefaultsAndReportsViolationsWithTheLine) {
  const std::string schema =
      "---\nregion: {type: string, default: us-east-1}\nretries: {type: integer, default: 3}\n"
      "api:\n  type: object\n  properties:\n    url: {type: string, default: 'http://x'}\n"
      "token: {type: string, required: true, secret: true}\n";
  Pack p = Read({{"config.schema.yaml", schema}, {"config.yaml", "---\ntoken: t\nretries: 7\n"}});
  EXPECT_TRUE(p.refused.empty()) << Refusals(p);
  EXPECT_EQ(p.config, Json({{"region", "us-east-1"},
                            {"retries", 7},
                            {"token", "t"},
                            {"api", {{"url", "http://x"}}}}));

  TempDir other;
  WriteFiles(other.path() / "lenient", {{"pack.yaml", kPack},
                                        {"config.schema.yaml", schema},
                                        {"config.yaml", "---\ntoken: t\nretries: many\n"}});
  Pack bad = ReadPackMetadata((other.path() / "lenient").string());
  EXPECT_TRUE(bad.ok()) << "a config that breaks its schema is refused, not the pack";
  ASSERT_EQ(bad.refused.size(), 1u) << Refusals(bad);
  EXPECT_EQ(bad.refused[0].kind, "config");
  ASSERT_EQ(bad.refused[0].errors.size(), 1u);
  EXPECT_EQ(bad.refused[0].errors[0],
            (other.path() / "lenient/config.yaml").string() +
                ":3: retries: expected type integer, got string (config.schema.yaml)");
  // It runs with the schema's defaults alone, as StackStorm's would with no registered config.
  EXPECT_EQ(bad.config["retries"], 3);
  EXPECT_FALSE(bad.config.contains("token"));

  // No config at all (not configured yet): defaults, and nothing refused, as StackStorm checks
  // only the config files it finds.
  TempDir none;
  WriteFiles(none.path() / "lenient", {{"pack.yaml", kPack}, {"config.schema.yaml", schema}});
  Pack unconfigured = ReadPackMetadata((none.path() / "lenient").string());
  EXPECT_TRUE(unconfigured.refused.empty()) << Refusals(unconfigured);
  EXPECT_EQ(unconfigured.config["region"], "us-east-1");
}

TEST_F(LeniencyTest, AConfigInTheConfigsDirWinsOverThePacksOwn) {
  TempDir configs;
  WriteFiles(configs.path(), {{"lenient.yaml", "---\nfrom: configs dir\n"}});
  Pack p =
      Read({{"config.yaml", "---\nfrom: pack\nonly_in_pack: 1\n"}}, {.configs_dir = configs.str()});
  EXPECT_EQ(p.config, Json({{"from", "configs dir"}}));
  ASSERT_EQ(p.notes.size(), 1u);
  EXPECT_EQ(p.notes[0],
            Path("config.yaml") + ": not read: " + configs.str() + "/lenient.yaml is the config");
  // Without one there, the pack's own config.yaml.
  TempDir empty;
  Pack own = ReadPackMetadata((root_.path() / "lenient").string(), {.configs_dir = empty.str()});
  EXPECT_EQ(own.config["from"], "pack");
}

TEST_F(LeniencyTest, AliasesAndUnknownFoldersAreIgnoredWithANote) {
  Pack p = Read({{"aliases/hello.yaml", "---\nname: [broken\n"},
                 {"etc/anything.txt", "x"},
                 {"actions/a.yaml", "---\nname: a\nrunner_type: noop\n"}});
  EXPECT_TRUE(p.ok()) << Refusals(p);
  EXPECT_TRUE(p.refused.empty()) << Refusals(p);
  EXPECT_EQ(p.actions.size(), 1u);
  ASSERT_EQ(p.notes.size(), 2u);
  EXPECT_EQ(p.notes[0], Path("aliases") + ": action aliases (ChatOps) are not supported; ignored");
  EXPECT_EQ(p.notes[1], Path("etc") + ": not a folder Gale reads; ignored");
}

}  // namespace
}  // namespace gale::packs

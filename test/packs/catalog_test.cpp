// Pack metadata loading: every bad input gives one exact, located error line, and one bad pack
// never stops the others from loading.
#include <gtest/gtest.h>

#include <algorithm>

#include "host/packs/catalog.h"
#include "test/support/pack_dir.h"

namespace gale::packs {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::WriteFiles;

constexpr const char* kPackYaml = "---\nref: bad\nname: bad\nversion: 1.0.0\n";
constexpr const char* kGoodAction =
    "---\nname: hello\nrunner_type: local-shell-cmd\nparameters:\n  cmd:\n    type: string\n"
    "    default: echo hello\n";

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFiles(root_.path() / "good",
               {{"pack.yaml", "---\nname: good\nversion: 0.1.0\n"},
                {"actions/hello.yaml", kGoodAction},
                {"rules/on_hook.yaml",
                 "---\nname: on_hook\ntrigger:\n  type: core.st2.webhook\n  parameters:\n"
                 "    url: hook\naction:\n  ref: good.hello\n"}});
  }

  // Writes pack "bad" with `files` (pack.yaml added unless given) and loads the catalog.
  Catalog LoadBad(std::map<std::string, std::string> files) {
    files.emplace("pack.yaml", kPackYaml);
    WriteFiles(root_.path() / "bad", files);
    return Catalog::Load({root_.str()});
  }

  std::string Path(const std::string& rel) const { return (root_.path() / rel).string(); }

  // The single error of pack "bad": of the pack itself (then it is refused), or of the one
  // resource refused (then the pack loads without it). Also checks that "good" still loaded.
  static std::string OnlyError(const Catalog& catalog) {
    const Pack* good = catalog.FindPack("good");
    EXPECT_TRUE(good && good->ok()) << (good && !good->ok() ? good->errors[0] : "no good pack");
    const Pack* bad = catalog.FindPack("bad");
    if (bad == nullptr) return "<pack bad not listed>";
    std::vector<std::string> all = bad->errors;
    for (const auto& r : bad->refused) all.insert(all.end(), r.errors.begin(), r.errors.end());
    EXPECT_EQ(all.size(), 1u) << ::testing::PrintToString(all);
    if (bad->errors.empty()) {
      EXPECT_TRUE(bad->ok()) << "a broken resource file refuses that resource, not the pack";
      EXPECT_EQ(bad->refused.size(), 1u);
    } else {
      EXPECT_FALSE(bad->ok());
    }
    return all.empty() ? "<no error>" : all.front();
  }

  TempDir root_;
};

TEST_F(CatalogTest, GoodPackLoadsWithRuleOnCoreWebhook) {
  Catalog catalog = Catalog::Load({root_.str()});
  const Pack* good = catalog.FindPack("good");
  ASSERT_NE(good, nullptr);
  EXPECT_TRUE(good->ok());
  ASSERT_EQ(good->rules.size(), 1u);
  EXPECT_EQ(good->rules[0].ref, "good.on_hook");
  EXPECT_EQ(good->rules[0].trigger_parameters["url"], "hook");
  ASSERT_NE(catalog.FindAction("good.hello"), nullptr);
  EXPECT_EQ(catalog.FindAction("good.hello")->parameters_schema["properties"]["cmd"]["default"],
            "echo hello");
  EXPECT_NE(catalog.FindTriggerType("core.st2.IntervalTimer"), nullptr);
}

TEST_F(CatalogTest, MalformedYaml) {
  auto catalog = LoadBad({{"actions/x.yaml", "---\nname: x\nrunner_type: [unclosed\n"}});
  EXPECT_EQ(OnlyError(catalog),
            Path("bad/actions/x.yaml") + ":4: malformed YAML: end of sequence flow not found");
}

TEST_F(CatalogTest, DuplicateYamlKey) {
  auto catalog = LoadBad({{"actions/x.yaml", "---\nname: x\nname: y\nrunner_type: noop\n"}});
  EXPECT_EQ(OnlyError(catalog), Path("bad/actions/x.yaml") + ":3: duplicate key 'name'");
}

TEST_F(CatalogTest, MissingRequiredField) {
  auto catalog = LoadBad({{"actions/x.yaml", "---\nname: x\ndescription: no runner\n"}});
  EXPECT_EQ(OnlyError(catalog),
            Path("bad/actions/x.yaml") + ":2: missing required property \"runner_type\"");
}

TEST_F(CatalogTest, WrongFieldType) {
  auto catalog = LoadBad({{"actions/x.yaml", "---\nname: x\nrunner_type: noop\nenabled: maybe\n"}});
  EXPECT_EQ(OnlyError(catalog),
            Path("bad/actions/x.yaml") + ":4: enabled: expected type boolean, got string");
}

TEST_F(CatalogTest, UnknownRunnerType) {
  auto catalog = LoadBad({{"actions/x.yaml", "---\nname: x\n\nrunner_type: shel\n"}});
  EXPECT_EQ(
      OnlyError(catalog),
      Path("bad/actions/x.yaml") +
          ":4: unknown runner_type 'shel' (known: action-chain, http-request, local-shell-cmd, "
          "local-shell-script, native, noop, orquesta, python-script)");
}

TEST_F(CatalogTest, DefaultViolatesItsOwnSchema) {
  auto catalog = LoadBad({{"actions/x.yaml",
                           "---\nname: x\nrunner_type: noop\nparameters:\n  count:\n"
                           "    type: integer\n    default: ten\n"}});
  EXPECT_EQ(OnlyError(catalog), Path("bad/actions/x.yaml") +
                                    ":7: parameters.count.default violates its own schema: "
                                    "expected type integer, got string");
}

TEST_F(CatalogTest, DefaultOutsideEnum) {
  auto catalog = LoadBad({{"actions/x.yaml",
                           "---\nname: x\nrunner_type: noop\nparameters:\n  color:\n"
                           "    enum: [red, blue]\n    default: green\n"}});
  std::string error = OnlyError(catalog);
  EXPECT_EQ(
      error.rfind(
          Path("bad/actions/x.yaml") + ":7: parameters.color.default violates its own schema: ", 0),
      0u)
      << error;
}

TEST_F(CatalogTest, NativeActionWithoutEntryPoint) {
  auto catalog = LoadBad({{"actions/x.yaml", "---\nname: x\nrunner_type: native\n"}});
  EXPECT_EQ(OnlyError(catalog),
            Path("bad/actions/x.yaml") + ":2: missing entry_point (runner_type native runs it)");
}

TEST_F(CatalogTest, ScriptEntryPointMissing) {
  auto catalog = LoadBad(
      {{"actions/x.yaml", "---\nname: x\nrunner_type: local-shell-script\nentry_point: x.sh\n"}});
  EXPECT_EQ(OnlyError(catalog), Path("bad/actions/x.yaml") +
                                    ":4: entry_point 'x.sh' not found (looked for " +
                                    Path("bad/actions/x.sh") + ")");
}

TEST_F(CatalogTest, DuplicateActionNames) {
  auto catalog = LoadBad({{"actions/a.yaml", "---\nname: same\nrunner_type: noop\n"},
                          {"actions/b.yaml", "---\nrunner_type: noop\nname: same\n"}});
  EXPECT_EQ(OnlyError(catalog), Path("bad/actions/b.yaml") +
                                    ":3: duplicate action name 'same' (also in " +
                                    Path("bad/actions/a.yaml") + ")");
}

TEST_F(CatalogTest, RuleWithUnknownTriggerType) {
  auto catalog = LoadBad({{"rules/r.yaml",
                           "---\nname: r\ntrigger:\n  type: nope.nothing\naction:\n"
                           "  ref: good.hello\n"}});
  EXPECT_EQ(OnlyError(catalog),
            Path("bad/rules/r.yaml") + ":2: rule 'r': unknown trigger type 'nope.nothing'");
}

TEST_F(CatalogTest, RuleWithUnknownAction) {
  auto catalog = LoadBad({{"rules/r.yaml",
                           "---\nname: r\ntrigger:\n  type: core.st2.webhook\naction:\n"
                           "  ref: good.missing\n"}});
  EXPECT_EQ(OnlyError(catalog),
            Path("bad/rules/r.yaml") + ":2: rule 'r': unknown action 'good.missing'");
}

TEST_F(CatalogTest, NotAnElfSharedObject) {
  auto catalog = LoadBad({{"sensors/s.yaml", "---\nclass_name: S\n"},
                          {"libbad.so", std::string(200, '#') + " a text file, not a library\n"}});
  std::string error = OnlyError(catalog);
  EXPECT_EQ(
      error.rfind(Path("bad/libbad.so") + ": cannot load pack library: not an ELF shared object (",
                  0),
      0u)
      << error;
  EXPECT_NE(error.find("invalid ELF header"), std::string::npos) << error;
}

TEST_F(CatalogTest, LibraryWithoutFactory) {
  WriteFiles(root_.path() / "bad", {{"sensors/s.yaml", "---\nclass_name: S\n"}});
  fs::copy_file(fs::path(GALE_FIXTURE_DIR) / "libno_factory.so", root_.path() / "bad/libbad.so");
  auto catalog = LoadBad({});
  EXPECT_EQ(OnlyError(catalog),
            Path("bad/libbad.so") +
                ": not a Gale pack library: it does not export gale_pack_abi_version and "
                "gale_pack_factory (build it with gale_add_pack() and GALE_PACK())");
}

TEST_F(CatalogTest, AbiVersionMismatch) {
  WriteFiles(root_.path() / "bad", {{"sensors/s.yaml", "---\nclass_name: S\n"}});
  fs::copy_file(fs::path(GALE_FIXTURE_DIR) / "libabi_mismatch.so", root_.path() / "bad/libbad.so");
  auto catalog = LoadBad({});
  EXPECT_EQ(OnlyError(catalog),
            Path("bad/libbad.so") +
                ": pack built for plugin ABI version 999, this gale speaks versions 1 to 2: "
                "rebuild the pack against this Gale");
}

TEST_F(CatalogTest, ANameRegisteredTwiceRefusesThePack) {
  WriteFiles(root_.path() / "bad", {{"sensors/s.yaml", "---\nclass_name: Watcher\n"}});
  fs::copy_file(fs::path(GALE_FIXTURE_DIR) / "libduplicate_pack.so",
                root_.path() / "bad/libbad.so");
  auto catalog = LoadBad({});
  EXPECT_EQ(OnlyError(catalog), Path("bad/libbad.so") +
                                    ": the pack's factory failed (its registration threw: sensor "
                                    "class 'Watcher' is registered twice)");
}

TEST_F(CatalogTest, ClassNameNotExported) {
  WriteFiles(root_.path() / "bad", {{"sensors/s.yaml", "---\n\nclass_name: NoSuchSensor\n"}});
  fs::copy_file(fs::path(GALE_FIXTURE_DIR) / "libthrowing_pack.so", root_.path() / "bad/libbad.so");
  auto catalog = LoadBad({});
  EXPECT_EQ(OnlyError(catalog), Path("bad/sensors/s.yaml") +
                                    ":3: class_name 'NoSuchSensor' is not exported by libbad.so "
                                    "(it exports ThrowingConstructor, ThrowingSensor)");
}

TEST_F(CatalogTest, NativeEntryPointNotExported) {
  WriteFiles(root_.path() / "bad",
             {{"actions/a.yaml", "---\nname: a\nrunner_type: native\nentry_point: nope\n"}});
  fs::copy_file(fs::path(GALE_FIXTURE_DIR) / "libthrowing_pack.so", root_.path() / "bad/libbad.so");
  auto catalog = LoadBad({});
  EXPECT_EQ(OnlyError(catalog), Path("bad/actions/a.yaml") +
                                    ":2: entry_point 'nope' is not exported by libbad.so (it "
                                    "exports throwing_action)");
}

TEST_F(CatalogTest, SensorsWithoutLibrary) {
  auto catalog = LoadBad({{"sensors/s.yaml", "---\nclass_name: S\n"}});
  EXPECT_EQ(OnlyError(catalog), Path("bad/libbad.so") +
                                    ": missing: the pack declares sensors or native actions but "
                                    "has no library (build it with gale_add_pack)");
}

TEST_F(CatalogTest, PackYamlProblems) {
  WriteFiles(root_.path() / "bad", {{"pack.yaml", "---\nname: Bad Name\nversion: 1.0.0\n"}});
  auto catalog = Catalog::Load({root_.str()});
  const Pack* bad = catalog.FindPack("Bad Name");
  ASSERT_NE(bad, nullptr);
  ASSERT_EQ(bad->errors.size(), 1u);
  EXPECT_EQ(bad->errors[0], Path("bad/pack.yaml") +
                                ":2: pack ref 'Bad Name' must be lower-case letters, digits and "
                                "underscores (set `ref:`)");
}

TEST_F(CatalogTest, RuleIntoARefusedActionIsRefused) {
  // bad.x is refused (unknown runner type), so the rule in "other" naming it is refused too;
  // "other" itself still loads.
  WriteFiles(root_.path() / "other",
             {{"pack.yaml", "---\nname: other\nversion: 0.1.0\n"},
              {"rules/r.yaml",
               "---\nname: r\ntrigger:\n  type: core.st2.webhook\naction:\n  ref: bad.x\n"}});
  auto catalog = LoadBad({{"actions/x.yaml", "---\nname: x\nrunner_type: shel\n"}});
  const Pack* other = catalog.FindPack("other");
  ASSERT_NE(other, nullptr);
  EXPECT_TRUE(other->ok());
  EXPECT_TRUE(other->rules.empty());
  ASSERT_EQ(other->refused.size(), 1u);
  EXPECT_EQ(other->refused[0].kind, "rule");
  EXPECT_EQ(other->refused[0].ref, "other.r");
  ASSERT_EQ(other->refused[0].errors.size(), 1u);
  EXPECT_NE(other->refused[0].errors[0].find("unknown action 'bad.x'"), std::string::npos);
}

TEST_F(CatalogTest, MissingPacksPathIsReported) {
  auto catalog = Catalog::Load({(root_.path() / "nope").string(), root_.str()});
  ASSERT_EQ(catalog.errors().size(), 1u);
  EXPECT_EQ(catalog.errors()[0], Path("nope") + ": packs path is not a directory");
  EXPECT_NE(catalog.FindPack("good"), nullptr);
}

TEST_F(CatalogTest, EveryErrorOfAFileIsReported) {
  auto catalog = LoadBad({{"actions/x.yaml", "---\nname: 'bad name'\nrunner_type: 5\n"}});
  const Pack* bad = catalog.FindPack("bad");
  ASSERT_NE(bad, nullptr);
  ASSERT_EQ(bad->refused.size(), 1u);
  EXPECT_EQ(bad->refused[0].errors.size(), 2u) << ::testing::PrintToString(bad->refused[0].errors);
}

}  // namespace
}  // namespace gale::packs

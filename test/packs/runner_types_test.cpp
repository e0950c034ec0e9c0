// The table of runner types (host/packs/runner_types.h): every row is well formed, and the
// lookups the pack reader and the runner make answer from it.
#include "host/packs/runner_types.h"

#include <gtest/gtest.h>

namespace gale::packs {
namespace {

// The table's duplicate check is a static_assert; this is that check refusing a duplicate.
static_assert(!HasUniqueNames(std::array{RunnerType{.name = "noop"}, RunnerType{.name = "x"},
                                         RunnerType{.name = "noop"}}));
static_assert(HasUniqueNames(std::array{RunnerType{.name = "noop"}, RunnerType{.name = "x"}}));

TEST(RunnerTypesTest, EveryRowsParametersAreAParameterMapWithValidDefaults) {
  for (const auto& type : kRunnerTypes) {
    EXPECT_TRUE(CheckRunnerParameters(type).ok())
        << type.name << ": " << CheckRunnerParameters(type).message();
  }
}

TEST(RunnerTypesTest, MalformedParametersAreRefusedNamingTheRow) {
  EXPECT_EQ(CheckRunnerParameters({.name = "x", .parameters = "[]"}).message(),
            "runner type 'x': parameters: not a JSON object");
  EXPECT_EQ(CheckRunnerParameters({.name = "x", .parameters = R"({"a": )"}).message(),
            "runner type 'x': parameters: not valid JSON");
  EXPECT_EQ(CheckRunnerParameters(
                {.name = "x", .parameters = R"({"timeout": {"type": "integer", "default": "9"}})"})
                .message(),
            "runner type 'x': parameters: /properties/timeout/default: expected type integer, "
            "got string");
}

TEST(RunnerTypesTest, NamesAreListedInTheTablesOrder) {
  EXPECT_EQ(KnownRunnerTypes(),
            "action-chain, http-request, local-shell-cmd, local-shell-script, native, noop, "
            "orquesta, python-script");
  EXPECT_TRUE(IsKnownRunnerType("local-shell-script"));
  EXPECT_FALSE(IsKnownRunnerType("mistral"));
  EXPECT_EQ(FindRunnerType("mistral"), nullptr);
  EXPECT_EQ(FindRunnerType("orquesta")->entry_point, EntryPoint::kScript);
  EXPECT_EQ(FindRunnerType("python-script")->entry_point, EntryPoint::kScript);
  ASSERT_NE(FindRunnerType("native"), nullptr);
  EXPECT_EQ(FindRunnerType("native")->entry_point, EntryPoint::kLibraryExport);
  EXPECT_EQ(FindRunnerType("local-shell-script")->entry_point, EntryPoint::kScript);
  EXPECT_EQ(FindRunnerType("local-shell-cmd")->entry_point, EntryPoint::kUnused);
}

TEST(RunnerTypesTest, RunnerParametersAreTheRowsOwn) {
  for (const char* name : {"cmd", "cwd", "env", "timeout", "sudo", "kwarg_op"}) {
    EXPECT_TRUE(IsRunnerParameter("local-shell-cmd", name)) << name;
    EXPECT_TRUE(IsRunnerParameter("local-shell-script", name)) << name;
  }
  EXPECT_FALSE(IsRunnerParameter("local-shell-cmd", "message"));
  EXPECT_FALSE(IsRunnerParameter("native", "cmd"));
  EXPECT_TRUE(IsRunnerParameter("http-request", "url"));
  EXPECT_FALSE(IsRunnerParameter("noop", "cmd"));
  // StackStorm's python-script runner parameters; an action's own `cwd` or `cmd` is its own.
  for (const char* name : {"env", "timeout", "log_level", "debug", "content_version"}) {
    EXPECT_TRUE(IsRunnerParameter("python-script", name)) << name;
  }
  EXPECT_FALSE(IsRunnerParameter("python-script", "cmd"));
  EXPECT_FALSE(IsRunnerParameter("python-script", "cwd"));
}

// Only python-script declares defaults (StackStorm's log_level and debug, which it reads
// itself): filling them in changes no other execution's parameters.
TEST(RunnerTypesTest, OnlyPythonScriptAddsDefaults) {
  const Json params = {{"n", 1}};
  for (const auto& type : kRunnerTypes) {
    if (type.name == "python-script") continue;
    EXPECT_EQ(WithRunnerDefaults(type.name, params), params) << type.name;
  }
  EXPECT_EQ(WithRunnerDefaults("python-script", params),
            Json({{"n", 1}, {"log_level", "DEBUG"}, {"debug", false}}));
  EXPECT_EQ(WithRunnerDefaults("python-script", {{"log_level", "INFO"}})["log_level"], "INFO");
  EXPECT_EQ(WithRunnerDefaults("orquesta", params), params);
}

}  // namespace
}  // namespace gale::packs

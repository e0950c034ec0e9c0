// A Python virtualenv per pack (issue 19, item 2) through a real node: built from the pack's
// requirements.txt when the pack is registered or reloaded (offline: the requirement is a wheel
// the test builds), shared read-only with the action user, reused while the requirements stay
// the same, and a failed pip refuses the pack with pip's last line.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "host/node/python_env.h"
#include "test/support/api_fixture.h"
#include "test/support/node_harness.h"
#include "test/support/pack_dir.h"

namespace gale::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPython = "/usr/bin/python3";

// Where the node keeps its pack copies (host/node/machine.cpp SnapshotRoot): under its home when
// unprivileged, else under /var/lib/gale/snapshots/<digest>/, whose `home` file names the node's
// home.
fs::path SnapshotRootOf(const std::string& home) {
  if (geteuid() != 0) return fs::path(home) / "run" / "packs";
  std::error_code ec;
  for (fs::directory_iterator it("/var/lib/gale/snapshots", ec), end; !ec && it != end;
       it.increment(ec)) {
    std::ifstream owner(it->path() / "home");
    std::string line;
    std::getline(owner, line);
    if (line == home) return it->path() / "packs";
  }
  return {};
}

// The active copy's folder <root>/<ref>@<digest> (the newest when a previous one is kept).
fs::path VersionDir(const NodeProcess& node, const std::string& ref) {
  fs::path found;
  fs::file_time_type newest{};
  std::error_code ec;
  for (fs::directory_iterator it(SnapshotRootOf(node.home()), ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->path().filename().string().rfind(ref + "@", 0) != 0) continue;
    const auto t = fs::last_write_time(it->path(), ec);
    if (found.empty() || t > newest) {
      found = it->path();
      newest = t;
    }
  }
  return found;
}

// Runs `command` as the action user on a root node (as this user otherwise).
CommandResult AsActionUser(const std::string& command) {
  if (geteuid() != 0 || getpwnam("gale-action") == nullptr) return RunCommand(command);
  return RunCommand("setpriv --reuid=gale-action --regid=gale-action --clear-groups -- " + command);
}

std::string PackYaml(const std::string& ref) {
  return "---\nref: " + ref + "\nname: " + ref + "\nversion: 0.1.0\n";
}

// An action that runs the pack's venv interpreter by path (the python-script runner is another
// item of the issue): it prints what the package the test built says.
const char* kImportAction =
    "---\nname: which\nrunner_type: local-shell-script\nentry_point: which.sh\n"
    "parameters: {}\n";
const char* kImportScript =
    "#!/bin/sh\n"
    "exec \"$(dirname \"$0\")/../../virtualenv/bin/python\" -c "
    "'import sys, galetestpkg; print(galetestpkg.VALUE, sys.prefix)'\n";

// Builds galetestpkg-1.0 as a wheel into `out` with the system pip, offline (setuptools is
// already there: no build isolation, no index).
void BuildWheel(const fs::path& out) {
  TempDir src;
  WriteFiles(src.path(), {{"pyproject.toml",
                           "[build-system]\nrequires = [\"setuptools\"]\n"
                           "build-backend = \"setuptools.build_meta\"\n"
                           "[project]\nname = \"galetestpkg\"\nversion = \"1.0\"\n"},
                          {"galetestpkg/__init__.py", "VALUE = 'wheel-built-by-the-test'\n"}});
  auto built = RunCommand(std::string(kPython) +
                          " -m pip wheel --no-deps --no-build-isolation --no-index "
                          "--disable-pip-version-check -q -w " +
                          out.string() + " " + src.str());
  ASSERT_EQ(built.exit_code, 0) << built.output;
  ASSERT_TRUE(fs::exists(out / "galetestpkg-1.0-py3-none-any.whl")) << built.output;
}

// `gale run REF --json` against `node`; the execution document.
Json RunAction(const NodeProcess& node, const std::string& ref) {
  int code = -1;
  const std::string out = RunGale(node.home(), "run " + ref + " --json", &code);
  Json doc = Json::parse(out, nullptr, false);
  EXPECT_TRUE(doc.is_object()) << out;
  return doc.is_object() ? doc : Json::object();
}

TEST(PythonEnvTest, APackWithoutRequirementsSharesTheEmptyVenvWithNoSystemPackages) {
  TempDir packs;
  WriteFiles(packs.path() / "plain_one", {{"pack.yaml", PackYaml("plain_one")}});
  WriteFiles(packs.path() / "plain_two", {{"pack.yaml", PackYaml("plain_two")}});
  NodeOptions options;
  options.packs_paths = {packs.str()};
  auto node = NodeProcess::Start(options);

  const fs::path one = VersionDir(*node, "plain_one");
  const fs::path two = VersionDir(*node, "plain_two");
  ASSERT_FALSE(one.empty()) << node->Log();
  ASSERT_FALSE(two.empty()) << node->Log();
  // One empty venv, linked from both packs.
  ASSERT_TRUE(fs::is_symlink(one / "virtualenv"));
  EXPECT_EQ(fs::read_symlink(one / "virtualenv"), fs::read_symlink(two / "virtualenv"));
  const std::string python = (one / "virtualenv" / "bin" / "python").string();
  auto prefix = AsActionUser(python + " -c 'import sys; print(sys.prefix)'");
  EXPECT_EQ(prefix.exit_code, 0) << prefix.output;
  EXPECT_EQ(prefix.output, (one / "virtualenv").string() + "\n");
  // The interpreter's own site-packages is not on the path: what a pack imports, it lists. (yaml
  // is python3-yaml, installed for the system interpreter here.)
  auto system = RunCommand(std::string(kPython) + " -c 'import yaml'");
  auto isolated = AsActionUser(python + " -c 'import yaml'");
  if (system.exit_code == 0) {
    EXPECT_NE(isolated.exit_code, 0) << isolated.output;
    EXPECT_NE(isolated.output.find("No module named 'yaml'"), std::string::npos) << isolated.output;
  }
}

TEST(PythonEnvTest, RequirementsAreInstalledReadOnlyReusedWhileUnchangedAndRemovedWhenUnused) {
  TempDir packs;
  const fs::path pack = packs.path() / "withwheel";
  WriteFiles(pack, {{"pack.yaml", PackYaml("withwheel")},
                    {"requirements.txt",
                     "# offline: the wheel ships with the pack\n--no-index\n"
                     "./wheels/galetestpkg-1.0-py3-none-any.whl\n"},
                    {"actions/which.yaml", kImportAction},
                    {"actions/which.sh", kImportScript}});
  fs::permissions(pack / "actions" / "which.sh", fs::perms::owner_exec, fs::perm_options::add);
  BuildWheel(pack / "wheels");
  NodeOptions options;
  options.packs_paths = {std::string(GALE_BINARY_DIR) + "/packs", packs.str()};
  auto node = NodeProcess::Start(options);

  const fs::path version = VersionDir(*node, "withwheel");
  ASSERT_FALSE(version.empty()) << node->Log();
  const fs::path venv = version / "virtualenv";
  const std::string python = (venv / "bin" / "python").string();
  auto imported = AsActionUser(python + " -c 'import galetestpkg; print(galetestpkg.VALUE)'");
  EXPECT_EQ(imported.exit_code, 0) << imported.output << node->Log();
  EXPECT_EQ(imported.output, "wheel-built-by-the-test\n");
  EXPECT_EQ(Count(node->Log(), "pack withwheel: virtualenv"), 1u) << node->Log();

  // Not writable by the action user: not the venv, not the installed package.
  const fs::path installed = venv / "lib" / "python3.11" / "site-packages" / "galetestpkg";
  ASSERT_TRUE(fs::exists(installed / "__init__.py"));
  if (geteuid() == 0) {
    for (const fs::path& target :
         {venv / "planted.py", installed / "planted.py", venv / "bin" / "planted"}) {
      auto wrote = AsActionUser("/bin/sh -c 'echo x > " + target.string() + "'");
      EXPECT_NE(wrote.exit_code, 0) << target;
      EXPECT_FALSE(fs::exists(target)) << target;
    }
    auto appended =
        AsActionUser("/bin/sh -c 'echo x >> " + (installed / "__init__.py").string() + "'");
    EXPECT_NE(appended.exit_code, 0);
  }

  // An action of the pack runs with it.
  Json ran = RunAction(*node, "withwheel.which");
  EXPECT_EQ(ran.value("status", ""), "succeeded") << ran.dump() << node->Log();
  EXPECT_NE(ran.dump().find("wheel-built-by-the-test " + venv.string()), std::string::npos)
      << ran.dump();

  // A reload that leaves requirements.txt alone links the same venv: nothing is rebuilt.
  const fs::path first_target = fs::read_symlink(venv);
  WriteFiles(pack, {{"actions/other.yaml", "---\nname: other\nrunner_type: noop\n"}});
  int code = -1;
  RunGale(node->home(), "pack reload", &code);
  ASSERT_TRUE(
      WaitFor([&] { return VersionDir(*node, "withwheel") != version; }, std::chrono::seconds(30)))
      << node->Log();
  const fs::path reloaded = VersionDir(*node, "withwheel");
  EXPECT_EQ(fs::read_symlink(reloaded / "virtualenv"), first_target);
  EXPECT_EQ(Count(node->Log(), "pack withwheel: virtualenv"), 1u) << node->Log();

  // New requirements: a new venv. The old one stays while the previous copy does (its
  // executions may still be running), and goes once no copy links to it.
  WriteFiles(pack, {{"requirements.txt", "--no-index\n--find-links ./wheels\ngaletestpkg==1.0\n"}});
  RunGale(node->home(), "pack reload", &code);
  ASSERT_TRUE(
      WaitFor([&] { return VersionDir(*node, "withwheel") != reloaded; }, std::chrono::seconds(60)))
      << node->Log();
  const fs::path second_target = fs::read_symlink(VersionDir(*node, "withwheel") / "virtualenv");
  EXPECT_NE(second_target, first_target);
  EXPECT_EQ(Count(node->Log(), "pack withwheel: virtualenv"), 2u) << node->Log();
  EXPECT_TRUE(fs::exists(first_target));
  const fs::path third = VersionDir(*node, "withwheel");
  WriteFiles(pack, {{"actions/third.yaml", "---\nname: third\nrunner_type: noop\n"}});
  RunGale(node->home(), "pack reload", &code);
  ASSERT_TRUE(
      WaitFor([&] { return VersionDir(*node, "withwheel") != third; }, std::chrono::seconds(60)))
      << node->Log();
  EXPECT_FALSE(fs::exists(first_target)) << node->Log();
  EXPECT_TRUE(fs::exists(second_target / "bin" / "python"));
  auto again =
      AsActionUser((VersionDir(*node, "withwheel") / "virtualenv" / "bin" / "python").string() +
                   " -c 'import galetestpkg'");
  EXPECT_EQ(again.exit_code, 0) << again.output;
}

TEST(PythonEnvTest, AFailedPipRefusesThePackWithPipsLastLineAndKeepsThePreviousVersion) {
  TempDir packs;
  const fs::path pack = packs.path() / "brokenreq";
  WriteFiles(pack, {{"pack.yaml", PackYaml("brokenreq")},
                    {"actions/hello.yaml", "---\nname: hello\nrunner_type: noop\n"}});
  NodeOptions options;
  options.packs_paths = {packs.str()};
  auto node = NodeProcess::Start(options);
  const fs::path first = VersionDir(*node, "brokenreq");
  ASSERT_FALSE(first.empty()) << node->Log();

  // A requirement naming a wheel that is not there.
  WriteFiles(pack, {{"requirements.txt", "--no-index\n./wheels/missing-1.0-py3-none-any.whl\n"}});
  int code = -1;
  RunGale(node->home(), "pack reload", &code);
  const std::string expected =
      "pack brokenreq: virtualenv: pip: ERROR: Could not install packages due to an OSError: "
      "[Errno 2] No such file or directory: '" +
      (pack / "wheels" / "missing-1.0-py3-none-any.whl").string() + "'";
  ASSERT_TRUE(WaitFor([&] { return Count(node->Log(), expected) > 0; }, std::chrono::seconds(60)))
      << node->Log();
  EXPECT_NE(node->Log().find("pack " + pack.string() + ": refused: " + expected), std::string::npos)
      << node->Log();
  // The previous version is still the active one, and its actions still run.
  EXPECT_EQ(VersionDir(*node, "brokenreq"), first);
  Json ran = RunAction(*node, "brokenreq.hello");
  EXPECT_EQ(ran.value("status", ""), "succeeded") << ran.dump();
}

TEST(PythonEnvTest, ABrokenRequirementKeepsANewPackOut) {
  TempDir packs;
  WriteFiles(packs.path() / "neverloads",
             {{"pack.yaml", PackYaml("neverloads")},
              {"actions/hello.yaml", "---\nname: hello\nrunner_type: noop\n"},
              {"requirements.txt", "--no-index\n./nowhere/thing-1.0-py3-none-any.whl\n"}});
  NodeOptions options;
  options.packs_paths = {packs.str()};
  auto node = NodeProcess::Start(options);
  EXPECT_TRUE(VersionDir(*node, "neverloads").empty());
  EXPECT_NE(node->Log().find("pack neverloads: virtualenv: pip: ERROR: Could not install"),
            std::string::npos)
      << node->Log();
  // Its actions are not there to run.
  int code = -1;
  const std::string ran = RunGale(node->home(), "run neverloads.hello", &code);
  EXPECT_NE(code, 0) << ran;
  EXPECT_NE(ran.find("action 'neverloads.hello' not found"), std::string::npos) << ran;
}

// What a venv is made of decides its cache entry: comments and blank lines do not, the content
// of a wheel shipped in the pack does, and so does the interpreter.
TEST(PythonEnvsTest, TheCacheKeyFollowsWhatTheVenvIsMadeOf) {
  TempDir pack;
  const std::string py = "/usr/bin/python3.11:1:2";
  const std::string none = node::RequirementsKey(pack.path(), py);
  WriteFiles(pack.path(), {{"requirements.txt", "# nothing yet\n\n"}});
  EXPECT_EQ(node::RequirementsKey(pack.path(), py), none);
  WriteFiles(pack.path(), {{"requirements.txt", "./wheels/x-1.0-py3-none-any.whl  # ours\n"},
                           {"wheels/x-1.0-py3-none-any.whl", "first"}});
  const std::string first = node::RequirementsKey(pack.path(), py);
  EXPECT_NE(first, none);
  WriteFiles(pack.path(), {{"wheels/x-1.0-py3-none-any.whl", "second"}});
  const std::string second = node::RequirementsKey(pack.path(), py);
  EXPECT_NE(second, first);
  EXPECT_NE(node::RequirementsKey(pack.path(), "/usr/bin/python3.12:1:2"), second);
}

// A machine without the interpreter still loads packs that need no Python packages.
TEST(PythonEnvsTest, WithoutAnInterpreterOnlyPacksWithRequirementsAreRefused) {
  TempDir root;
  const fs::path packs = root.path() / "packs";
  WriteFiles(packs / "plain@1" / "plain", {{"pack.yaml", PackYaml("plain")}});
  WriteFiles(packs / "needy@1" / "needy",
             {{"pack.yaml", PackYaml("needy")}, {"requirements.txt", "six==1.16.0\n"}});
  node::PythonEnvOptions options;
  options.python = "/nonexistent/python3";
  node::PythonEnvs envs((root.path() / "venvs").string(), packs.string(), options);
  EXPECT_TRUE(envs.Attach("plain", packs / "plain@1").ok());
  EXPECT_FALSE(fs::exists(packs / "plain@1" / "virtualenv"));
  Status refused = envs.Attach("needy", packs / "needy@1");
  EXPECT_EQ(refused.message(),
            "pack needy: virtualenv: /nonexistent/python3 is not installed (requirements.txt "
            "needs it)");
}

// On a root node pip (and whatever setup.py it runs) is the action user's, and what it built is
// then root's. The interpreter here is a stand-in that records who ran it and with what.
TEST(PythonEnvsTest, ARootNodeRunsPipAsTheActionUserAndKeepsTheResult) {
  passwd* action = getpwnam("gale-action");
  if (geteuid() != 0 || action == nullptr) GTEST_SKIP() << "needs root and the gale-action user";
  TempDir root;
  ShareWithActions(root.path());
  const fs::path calls = root.path() / "calls";
  WriteFiles(root.path(), {{"python", "#!/bin/sh\necho \"$(id -u) $*\" >> " + calls.string() +
                                          "\n[ \"$2\" = venv ] && mkdir -p \"$4/bin\"\nexit 0\n"}});
  fs::permissions(root.path() / "python", fs::perms::all, fs::perm_options::add);
  const fs::path packs = root.path() / "packs";
  WriteFiles(packs / "needy@1" / "needy",
             {{"pack.yaml", PackYaml("needy")}, {"requirements.txt", "six==1.16.0\n"}});
  node::PythonEnvOptions options;
  options.python = (root.path() / "python").string();
  options.build_as = Credentials{action->pw_uid, action->pw_gid};
  options.share_gid = action->pw_gid;
  node::PythonEnvs envs((root.path() / "venvs").string(), packs.string(), options);
  ASSERT_TRUE(envs.Attach("needy", packs / "needy@1").ok());

  const fs::path env = fs::read_symlink(packs / "needy@1" / "virtualenv");
  const std::string uid = std::to_string(action->pw_uid);
  std::ifstream in(calls);
  std::string venv_call, pip_call;
  std::getline(in, venv_call);
  std::getline(in, pip_call);
  EXPECT_EQ(venv_call, uid + " -m venv --without-pip " + env.string());
  EXPECT_EQ(pip_call, uid + " -m pip --python " + (env / "bin" / "python").string() +
                          " install --no-input --disable-pip-version-check --no-cache-dir "
                          "--no-warn-script-location -r " +
                          (packs / "needy@1" / "needy" / "requirements.txt").string());
  struct stat st {};
  ASSERT_EQ(stat((env / "bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, action->pw_gid);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
}

}  // namespace
}  // namespace gale::testing

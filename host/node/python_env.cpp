#include "host/node/python_env.h"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "host/common/hex.h"
#include "host/common/read_file.h"
#include "host/node/pack_snapshots.h"

namespace gale::node {
namespace fs = std::filesystem;
namespace {

// Written last into a finished venv: an entry without it is a build that was cut short.
constexpr const char* kCompleteMarker = ".gale-complete";

// Longest line of pip's output quoted in a pack error.
constexpr size_t kMaxShownLine = 400;

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  // Each part ends with a NUL, so ("ab", "c") and ("a", "bc") differ.
  void Add(const std::string& part) { EVP_DigestUpdate(ctx_, part.c_str(), part.size() + 1); }
  std::string Hex16() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, md, &len);
    return HexEncode(md, std::min(len, 8u));
  }

 private:
  EVP_MD_CTX* ctx_;
};

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(0, s.find_first_not_of(ws));
  const size_t end = s.find_last_not_of(ws);
  s.erase(end == std::string::npos ? 0 : end + 1);
  return s;
}

// The requirement lines of requirements.txt: comments and blank lines dropped.
std::vector<std::string> RequirementLines(const fs::path& file) {
  std::vector<std::string> lines;
  std::istringstream in(ReadFileOrEmpty(file.string()));
  for (std::string line; std::getline(in, line);) {
    // pip's comment rule: '#' at the start or after whitespace (a URL's #fragment stays).
    for (size_t pos = line.find('#'); pos != std::string::npos; pos = line.find('#', pos + 1)) {
      if (pos == 0 || line[pos - 1] == ' ' || line[pos - 1] == '\t') {
        line.erase(pos);
        break;
      }
    }
    line = Trim(line);
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::string LastLine(const std::string& output) {
  std::istringstream in(output);
  std::string last;
  for (std::string line; std::getline(in, line);) {
    line = Trim(line);
    if (!line.empty()) last = line;
  }
  if (last.size() > kMaxShownLine) last = last.substr(0, kMaxShownLine) + "...";
  return last.empty() ? "(no output)" : last;
}

void ReplaceAll(std::string& text, const std::string& from, const std::string& to) {
  if (from.empty() || from == to) return;
  for (size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos; pos += to.size()) {
    text.replace(pos, from.size(), to);
  }
}

// Root's, readable (not writable) by group `gid`: directories 0750, files 0640 (0750 when
// executable), symlinks neither followed nor changed. Distinct from pack_snapshots.cpp's
// ShareWithGroup (unity builds): this one also takes ownership away from the user pip ran as.
void HandVenvToRoot(const fs::path& top, gid_t gid) {
  auto hand = [gid](const fs::path& p) {
    struct stat st {};
    if (lstat(p.c_str(), &st) != 0 || S_ISLNK(st.st_mode)) return;
    const mode_t mode = S_ISDIR(st.st_mode) || (st.st_mode & S_IXUSR) != 0 ? 0750 : 0640;
    if (lchown(p.c_str(), 0, gid) != 0 || chmod(p.c_str(), mode) != 0) {
      spdlog::warn("{}: cannot make it read-only for the action user: {}", p.string(),
                   strerror(errno));
    }
  };
  hand(top);
  std::error_code ec;
  for (fs::recursive_directory_iterator it(top, ec), end; !ec && it != end; it.increment(ec)) {
    hand(it->path());
  }
}

// Resolved path, size and modification time: a different or upgraded interpreter is a new key.
std::string PythonIdentity(const std::string& python) {
  std::error_code ec;
  const fs::path real = fs::canonical(python, ec);
  struct stat st {};
  if (ec || stat(real.c_str(), &st) != 0) return python;
  return real.string() + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(static_cast<long long>(st.st_mtime));
}

}  // namespace

std::string RequirementsKey(const fs::path& pack_dir, const std::string& python_identity) {
  Sha256 sha;
  sha.Add(python_identity);
  for (const auto& line : RequirementLines(pack_dir / "requirements.txt")) {
    sha.Add(line);
    // A wheel, sdist, nested requirements file or project folder shipped in the pack: its
    // content is part of what the venv is made of. Only paths inside the pack are followed.
    std::istringstream words(line);
    for (std::string word; words >> word;) {
      if (word.empty() || word.front() == '-' || word.front() == '/') continue;
      const fs::path rel = fs::path(word).lexically_normal();
      if (rel.empty() || rel.begin()->string() == "..") continue;
      std::error_code ec;
      const fs::path local = pack_dir / rel;
      if (fs::is_regular_file(local, ec)) {
        sha.Add(ReadFileOrEmpty(local.string()));
      } else if (fs::is_directory(local, ec)) {
        sha.Add(TreeDigest(local.string()));
      }
    }
  }
  return sha.Hex16();
}

PythonEnvs::PythonEnvs(std::string cache_dir, std::string snapshot_root, PythonEnvOptions options)
    : cache_dir_(std::move(cache_dir)),
      snapshot_root_(std::move(snapshot_root)),
      options_(std::move(options)),
      python_identity_(PythonIdentity(options_.python)) {
  std::error_code ec;
  fs::create_directories(cache_dir_, ec);
  if (options_.share_gid) {
    // The action group passes through to the entries (the links lead there), lists nothing.
    if (chown(cache_dir_.c_str(), 0, *options_.share_gid) != 0 ||
        chmod(cache_dir_.c_str(), 0710) != 0) {
      spdlog::warn("{}: cannot share with the action group: {}", cache_dir_, strerror(errno));
    }
  }
}

Result<Captured> PythonEnvs::RunBounded(const std::vector<std::string>& argv, const fs::path& cwd,
                                        const fs::path& env) const {
  // timeout(1) bounds the run even if a child closes stdout early (RunCapture would then wait
  // for the exit with no deadline); RunCapture's own deadline, a little later, is the backstop.
  const auto seconds = options_.timeout.count();
  std::vector<std::string> wrapped = {"/usr/bin/timeout",
                                      "-s",
                                      "KILL",
                                      std::to_string(seconds),
                                      "/bin/sh",
                                      "-c",
                                      "cd \"$1\" && shift && exec \"$@\" 2>&1",
                                      "sh",
                                      cwd.string()};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  SpawnOptions spawn;
  std::vector<std::string> allow = HelperEnvAllowList();
  // An index mirror, a proxy or a CA bundle configured for pip by the administrator.
  for (const char* name :
       {"PIP_*", "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE"}) {
    allow.push_back(name);
  }
  if (!options_.build_as) allow.push_back("HOME");  // the node's own pip.conf applies
  spawn.env_allow = allow;
  spawn.env_extra = {"PATH=" + (env / "bin").string() + ":/usr/local/bin:/usr/bin:/bin",
                     "PYTHONNOUSERSITE=1", "PIP_NO_CACHE_DIR=1"};
  if (options_.build_as) spawn.env_extra.push_back("HOME=/tmp");
  spawn.drop_to = options_.build_as;
  spawn.no_new_privs = true;
  spawn.address_space_bytes = options_.address_space_bytes;
  return RunCapture(wrapped, options_.timeout + std::chrono::seconds(10), spawn);
}

Status PythonEnvs::Build(const fs::path& pack_dir, const fs::path& env) {
  std::error_code ec;
  fs::remove_all(env, ec);
  fs::create_directories(env, ec);
  if (ec) return Status::Error("cannot create " + env.string() + ": " + ec.message());
  if (options_.build_as &&
      (chown(env.c_str(), options_.build_as->uid, options_.build_as->gid) != 0 ||
       chmod(env.c_str(), 0700) != 0)) {
    return Status::Error("cannot hand " + env.string() + " to the build user: " + strerror(errno));
  }
  auto run = [&](const std::string& what, const std::vector<std::string>& argv,
                 const fs::path& cwd) -> Status {
    auto ran = RunBounded(argv, cwd, env);
    if (!ran.ok()) return Status::Error(what + ": " + ran.message());
    if (ran->exit_code == 124 || ran->exit_code == 128 + SIGKILL) {
      return Status::Error(what + ": did not finish within " +
                           std::to_string(options_.timeout.count()) + " s");
    }
    if (ran->exit_code != 0) return Status::Error(what + ": " + LastLine(ran->stdout_text));
    return Status::Ok();
  };
  Status made = run("venv", {options_.python, "-m", "venv", "--without-pip", env.string()}, env);
  const fs::path requirements = pack_dir / "requirements.txt";
  if (made.ok() && !RequirementLines(requirements).empty()) {
    made = run("pip",
               {options_.python, "-m", "pip", "--python", (env / "bin" / "python").string(),
                "install", "--no-input", "--disable-pip-version-check", "--no-cache-dir",
                "--no-warn-script-location", "-r", requirements.string()},
               pack_dir);
  }
  if (!made.ok()) {
    fs::remove_all(env, ec);
    return made;
  }
  if (options_.build_as) HandVenvToRoot(env, options_.share_gid.value_or(0));
  std::ofstream(env / kCompleteMarker) << python_identity_ << '\n';
  if (options_.build_as) {
    if (lchown((env / kCompleteMarker).c_str(), 0, options_.share_gid.value_or(0)) != 0) {
      spdlog::warn("{}: {}", (env / kCompleteMarker).string(), strerror(errno));
    }
    chmod((env / kCompleteMarker).c_str(), 0640);
  }
  return Status::Ok();
}

Status PythonEnvs::Attach(const std::string& ref, const fs::path& version_dir,
                          const std::string& shown_dir) {
  const fs::path pack_dir = version_dir / ref;
  const std::string key = RequirementsKey(pack_dir, python_identity_);
  const fs::path env = fs::path(cache_dir_) / key;
  std::error_code ec;
  if (!fs::exists(env / kCompleteMarker, ec)) {
    const bool needs_pip = !RequirementLines(pack_dir / "requirements.txt").empty();
    if (access(options_.python.c_str(), X_OK) != 0) {
      if (needs_pip) {
        return Status::Error("pack " + ref + ": virtualenv: " + options_.python +
                             " is not installed (requirements.txt needs it)");
      }
      // A pack with nothing to install loads without Python (its Python content cannot run).
      return Status::Ok();
    }
    const auto started = std::chrono::steady_clock::now();
    if (Status built = Build(pack_dir, env); !built.ok()) {
      std::string message = "pack " + ref + ": virtualenv: " + built.message();
      ReplaceAll(message, pack_dir.string(), shown_dir.empty() ? pack_dir.string() : shown_dir);
      if (needs_pip) return Status::Error(message);
      // The empty venv: a broken Python installation must not keep YAML- and .so-only packs out.
      spdlog::warn("{} (the pack loads without one: its Python content cannot run)", message);
      return Status::Ok();
    }
    spdlog::info("pack {}: virtualenv {} built in {} ms", ref, env.string(),
                 std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count());
  }
  const fs::path link = version_dir / "virtualenv";
  fs::remove(link, ec);
  fs::create_directory_symlink(env, link, ec);
  if (ec)
    return Status::Error("pack " + ref + ": virtualenv: " + link.string() + ": " + ec.message());
  return Status::Ok();
}

void PythonEnvs::CollectUnused() {
  std::set<fs::path> used;
  std::error_code ec;
  for (fs::directory_iterator it(snapshot_root_, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code e2;
    const fs::path target = fs::read_symlink(it->path() / "virtualenv", e2);
    if (!e2) used.insert(target.lexically_normal());
  }
  std::vector<fs::path> unused;
  for (fs::directory_iterator it(cache_dir_, ec), end; !ec && it != end; it.increment(ec)) {
    if (used.count(it->path().lexically_normal()) == 0) unused.push_back(it->path());
  }
  for (const auto& entry : unused) {
    std::error_code e2;
    fs::remove_all(entry, e2);
    spdlog::info("virtualenv {}: no active pack uses it, removed", entry.string());
  }
}

}  // namespace gale::node

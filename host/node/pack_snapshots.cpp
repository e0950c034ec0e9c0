#include "host/node/pack_snapshots.h"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "host/common/subprocess.h"
#include "host/node/python_env.h"

namespace gale::node {
namespace fs = std::filesystem;

// Address space of a `gale pack validate` child: a pack is loaded, its library initialised and
// its metadata read within this.
constexpr uint64_t kValidateAddressSpace = 2ULL << 30;

std::string TreeDigest(const std::string& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 16);
  for (const auto& f : files) {
    std::string name = f.lexically_relative(dir).string();
    EVP_DigestUpdate(ctx, name.c_str(), name.size() + 1);
    std::ifstream in(f, std::ios::binary);
    while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
      EVP_DigestUpdate(ctx, buf.data(), static_cast<size_t>(in.gcount()));
    }
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  std::ostringstream hex;
  for (unsigned i = 0; i < 8 && i < len; ++i) {
    hex << std::hex << std::setw(2) << std::setfill('0') << +md[i];
  }
  return hex.str();
}

PackSnapshots::PackSnapshots(std::string root, std::string gale_binary,
                             std::vector<std::string> context_paths, std::optional<gid_t> share_gid)
    : root_(std::move(root)),
      gale_binary_(std::move(gale_binary)),
      context_paths_(std::move(context_paths)),
      share_gid_(share_gid) {
  std::error_code ec;
  fs::remove_all(root_, ec);  // copies from a previous run are stale by definition
  fs::create_directories(root_, ec);
  if (share_gid_) {
    // The group may pass through (to the copies), not list; everyone else not even that.
    for (const fs::path& dir : {fs::path(root_).parent_path(), fs::path(root_)}) {
      if (chown(dir.c_str(), static_cast<uid_t>(-1), *share_gid_) != 0 ||
          chmod(dir.c_str(), 0710) != 0) {
        spdlog::warn("{}: cannot share with the action group: {}", dir.string(), strerror(errno));
      }
    }
  }
}

namespace {

// Group-readable copy for the action user: directories 0750, files 0640 (0750 when executable
// by their owner), no symlink followed.
void ShareWithGroup(const fs::path& top, gid_t gid) {
  auto share = [gid](const fs::path& p) {
    struct stat st {};
    if (lstat(p.c_str(), &st) != 0 || S_ISLNK(st.st_mode)) return;
    const mode_t mode = S_ISDIR(st.st_mode) || (st.st_mode & S_IXUSR) != 0 ? 0750 : 0640;
    if (lchown(p.c_str(), static_cast<uid_t>(-1), gid) != 0 || chmod(p.c_str(), mode) != 0) {
      spdlog::warn("{}: cannot share with the action group: {}", p.string(), strerror(errno));
    }
  };
  share(top);
  std::error_code ec;
  for (fs::recursive_directory_iterator it(top, ec), end; !ec && it != end; it.increment(ec)) {
    share(it->path());
  }
}

}  // namespace

RefreshResult PackSnapshots::Refresh(const std::string& source_dir, std::string* why) {
  std::error_code ec;
  auto current = by_source_.find(source_dir);
  if (!fs::exists(fs::path(source_dir) / "pack.yaml", ec)) {
    if (current == by_source_.end()) return RefreshResult::kUnchanged;
    spdlog::info("pack {}: removed from {}", current->second.ref, source_dir);
    by_source_.erase(current);
    return RefreshResult::kRemoved;
  }
  // Stage: <root>/.staging/<name>, copied while the source may still be changing; the copy is
  // what gets validated and run, so it is consistent even if the source is not.
  const fs::path staging_parent = fs::path(root_) / ".staging";
  const fs::path staging = staging_parent / fs::path(source_dir).filename();
  fs::remove_all(staging_parent, ec);
  fs::create_directories(staging_parent, ec);
  fs::copy(source_dir, staging, fs::copy_options::recursive, ec);
  if (ec) {
    if (why) *why = source_dir + ": cannot copy: " + ec.message();
    return RefreshResult::kRefused;
  }
  const std::string digest = TreeDigest(staging.string());
  if (current != by_source_.end() && current->second.version == digest) {
    fs::remove_all(staging_parent, ec);
    return RefreshResult::kUnchanged;
  }
  std::vector<std::string> argv = {gale_binary_, "pack", "validate", staging.string(), "--json"};
  for (const auto& path : context_paths_) {
    argv.push_back("--packs");
    argv.push_back(path);
  }
  // The pack is untrusted input: its YAML (an alias bomb) or its library could take all the
  // memory. The limits bound what a document expands to; RLIMIT_AS bounds the rest.
  SpawnOptions limits;
  limits.address_space_bytes = kValidateAddressSpace;
  auto validated = RunCapture(argv, std::chrono::seconds(60), limits);
  Json description;
  std::string refusal;
  if (!validated.ok()) {
    refusal = validated.message();
  } else {
    description = Json::parse(validated->stdout_text, nullptr, false);
    if (description.is_discarded() || !description.is_object()) {
      refusal = "validation " +
                (validated->exit_code >= 128
                     ? "crashed (signal " + std::to_string(validated->exit_code - 128) + ")"
                     : "gave no result (exit code " + std::to_string(validated->exit_code) + ")");
    } else if (description.value("status", "") != "loaded") {
      const Json& errors = description["errors"];
      refusal = errors.is_array() && !errors.empty() ? errors[0].get<std::string>() : "invalid";
      // Report the user's file, not the staging copy.
      for (size_t pos; (pos = refusal.find(staging.string())) != std::string::npos;) {
        refusal.replace(pos, staging.string().size(), source_dir);
      }
    }
  }
  if (!refusal.empty()) {
    fs::remove_all(staging_parent, ec);
    if (why) *why = refusal;
    return RefreshResult::kRefused;
  }
  ActivePack active;
  active.ref = description["ref"];
  active.source = source_dir;
  active.version = digest;
  active.description = description;
  for (const auto& s : description["sensors"]) {
    if (s.value("enabled", true)) active.sensors.push_back(s["ref"]);
  }
  const fs::path version_dir = fs::path(root_) / (active.ref + "@" + digest);
  fs::remove_all(version_dir, ec);
  fs::create_directories(version_dir, ec);
  fs::rename(staging, version_dir / active.ref, ec);
  if (ec) {
    if (why) *why = version_dir.string() + ": " + ec.message();
    return RefreshResult::kRefused;
  }
  fs::remove_all(staging_parent, ec);
  if (share_gid_) ShareWithGroup(version_dir, *share_gid_);
  // After sharing: on a root node pip runs as the action user and reads the copy.
  if (Status env =
          python_envs_ ? python_envs_->Attach(active.ref, version_dir, source_dir) : Status::Ok();
      !env.ok()) {
    fs::remove_all(version_dir, ec);
    if (why) *why = env.message();
    return RefreshResult::kRefused;
  }
  active.dir = (version_dir / active.ref).string();
  // The previous copy stays on disk: its host may still be stopping. Older ones go.
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    const std::string name = entry.path().filename().string();
    const bool same_pack = name.rfind(active.ref + "@", 0) == 0;
    const bool keep = entry.path() == version_dir ||
                      (current != by_source_.end() &&
                       entry.path() == fs::path(current->second.dir).parent_path());
    if (same_pack && !keep) fs::remove_all(entry.path(), ec);
  }
  by_source_[source_dir] = std::move(active);
  return RefreshResult::kActivated;
}

std::vector<ActivePack> PackSnapshots::Active() const {
  std::vector<ActivePack> out;
  for (const auto& [source, pack] : by_source_) out.push_back(pack);
  return out;
}

}  // namespace gale::node

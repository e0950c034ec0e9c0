#include "host/node/pack_snapshots.h"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <thread>

#include "host/common/subprocess.h"
#include "host/node/python_env.h"

namespace gale::node {
namespace fs = std::filesystem;

// Address space of a `gale pack validate` child: a pack is loaded, its library initialised and
// its metadata read within this.
constexpr uint64_t kValidateAddressSpace = 2ULL << 30;

std::string TreeDigest(const std::string& dir, const std::string& skip) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!skip.empty() && it.depth() == 0 && it->path().filename() == skip) {
      it.disable_recursion_pending();
      continue;
    }
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

PackSnapshots::PackSnapshots(std::string root, std::string gale_binary, std::string configs_dir,
                             std::optional<gid_t> share_gid)
    : root_(std::move(root)),
      gale_binary_(std::move(gale_binary)),
      configs_dir_(std::move(configs_dir)),
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

// Replaces the staging copy's path in a validation message with the user's directory.
std::string ForUser(std::string text, const std::string& staging, const std::string& source_dir) {
  for (size_t pos; (pos = text.find(staging)) != std::string::npos;) {
    text.replace(pos, staging.size(), source_dir);
  }
  return text;
}

// Whether two files hold the same bytes (both readable).
bool SameContents(const fs::path& a, const fs::path& b) {
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  if (!fa || !fb) return false;
  return std::string(std::istreambuf_iterator<char>(fa), {}) ==
         std::string(std::istreambuf_iterator<char>(fb), {});
}

// The running version's resource (action, rule, sensor, policy) read from `file` (relative to the
// pack), as its description lists it; null when it had none.
const Json* PreviousResource(const Json& description, const std::string& file) {
  for (const char* kind : {"actions", "rules", "sensors", "policies"}) {
    if (!description.contains(kind)) continue;
    for (const auto& r : description[kind]) {
      if (r.value("file", "") == file) return &r;
    }
  }
  return nullptr;
}

}  // namespace

std::vector<Result<Json>> PackSnapshots::Validate(const std::vector<std::string>& stagings) const {
  std::vector<std::string> argv = {gale_binary_, "pack", "validate"};
  argv.insert(argv.end(), stagings.begin(), stagings.end());
  argv.push_back("--json");
  if (!configs_dir_.empty()) {
    argv.push_back("--configs");
    argv.push_back(configs_dir_);
  }
  // The pack is untrusted input: its YAML (an alias bomb) or its library could take all the
  // memory. The limits bound what a document expands to; RLIMIT_AS bounds the rest.
  SpawnOptions limits;
  limits.address_space_bytes = kValidateAddressSpace;
  auto validated = RunCapture(argv, std::chrono::seconds(60), limits);
  std::string failure;
  Json output;
  if (!validated.ok()) {
    failure = validated.message();
  } else {
    output = Json::parse(validated->stdout_text, nullptr, false);
    if (stagings.size() > 1 && output.is_object()) output = output.value("packs", Json());
    const bool shaped = stagings.size() > 1 ? output.is_array() && output.size() == stagings.size()
                                            : output.is_object();
    if (output.is_discarded() || !shaped) {
      failure = "validation " +
                (validated->exit_code >= 128
                     ? "crashed (signal " + std::to_string(validated->exit_code - 128) + ")"
                     : "gave no result (exit code " + std::to_string(validated->exit_code) + ")");
    }
  }
  std::vector<Result<Json>> results;
  if (failure.empty()) {
    if (stagings.size() == 1) {
      results.push_back(std::move(output));
    } else {
      for (auto& description : output) results.push_back(std::move(description));
    }
    return results;
  }
  // One pack of a batch spoiled it for all: each gets its own child to say which.
  if (stagings.size() > 1) {
    for (const auto& staging : stagings) results.push_back(std::move(Validate({staging})[0]));
    return results;
  }
  results.push_back(Status::Error(failure));
  return results;
}

std::optional<RefreshResult> PackSnapshots::Stage(const std::string& source_dir, Staged& staged,
                                                  std::string* why) {
  std::error_code ec;
  int staging_index = 0;
  {
    std::lock_guard lock(mu_);
    auto it = by_source_.find(source_dir);
    if (!fs::exists(fs::path(source_dir) / "pack.yaml", ec)) {
      if (it == by_source_.end()) return RefreshResult::kUnchanged;
      spdlog::info("pack {}: removed from {}", it->second.ref, source_dir);
      by_source_.erase(it);
      return RefreshResult::kRemoved;
    }
    if (it != by_source_.end()) staged.current = it->second;
    staging_index = next_staging_++;
  }
  // Stage: <root>/.staging/<n>/<name>, copied while the source may still be changing; the copy
  // is what gets validated and run, so it is consistent even if the source is not.
  staged.source = source_dir;
  staged.parent = fs::path(root_) / ".staging" / std::to_string(staging_index);
  staged.dir = staged.parent / fs::path(source_dir).filename();
  fs::remove_all(staged.parent, ec);
  fs::create_directories(staged.parent, ec);
  fs::copy(source_dir, staged.dir, fs::copy_options::recursive, ec);
  if (ec) {
    fs::remove_all(staged.parent, ec);
    if (why) *why = source_dir + ": cannot copy: " + ec.message();
    return RefreshResult::kRefused;
  }
  staged.digest = TreeDigest(staged.dir.string());
  if (staged.current && staged.current->version == staged.digest) {
    fs::remove_all(staged.parent, ec);
    return RefreshResult::kUnchanged;
  }
  for (const auto& entry : fs::directory_iterator(staged.dir, ec)) {
    const std::string name = entry.path().filename().string();
    staged.has_library =
        staged.has_library || (name.rfind("lib", 0) == 0 && entry.path().extension() == ".so");
  }
  return std::nullopt;
}

RefreshResult PackSnapshots::Refresh(const std::string& source_dir, std::string* why) {
  Staged staged;
  if (auto done = Stage(source_dir, staged, why)) return *done;
  return Activate(staged, std::move(Validate({staged.dir.string()})[0]), why);
}

std::vector<RefreshResult> PackSnapshots::RefreshMany(const std::vector<std::string>& source_dirs,
                                                      std::vector<std::string>* whys,
                                                      size_t parallelism) {
  std::vector<RefreshResult> results(source_dirs.size(), RefreshResult::kUnchanged);
  if (whys) whys->assign(source_dirs.size(), "");
  std::vector<Staged> staged(source_dirs.size());
  // Batches of packs whose validation runs in one child. A pack with a library gets a child of
  // its own: its code runs there (static initialisers, the factory), and must not be able to
  // sway another pack's result. YAML-only packs are read by Gale's code alone, so they share.
  std::vector<std::vector<size_t>> batches;
  std::vector<size_t> yaml_only;
  for (size_t i = 0; i < source_dirs.size(); ++i) {
    std::string* why = whys ? &(*whys)[i] : nullptr;
    if (auto done = Stage(source_dirs[i], staged[i], why)) {
      results[i] = *done;
    } else if (staged[i].has_library) {
      batches.push_back({i});
    } else {
      yaml_only.push_back(i);
    }
  }
  const size_t workers = std::max<size_t>(1, parallelism);
  const size_t per_batch = std::max<size_t>(1, (yaml_only.size() + workers - 1) / workers);
  for (size_t i = 0; i < yaml_only.size(); i += per_batch) {
    batches.emplace_back(yaml_only.begin() + i,
                         yaml_only.begin() + std::min(yaml_only.size(), i + per_batch));
  }
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t b; (b = next.fetch_add(1)) < batches.size();) {
      std::vector<std::string> dirs;
      for (size_t i : batches[b]) dirs.push_back(staged[i].dir.string());
      std::vector<Result<Json>> validated = Validate(dirs);
      for (size_t k = 0; k < batches[b].size(); ++k) {
        const size_t i = batches[b][k];
        results[i] = Activate(staged[i], std::move(validated[k]), whys ? &(*whys)[i] : nullptr);
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t n = std::min(workers, batches.size()); n > 1; --n) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  return results;
}

RefreshResult PackSnapshots::Activate(Staged& staged, Result<Json> validated, std::string* why) {
  std::error_code ec;
  const std::string& source_dir = staged.source;
  const fs::path& staging = staged.dir;
  const fs::path& staging_parent = staged.parent;
  const std::optional<ActivePack>& current = staged.current;
  // The description of a pack that loads, or the one-line reason it does not.
  auto loads = [&](Result<Json> result) -> Result<Json> {
    if (!result.ok()) return result;
    if (result->value("status", "") == "loaded") return result;
    const Json& errors = (*result)["errors"];
    // Report the user's file, not the staging copy.
    return Status::Error(
        ForUser(errors.is_array() && !errors.empty() ? errors[0].get<std::string>() : "invalid",
                staging.string(), source_dir));
  };
  validated = loads(std::move(validated));
  // A resource file refused in the new copy that the running version had: its previous file is
  // carried into the new copy (the running one is never touched), which is validated again.
  if (validated.ok() && current) {
    struct Carried {
      std::string file, what, error;
    };
    std::vector<Carried> carried;
    for (const auto& r : (*validated)["refused"]) {
      const std::string file = r.value("file", "");
      const Json* previous = PreviousResource(current->description, file);
      // An unchanged file refused for another reason (a rule whose action went) gains nothing.
      if (file.empty() || !previous ||
          SameContents(fs::path(current->dir) / file, staging / file)) {
        continue;
      }
      fs::copy_file(fs::path(current->dir) / file, staging / file,
                    fs::copy_options::overwrite_existing, ec);
      if (ec) continue;
      const Json& errors = r["errors"];
      carried.push_back({file, r.value("kind", "resource") + " " + previous->value("ref", file),
                         ForUser(errors.empty() ? "invalid" : errors[0].get<std::string>(),
                                 staging.string(), source_dir)});
    }
    if (!carried.empty()) {
      validated = loads(std::move(Validate({staging.string()})[0]));
      for (const auto& c : carried) {
        bool still_refused = !validated.ok();
        for (const auto& r : validated.ok() ? (*validated)["refused"] : Json::array()) {
          still_refused = still_refused || r.value("file", "") == c.file;
        }
        if (still_refused) continue;
        spdlog::warn("pack {}: {}/{} is refused ({}); the previous version of {} keeps running",
                     current->ref, source_dir, c.file, c.error, c.what);
      }
    }
  }
  if (!validated.ok()) {
    fs::remove_all(staging_parent, ec);
    if (why) *why = validated.message();
    return RefreshResult::kRefused;
  }
  const Json& description = *validated;
  for (const auto& r : description["refused"]) {
    const Json& errors = r["errors"];
    spdlog::warn(
        "pack {}: {} {} refused (the pack loads without it): {}", description.value("ref", ""),
        r.value("kind", "resource"),
        r.value("ref", "").empty() ? source_dir + "/" + r.value("file", "") : r.value("ref", ""),
        ForUser(errors.empty() ? "invalid" : errors[0].get<std::string>(), staging.string(),
                source_dir));
  }
  for (const auto& n : description["notes"]) {
    spdlog::info("pack {}: note: {}", description.value("ref", ""),
                 ForUser(n.get<std::string>(), staging.string(), source_dir));
  }
  ActivePack active;
  active.ref = description["ref"];
  active.source = source_dir;
  active.version = staged.digest;
  active.sensor_version = TreeDigest(staging.string(), "rules");
  active.description = description;
  for (const auto& s : description["sensors"]) {
    if (s.value("enabled", true)) active.sensors.push_back(s["ref"]);
  }
  std::lock_guard lock(mu_);
  const fs::path version_dir = fs::path(root_) / (active.ref + "@" + staged.digest);
  fs::remove_all(version_dir, ec);
  fs::create_directories(version_dir, ec);
  fs::rename(staging, version_dir / active.ref, ec);
  if (ec) {
    if (why) *why = version_dir.string() + ": " + ec.message();
    fs::remove_all(staging_parent, ec);
    return RefreshResult::kRefused;
  }
  fs::remove_all(staging_parent, ec);
  if (share_gid_) ShareWithGroup(version_dir, *share_gid_);
  // After sharing: on a root node pip runs as the action user and reads the copy. Under mu_:
  // activations run side by side at start-up, and the venvs share one cache.
  if (Status env =
          python_envs_ ? python_envs_->Attach(active.ref, version_dir, source_dir) : Status::Ok();
      !env.ok()) {
    fs::remove_all(version_dir, ec);
    if (why) *why = env.message();
    return RefreshResult::kRefused;
  }
  active.dir = (version_dir / active.ref).string();
  // The previous copy stays on disk: its host may still be stopping. Older ones go (not those
  // another source of the same ref runs).
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    const std::string name = entry.path().filename().string();
    const bool same_pack = name.rfind(active.ref + "@", 0) == 0;
    bool keep = entry.path() == version_dir ||
                (current && entry.path() == fs::path(current->dir).parent_path());
    for (const auto& dir : in_use_) keep = keep || entry.path() == fs::path(dir).parent_path();
    for (const auto& [source, other] : by_source_) {
      keep = keep || (source != source_dir && entry.path() == fs::path(other.dir).parent_path());
    }
    if (same_pack && !keep) fs::remove_all(entry.path(), ec);
  }
  by_source_[source_dir] = std::move(active);
  return RefreshResult::kActivated;
}

void PackSnapshots::KeepInUse(std::set<std::string> dirs) {
  std::lock_guard lock(mu_);
  in_use_ = std::move(dirs);
}

std::vector<ActivePack> PackSnapshots::Active() const {
  std::lock_guard lock(mu_);
  std::vector<ActivePack> out;
  for (const auto& [source, pack] : by_source_) out.push_back(pack);
  return out;
}

}  // namespace gale::node

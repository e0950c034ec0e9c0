#include "sandbox/settings.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gale::sandbox {
namespace {

Status KeyError(const std::string& key, const std::string& what) {
  return Status::Error("sandbox." + key + ": " + what);
}

// A positive number of seconds (or zero when `allow_zero`), as milliseconds.
Result<std::chrono::milliseconds> Seconds(const Json& v, const std::string& key, bool allow_zero) {
  if (!v.is_number()) return KeyError(key, "must be a number of seconds");
  double s = v.get<double>();
  if (!std::isfinite(s) || s < 0 || (s == 0 && !allow_zero)) {
    return KeyError(key, allow_zero ? "must be >= 0" : "must be > 0");
  }
  if (s > 366.0 * 24 * 3600) return KeyError(key, "must be at most a year");
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(s * 1000)));
}

Result<std::uint64_t> Count(const Json& v, const std::string& key, std::uint64_t min) {
  if (!v.is_number_integer()) return KeyError(key, "must be an integer");
  if (v.is_number_unsigned()) {
    auto n = v.get<std::uint64_t>();
    if (n < min) return KeyError(key, "must be >= " + std::to_string(min));
    return n;
  }
  auto n = v.get<std::int64_t>();
  if (n < static_cast<std::int64_t>(min)) return KeyError(key, "must be >= " + std::to_string(min));
  return static_cast<std::uint64_t>(n);
}

Result<std::uint64_t> Scaled(const Json& v, const std::string& key, std::uint64_t unit) {
  GALE_ASSIGN_OR_RETURN(auto n, Count(v, key, 1));
  if (n > std::numeric_limits<std::uint64_t>::max() / unit) return KeyError(key, "too large");
  return n * unit;
}

Result<std::string> String(const Json& v, const std::string& key) {
  if (!v.is_string()) return KeyError(key, "must be a string");
  return v.get<std::string>();
}

Result<std::uint64_t> CpuSeconds(const Json& v, const std::string& key) {
  if (!v.is_number()) return KeyError(key, "must be a number of seconds");
  double s = v.get<double>();
  if (!std::isfinite(s) || s <= 0) return KeyError(key, "must be > 0");
  if (s > 1e9) return KeyError(key, "too large");
  return static_cast<std::uint64_t>(std::ceil(s));
}

Result<SeccompProfile> Profile(const Json& v) {
  if (!v.is_string()) return KeyError("profile", "must be one of default, no-network, strict");
  auto p = ParseSeccompProfile(v.get<std::string>());
  if (!p) return p.status().WithContext("sandbox.profile");
  return *p;
}

Status ApplyMemory(const Json& v, Settings& s) {
  GALE_ASSIGN_OR_RETURN(auto bytes, Scaled(v, "memory", 1ULL << 20));
  s.limits.address_space_bytes = bytes;
  s.limits.memory_bytes = bytes;
  return Status::Ok();
}

// An action's limit under the node's: the smaller one, or the action's when the node has none.
std::optional<std::uint64_t> Narrowed(std::optional<std::uint64_t> node, std::uint64_t action) {
  return node ? std::min(*node, action) : action;
}

// The node's max_timeout bounds every timeout; "none" (0) is not an option past configuration.
void CapTimeout(Settings& s) {
  if (s.timeout.count() <= 0 || s.timeout > s.max_timeout) s.timeout = s.max_timeout;
}

// Profile ranks, strictest first (ordering of SeccompProfile's enumerators is not meaningful).
int Rank(SeccompProfile p) {
  switch (p) {
    case SeccompProfile::kStrict:
      return 0;
    case SeccompProfile::kNoNetwork:
      return 1;
    case SeccompProfile::kDefault:
      return 2;
    case SeccompProfile::kNone:
      return 3;
  }
  return 0;
}

bool HasNetwork(SeccompProfile p) {
  return p == SeccompProfile::kDefault || p == SeccompProfile::kNone;
}

}  // namespace

Result<SeccompProfile> ParseSeccompProfile(std::string_view name) {
  if (name == "default") return SeccompProfile::kDefault;
  if (name == "no-network") return SeccompProfile::kNoNetwork;
  if (name == "strict") return SeccompProfile::kStrict;
  return Status::Error("unknown seccomp profile '" + std::string(name) +
                       "' (expected default, no-network or strict)");
}

SeccompProfile Stricter(SeccompProfile a, SeccompProfile b) {
  return Rank(a) <= Rank(b) ? a : b;
}

std::string_view ToString(SeccompProfile profile) {
  switch (profile) {
    case SeccompProfile::kNone:
      return "none";
    case SeccompProfile::kDefault:
      return "default";
    case SeccompProfile::kNoNetwork:
      return "no-network";
    case SeccompProfile::kStrict:
      return "strict";
  }
  return "?";
}

Result<Settings> SettingsFromNodeConfig(const Json& section, const Settings& base) {
  Settings s = base;
  if (section.is_null()) {
    CapTimeout(s);
    return s;
  }
  if (!section.is_object()) return Status::Error("sandbox: must be a mapping");
  for (const auto& [key, v] : section.items()) {
    Status st = Status::Ok();
    if (key == "profile") {
      GALE_ASSIGN_OR_RETURN(auto p, Profile(v));
      s.profile = p;
    } else if (key == "on_violation") {
      GALE_ASSIGN_OR_RETURN(auto a, String(v, key));
      if (a == "errno") {
        s.on_violation = ViolationAction::kErrno;
      } else if (a == "kill") {
        s.on_violation = ViolationAction::kKill;
      } else {
        return KeyError(key, "must be errno or kill");
      }
    } else if (key == "timeout") {
      GALE_ASSIGN_OR_RETURN(auto t, Seconds(v, key, /*allow_zero=*/true));
      s.timeout = t;
    } else if (key == "max_timeout") {
      GALE_ASSIGN_OR_RETURN(auto t, Seconds(v, key, /*allow_zero=*/false));
      s.max_timeout = t;
    } else if (key == "kill_grace") {
      GALE_ASSIGN_OR_RETURN(auto t, Seconds(v, key, /*allow_zero=*/true));
      s.kill_grace = t;
    } else if (key == "memory") {
      st = ApplyMemory(v, s);
    } else if (key == "cpu") {
      GALE_ASSIGN_OR_RETURN(auto c, CpuSeconds(v, key));
      s.limits.cpu_seconds = c;
    } else if (key == "open_files") {
      GALE_ASSIGN_OR_RETURN(auto n, Count(v, key, 16));
      s.limits.open_files = n;
    } else if (key == "processes") {
      GALE_ASSIGN_OR_RETURN(auto n, Count(v, key, 1));
      s.limits.processes = n;
    } else if (key == "file_size_mb") {
      GALE_ASSIGN_OR_RETURN(auto n, Scaled(v, key, 1ULL << 20));
      s.limits.file_size_bytes = n;
    } else if (key == "output_cap_kb") {
      GALE_ASSIGN_OR_RETURN(auto n, Scaled(v, key, 1ULL << 10));
      s.output_cap_bytes = n;
    } else if (key == "env_allow") {
      if (!v.is_array()) return KeyError(key, "must be a list of variable names");
      s.env_allow.clear();
      for (const auto& e : v) {
        if (!e.is_string() || e.get<std::string>().empty()) {
          return KeyError(key, "must be a list of variable names");
        }
        s.env_allow.push_back(e.get<std::string>());
      }
    } else if (key == "user" || key == "group" || key == "cgroup_parent" || key == "working_dir") {
      GALE_ASSIGN_OR_RETURN(auto str, String(v, key));
      if (key == "user") s.user = str;
      if (key == "group") s.group = str;
      if (key == "cgroup_parent") s.cgroup_parent = str;
      if (key == "working_dir") s.working_dir = str;
    } else if (key == "cgroup") {
      GALE_ASSIGN_OR_RETURN(auto m, String(v, key));
      if (m == "auto") {
        s.cgroup = CgroupMode::kAuto;
      } else if (m == "off") {
        s.cgroup = CgroupMode::kOff;
      } else if (m == "require") {
        s.cgroup = CgroupMode::kRequire;
      } else {
        return KeyError(key, "must be auto, off or require");
      }
    } else {
      return KeyError(key, "unknown setting");
    }
    if (!st) return st;
  }
  CapTimeout(s);  // after the loop: `timeout` and `max_timeout` may come in any order
  return s;
}

Result<Settings> SettingsFromSandboxBlock(const Json& block, const Settings& node_defaults) {
  Settings s = node_defaults;
  CapTimeout(s);
  if (block.is_null()) return s;
  if (!block.is_object()) return Status::Error("sandbox: must be a mapping");
  std::optional<SeccompProfile> profile;
  std::optional<bool> network;
  for (const auto& [key, v] : block.items()) {
    if (key == "profile") {
      GALE_ASSIGN_OR_RETURN(auto p, Profile(v));
      profile = p;
    } else if (key == "timeout") {
      GALE_ASSIGN_OR_RETURN(auto t, Seconds(v, key, /*allow_zero=*/false));
      s.timeout = std::min(t, s.max_timeout);
    } else if (key == "memory") {
      GALE_ASSIGN_OR_RETURN(auto bytes, Scaled(v, key, 1ULL << 20));
      s.limits.address_space_bytes = Narrowed(s.limits.address_space_bytes, bytes);
      s.limits.memory_bytes = Narrowed(s.limits.memory_bytes, bytes);
    } else if (key == "cpu") {
      GALE_ASSIGN_OR_RETURN(auto c, CpuSeconds(v, key));
      s.limits.cpu_seconds = Narrowed(s.limits.cpu_seconds, c);
    } else if (key == "network") {
      if (!v.is_boolean()) return KeyError(key, "must be true or false");
      network = v.get<bool>();
    } else {
      return KeyError(key, "unknown setting (allowed: profile, timeout, memory, cpu, network)");
    }
  }
  // Only the block's own profile can contradict `network: true`; the node's profile simply wins
  // (an action that needs the network fails at its first socket on a node that has none).
  if (network.value_or(false) && profile && !HasNetwork(*profile)) {
    return Status::Error("sandbox.network: true contradicts profile '" +
                         std::string(ToString(*profile)) + "', which has no network");
  }
  if (profile) s.profile = Stricter(s.profile, *profile);
  if (network.has_value() && !*network && HasNetwork(s.profile)) {
    s.profile = SeccompProfile::kNoNetwork;
  }
  return s;
}

}  // namespace gale::sandbox

// What a node takes from the machine before it starts its roles: the open files limit, the
// isolation it can give executions, the unprivileged user actions run as, and the places its
// sandboxed children can reach (the `gale` binary they execute, the pack copies they read).
#pragma once

#include <filesystem>
#include <string>

#include "host/common/result.h"
#include "host/common/user.h"
#include "host/config/config.h"
#include "sandbox/process.h"
#include "sandbox/settings.h"

namespace gale::node {

using ActionUser = Credentials;

// Writes `text` to `path` atomically (readers never see half a file).
Status WriteFileAtomic(const std::filesystem::path& path, const std::string& text);

// Raises the soft RLIMIT_NOFILE to the hard limit (at most 2^20), as servers do.
void RaiseDescriptorLimit();

// What this node cannot give its executions, in one warning each (docs/security.md).
void SayWhatIsolationIsMissing(const sandbox::IsolationReport& isolation);

// Every execution's sandbox starts from these: gale.yaml's `sandbox:` over the built-in defaults.
sandbox::Settings NodeSandbox(const config::Config& config);

// The action user's ids, or why actions cannot run as it (never root, never the node's uid).
Result<ActionUser> ResolveActionUser(const sandbox::Settings& sandbox);

// The `gale` that sandboxed children execute as the action user: `gale_binary`, or a copy of it
// in /var/lib/gale/bin when the checkout is out of that user's reach.
std::string GaleForActions(const std::string& gale_binary, const ActionUser& user);

// The directory holding the Python shim (gale_shim, st2common, st2reactor) that Python actions
// and sensor hosts put on their sys.path: <dir of gale_binary>/../share/gale/python, or, when
// the node runs as root, a copy of it in /var/lib/gale/python/<digest> that the action user can
// read. Empty (with a warning) when there is none: python-script actions and Python sensors then
// fail with that reason.
std::string PythonShimForActions(const std::string& gale_binary);

// Where the pack copies that actions and sensor hosts read live.
std::string SnapshotRoot(const config::Config& config);

}  // namespace gale::node

#include "host/runner/env_policy.h"

#include <algorithm>
#include <array>

namespace gale::runner {
namespace {

// Whole families: every variable with the prefix.
constexpr std::array<std::string_view, 6> kPrefixes = {
    "LD_",         // the dynamic loader: LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT, ...
    "PYTHON",      // PYTHONPATH, PYTHONSTARTUP, PYTHONHOME, PYTHONINSPECT, ...
    "PERL5",       // PERL5LIB, PERL5OPT (-M loads a module), PERL5DB
    "RUBY",        // RUBYOPT (-r requires a file), RUBYLIB
    "MALLOC_",     // glibc's allocator tuning and checking hooks
    "BASH_FUNC_",  // exported bash functions: `BASH_FUNC_ls%%=() { ...; }` replaces a command
};

// Single variables.
constexpr std::array<std::string_view, 21> kNames = {
    // Shells: run a file at start-up, change how words split, trace output, options.
    "BASH_ENV",
    "ENV",
    "IFS",
    "PS4",
    "SHELLOPTS",
    "BASHOPTS",
    "CDPATH",
    "GLOBIGNORE",
    // libc: character set converters and locales are loaded as shared objects; resolver files.
    "GCONV_PATH",
    "GLIBC_TUNABLES",
    "LOCPATH",
    "NLSPATH",
    "HOSTALIASES",
    "RESOLV_HOST_CONF",
    // Other runtimes that load code named by a variable.
    "PERLLIB",
    "NODE_OPTIONS",
    "NODE_PATH",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "OPENSSL_CONF",
    "OPENSSL_ENGINES",
};

}  // namespace

bool IsForbiddenEnvName(std::string_view name) {
  return std::any_of(kPrefixes.begin(), kPrefixes.end(),
                     [&](std::string_view p) { return name.starts_with(p); }) ||
         std::find(kNames.begin(), kNames.end(), name) != kNames.end();
}

}  // namespace gale::runner

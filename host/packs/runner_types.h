// The runner types Gale implements (StackStorm's names where it has one), in one table: each row
// is a name, what the action's entry_point names for it, and its runner parameters (StackStorm's
// `runner_parameters`: the parameters the runner reads itself, with their schema and defaults).
//
// How a type runs is host/runner's business, and host/packs may not depend on host/runner
// (docs/architecture.md, "Components"), so the launchers live in a second table keyed by these
// names, in host/runner/launch.cpp; a static_assert there refuses to compile unless every row
// here has exactly one launcher and every launcher a row. Adding a runner type is one row here
// plus its launcher function and the line naming it there.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "host/common/json.h"
#include "host/common/result.h"

namespace gale::packs {

// What an action's `entry_point` names for its runner type; the pack reader checks it.
enum class EntryPoint {
  kUnused,         // nothing: the runner ignores it
  kScript,         // a file under the pack's actions/ directory (required)
  kLibraryExport,  // an action exported by the pack's lib<pack>.so (required)
};

struct RunnerType {
  std::string_view name;
  EntryPoint entry_point = EntryPoint::kUnused;
  // A StackStorm parameter map, as JSON text ({name: {type, description, default, required}}).
  // A `default` here is filled in at launch for a parameter the execution lacks; the action's own
  // defaults were filled in when it was requested, so they win, as in StackStorm.
  std::string_view parameters = "{}";
};

// Sorted by name, so KnownRunnerTypes() lists them in that order. The shell runners' parameters
// are never a script's arguments nor PARAM_ variables; `sudo` and `kwarg_op` are StackStorm's,
// accepted so its actions load, and ignored (actions run as the sandbox's user; named arguments
// are always `--name=value`). python-script's are StackStorm's (`env`, `timeout`, `log_level`,
// `debug`; `content_version` is accepted and ignored), and none of them reaches run(), as in
// StackStorm; its default timeout of 600 s is not copied: the node's sandbox timeout applies
// unless one is given. It has no `cwd` (StackStorm's has none, so an action's own `cwd` parameter
// is the action's): its processes start in /tmp.
inline constexpr std::array kRunnerTypes = {
    // A workflow: the runner hands it to the workflow engine (host/workflow), which runs each
    // link as an execution of its own; entry_point is the chain file under actions/.
    RunnerType{
        .name = "action-chain",
        .entry_point = EntryPoint::kScript,
        .parameters = R"json({
          "display_published": {"type": "boolean",
                                "description": "published variables in the result (default)"},
          "skip_notify": {"type": "array", "description": "ignored"}})json",
    },
    RunnerType{
        .name = "http-request",
        .parameters = R"json({
          "url": {"type": "string", "required": true, "description": "http:// or https://"},
          "method": {"type": "string", "description": "GET unless set"},
          "headers": {"type": "object"},
          "body": {"type": "string"},
          "verify_ssl_cert": {"type": "boolean", "description": "true unless set"},
          "timeout": {"type": "number",
                      "description": "seconds to wait for the response, 60 unless set"},
          "cwd": {"type": "string", "description": "absolute working directory"}})json",
    },
    RunnerType{
        .name = "local-shell-cmd",
        .parameters = R"json({
          "cmd": {"type": "string", "required": true, "description": "run with /bin/sh -c"},
          "cwd": {"type": "string", "description": "absolute working directory"},
          "env": {"type": "object", "description": "extra environment variables"},
          "timeout": {"type": "number", "description": "seconds before the process is killed"},
          "sudo": {"type": "boolean", "description": "ignored"},
          "kwarg_op": {"type": "string", "description": "ignored"}})json",
    },
    RunnerType{
        .name = "local-shell-script",
        .entry_point = EntryPoint::kScript,
        .parameters = R"json({
          "cmd": {"type": "string", "description": "ignored (never an argument)"},
          "cwd": {"type": "string", "description": "absolute working directory"},
          "env": {"type": "object", "description": "extra environment variables"},
          "timeout": {"type": "number", "description": "seconds before the process is killed"},
          "sudo": {"type": "boolean", "description": "ignored"},
          "kwarg_op": {"type": "string", "description": "ignored"}})json",
    },
    RunnerType{
        .name = "native",
        .entry_point = EntryPoint::kLibraryExport,
        .parameters = R"json({
          "cwd": {"type": "string", "description": "absolute working directory"},
          "timeout": {"type": "number",
                      "description": "seconds before the action is killed"}})json",
    },
    RunnerType{.name = "noop"},
    // A workflow in Orquesta's language (host/workflow/orquesta_engine.h); entry_point is the
    // workflow file under actions/.
    RunnerType{
        .name = "orquesta",
        .entry_point = EntryPoint::kScript,
        .parameters = R"json({"skip_notify": {"type": "array", "description": "ignored"}})json",
    },
    RunnerType{
        .name = "python-script",
        .entry_point = EntryPoint::kScript,
        .parameters = R"json({
          "env": {"type": "object", "description": "extra environment variables"},
          "timeout": {"type": "number", "description": "seconds before the process is killed"},
          "log_level": {"type": "string", "default": "DEBUG",
                        "enum": ["AUDIT", "CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG",
                                 "NOTSET"],
                        "description": "level of self.logger (NOTSET: DEBUG)"},
          "debug": {"type": "boolean", "default": false,
                    "description": "true: self.logger at DEBUG whatever log_level says"},
          "content_version": {"type": "string",
                              "description": "ignored (Gale runs the registered copy)"}})json",
    },
};

// A table with two rows of one name would let the first shadow the second.
template <std::size_t N>
constexpr bool HasUniqueNames(const std::array<RunnerType, N>& rows) {
  for (std::size_t i = 0; i < N; ++i) {
    for (std::size_t j = i + 1; j < N; ++j) {
      if (rows[i].name == rows[j].name) return false;
    }
  }
  return true;
}
static_assert(HasUniqueNames(kRunnerTypes), "packs::kRunnerTypes: two rows have the same name");

// nullptr when Gale has no runner type `name`.
const RunnerType* FindRunnerType(std::string_view name);
bool IsKnownRunnerType(std::string_view name);
std::string KnownRunnerTypes();  // "http-request, local-shell-cmd, ..." for error messages

// Whether the runner of `runner_type` reads parameter `name` itself (false for unknown types).
bool IsRunnerParameter(std::string_view runner_type, std::string_view name);

// `parameters` (an object) with the defaults of `runner_type`'s runner parameters filled in where
// absent.
Json WithRunnerDefaults(std::string_view runner_type, const Json& parameters);

// Whether a row's `parameters` is a parameter map that compiles, with defaults valid under their
// own schemas ("runner type 'x': ..." otherwise). The unit tests run it on every row.
Status CheckRunnerParameters(const RunnerType& type);

}  // namespace gale::packs

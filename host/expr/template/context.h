// What a template (an action parameter, or a criteria `pattern`) can see while it renders, and
// the limits that keep a hostile template from exhausting memory, stack or time.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/common/json.h"
#include "host/common/result.h"

namespace gale::expr {

// Datastore scopes: st2kv.system.<name> (alias kv.system.<name>) and st2kv.user.<name> (the
// user is whoever the caller binds the lookup to).
enum class KvScope { kSystem, kUser };

// Returns the stored (string) value, or nullopt when the key does not exist. StackStorm renders
// a missing key as an empty string, and so does Gale. Called at most once per key and render.
using KvLookup = std::function<std::optional<std::string>(KvScope scope, const std::string& name)>;
// The datastore key a value was read from (decrypt_kv opens a sealed value only for the key it
// was sealed for).
struct KvKey {
  KvScope scope = KvScope::kSystem;
  std::string name;
};
// `decrypt_kv`: turns a stored ciphertext into plain text, or fails with a reason. `from` is the
// key it was read from; nullopt for a value that is not a datastore key (a literal, a trigger
// field).
using KvDecrypt = std::function<Result<std::string>(const std::optional<KvKey>& from,
                                                    const std::string& ciphertext)>;
// The clock `timediff_lt`/`timediff_gt` compare against (tests inject a fixed time).
using Clock = std::function<std::chrono::system_clock::time_point()>;

// Functions a host adds to an expression language (workflows add ctx(), result(), st2kv()...),
// shared by the Jinja templates and YAQL. The same provider answers at parse time (which names
// exist and what they take, so that an unknown function is a syntax error) and at evaluation.
struct FunctionSignature {
  std::vector<std::string_view> params;  // in order; a keyword argument names one
  std::size_t required = 0;              // leading params that must be given
};
// A function's value: borrowed (`ref`, valid until the evaluation ends) or owned (`value`).
struct FunctionResult {
  const Json* ref = nullptr;
  Json value;
};
class ExprFunctions {
 public:
  virtual ~ExprFunctions() = default;
  // nullptr: no function of that name.
  virtual const FunctionSignature* Find(std::string_view name) const = 0;
  // Called only for a name Find knows; `args` has one slot per param (nullopt: not given, and
  // every required one is given). Errors are one-line messages; nothing may throw.
  virtual Status Call(std::string_view name, std::vector<std::optional<Json>>& args,
                      FunctionResult* out) const = 0;
};

struct TemplateLimits {
  // Largest rendered text, and largest string any filter or operator may build on the way.
  std::size_t max_output_bytes = 1 << 20;
  // Expression evaluations plus loop iterations in one render.
  std::size_t max_steps = 1'000'000;
  // Nesting of parameter objects/arrays rendered by RenderParameters.
  int max_depth = 100;
};

struct TemplateContext {
  // The trigger instance's payload, visible as `trigger` (StackStorm's name for it).
  const Json* trigger = nullptr;
  // Optional JSON object whose members are further top-level names (e.g. action_context,
  // config_context). Must outlive the render.
  const Json* vars = nullptr;
  KvLookup kv;        // absent: every datastore key reads as missing ("")
  KvDecrypt decrypt;  // absent: decrypt_kv fails
  Clock now;          // absent: std::chrono::system_clock::now
  TemplateLimits limits;
  // Functions the template was parsed with (Template::Parse(source, functions)); calling one
  // when this is null is an evaluation error. Must outlive the render.
  const ExprFunctions* functions = nullptr;
  // StackStorm keeps a parameter whose template does not parse as literal text (so that e.g.
  // `docker inspect -f '{{.State}}'` passes through). Off by default: Gale reports the syntax
  // error and the execution fails with it.
  bool malformed_as_literal = false;
};

}  // namespace gale::expr

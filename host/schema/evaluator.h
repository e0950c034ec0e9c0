// Applies a compiled schema to an instance. With a violation list it collects every failure
// (with instance paths); without one it stops at the first failure and builds no strings, which
// is what IsValid and the anyOf/oneOf/not branches use.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "host/schema/compiled.h"
#include "host/schema/validator.h"

namespace gale::schema::detail {

class Evaluator {
 public:
  Evaluator(const Compiled& compiled, std::vector<Violation>* out, int depth = 0)
      : c_(compiled), out_(out), depth_(depth) {}

  bool Eval(int node, const Json& value);

 private:
  // Appends a token to the instance path for the lifetime of the scope (collecting mode only).
  class PathScope {
   public:
    PathScope(Evaluator& e, std::string_view token);
    PathScope(const PathScope&) = delete;
    PathScope& operator=(const PathScope&) = delete;
    ~PathScope();

   private:
    Evaluator& e_;
    std::size_t length_;
  };

  bool Matches(int node, const Json& value) const;
  [[gnu::noinline]] bool NameMatches(int node, const std::string& name) const;
  // Records a violation at the current path; the message is only built when collecting.
  // Returns whether evaluation should go on (only when collecting).
  // Kept out of line so the message temporaries live in Fail's frame, not in every frame of the
  // recursion (which would multiply stack use per nesting level).
  template <class MakeMessage>
  [[gnu::noinline]] bool Fail(MakeMessage&& make_message) {
    if (out_ == nullptr) return false;
    out_->push_back({path_, make_message()});
    return true;
  }

  // Separate frames on purpose: inlined together they make each recursion level costlier.
  [[gnu::noinline]] bool EvalSchema(const Node& n, const Json& value);
  [[gnu::noinline]] bool Numbers(const Node& n, const Json& value);
  [[gnu::noinline]] bool Strings(const Node& n, const std::string& value);
  [[gnu::noinline]] bool Arrays(const Node& n, const Json& value);
  [[gnu::noinline]] bool Objects(const Node& n, const Json& value);
  [[gnu::noinline]] bool Combinators(const Node& n, const Json& value);

  const Compiled& c_;
  std::vector<Violation>* out_;
  std::string path_;
  int depth_;
};

}  // namespace gale::schema::detail

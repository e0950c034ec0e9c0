// Internal: the parsed form of a YAQL expression.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "host/common/json.h"
#include "host/expr/regex.h"

namespace gale::expr::yaql {

struct Builtin;

enum class NodeKind : std::uint8_t {
  kLiteral,
  kRoot,      // `$`: the data (the workflow's variables), or the element inside where()/select()
  kAttr,      // args[0].name; null_safe for `?.`
  kIndex,     // args[0][args[1]]
  kCall,      // builtin(args...); a lambda argument is evaluated per element
  kHostCall,  // a host function (ctx, result, st2kv...): one slot per parameter (null: absent)
  kNeg,
  kPos,
  kNot,
  kBinary,
  kAnd,
  kOr,
  kList,
  kDict,  // args: key0, value0, key1, value1, ...
};

enum class BinOp : std::uint8_t { kAdd, kSub, kMul, kDiv, kMod, kEq, kNe, kLt, kLe, kGt, kGe, kIn };

struct Node {
  NodeKind kind = NodeKind::kLiteral;
  std::size_t pos = 0;  // byte offset of the node in the whole string, for messages
  Json literal;
  std::string name;  // kAttr key, kCall/kHostCall function name
  BinOp op = BinOp::kAdd;
  bool null_safe = false;
  const Builtin* builtin = nullptr;
  std::shared_ptr<const Regex> regex;  // regex_match with a literal pattern, compiled once
  std::vector<std::unique_ptr<Node>> args;
};

using NodePtr = std::unique_ptr<Node>;

}  // namespace gale::expr::yaql

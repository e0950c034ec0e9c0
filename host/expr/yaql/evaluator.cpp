#include "host/expr/yaql/evaluator.h"

#include <cmath>
#include <exception>
#include <limits>
#include <optional>

#include "host/expr/py_value.h"

namespace gale::expr::yaql {

namespace {

// A YAQL number: int or float (bool is not one: YAQL's Number type excludes it).
struct Num {
  bool is_int = true;
  long long i = 0;
  double d = 0;
  double AsDouble() const { return is_int ? static_cast<double>(i) : d; }
};

bool ToNum(const Json& j, Num* n) {
  if (j.is_number_unsigned()) {
    auto u = j.get<std::uint64_t>();
    if (u <= static_cast<std::uint64_t>(std::numeric_limits<long long>::max())) {
      *n = {true, static_cast<long long>(u), 0};
    } else {
      *n = {false, 0, static_cast<double>(u)};
    }
    return true;
  }
  if (j.is_number_integer()) {
    *n = {true, j.get<long long>(), 0};
    return true;
  }
  if (j.is_number_float()) {
    *n = {false, 0, j.get<double>()};
    return true;
  }
  return false;
}

const char* OpText(BinOp op) {
  switch (op) {
    case BinOp::kAdd:
      return "+";
    case BinOp::kSub:
      return "-";
    case BinOp::kMul:
      return "*";
    case BinOp::kDiv:
      return "/";
    case BinOp::kMod:
      return "mod";
    case BinOp::kEq:
      return "=";
    case BinOp::kNe:
      return "!=";
    case BinOp::kLt:
      return "<";
    case BinOp::kLe:
      return "<=";
    case BinOp::kGt:
      return ">";
    case BinOp::kGe:
      return ">=";
    case BinOp::kIn:
      return "in";
  }
  return "?";
}

}  // namespace

std::string TypeName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "integer";
    case Json::value_t::number_float:
      return "float";
    case Json::value_t::string:
      return "string";
    case Json::value_t::array:
      return "list";
    case Json::value_t::object:
      return "dict";
    default:
      return "value";
  }
}

Status Evaluator::Error(const Node& n, const std::string& what) const {
  return Status::Error(what + " at " + Where(prog_.text, n.pos));
}

Status Evaluator::Step(const Node& n, std::size_t count) {
  steps_ += count;
  if (steps_ > limits_.max_steps) {
    return Error(
        n, "expression took too many steps (limit " + std::to_string(limits_.max_steps) + ")");
  }
  return Status::Ok();
}

Status Evaluator::CheckString(const Node& n, std::size_t bytes) const {
  if (bytes > limits_.max_string_bytes) {
    return Error(n, "string too long (" + std::to_string(bytes) + " bytes, limit " +
                        std::to_string(limits_.max_string_bytes) + ")");
  }
  return Status::Ok();
}

Status Evaluator::CheckItems(const Node& n, std::size_t items) const {
  if (items > limits_.max_items) {
    return Error(n, "collection too large (" + std::to_string(items) + " items, limit " +
                        std::to_string(limits_.max_items) + ")");
  }
  return Status::Ok();
}

Status Evaluator::Copy(const Node& n, const Json& src, Json* dst) const {
  if (!py::DepthAtMost(src, py::kMaxDepth)) return Error(n, "value nested too deeply");
  *dst = src;
  return Status::Ok();
}

Status Evaluator::EvalLambda(const Node& n, const Val& element, Val* out) {
  roots_.push_back(element);
  Status s = Eval(n, out);
  roots_.pop_back();
  return s;
}

Status Evaluator::Eval(const Node& n, Val* out) {
  GALE_TRY(Step(n));
  switch (n.kind) {
    case NodeKind::kLiteral:
      *out = Val::Ref(n.literal);
      return Status::Ok();
    case NodeKind::kRoot:
      *out = roots_.back();
      out->query = false;
      return Status::Ok();
    case NodeKind::kAttr:
      return EvalAttr(n, out);
    case NodeKind::kIndex:
      return EvalIndex(n, out);
    case NodeKind::kCall:
      return EvalCall(n, out);
    case NodeKind::kHostCall:
      return EvalHostCall(n, out);
    case NodeKind::kNeg:
    case NodeKind::kPos:
      return EvalUnary(n, out);
    case NodeKind::kNot: {
      Val v;
      GALE_TRY(Eval(*n.args[0], &v));
      *out = Val::Of(!py::Truthy(v.json()));
      return Status::Ok();
    }
    case NodeKind::kAnd:
    case NodeKind::kOr: {
      // Python's `and`/`or`: the deciding operand, the right one evaluated only when needed.
      GALE_TRY(Eval(*n.args[0], out));
      const bool t = py::Truthy(out->json());
      if (n.kind == NodeKind::kAnd ? !t : t) return Status::Ok();
      return Eval(*n.args[1], out);
    }
    case NodeKind::kBinary:
      return EvalBinary(n, out);
    case NodeKind::kList:
      return EvalList(n, out);
    case NodeKind::kDict:
      return EvalDict(n, out);
  }
  return Error(n, "unsupported expression");
}

Status Evaluator::EvalAttr(const Node& n, Val* out) {
  Val subject;
  GALE_TRY(Eval(*n.args[0], &subject));
  const Json& j = subject.json();
  if (j.is_null() && n.null_safe) {
    *out = Val::Of(nullptr);
    return Status::Ok();
  }
  if (j.is_object()) {
    auto it = j.find(n.name);
    if (it == j.end()) return Error(n, "key '" + n.name + "' not found");
    *out = subject.Child(*it);
    return Status::Ok();
  }
  if (j.is_array()) {  // YAQL maps an attribute over a collection's elements
    GALE_TRY(Step(n, j.size()));
    Json result = Json::array();
    for (const Json& e : j) {
      if (!e.is_object()) {
        return Error(n, "cannot get attribute '" + n.name + "' of " + TypeName(e) +
                            " (an element of the list)");
      }
      auto it = e.find(n.name);
      if (it == e.end()) return Error(n, "key '" + n.name + "' not found in a list element");
      Json copy;
      GALE_TRY(Copy(n, *it, &copy));
      result.push_back(std::move(copy));
    }
    *out = Val::Of(std::move(result), true);
    return Status::Ok();
  }
  return Error(n, "cannot get attribute '" + n.name + "' of " + TypeName(j));
}

Status Evaluator::EvalIndex(const Node& n, Val* out) {
  Val subject, key;
  GALE_TRY(Eval(*n.args[0], &subject));
  GALE_TRY(Eval(*n.args[1], &key));
  const Json& j = subject.json();
  const Json& k = key.json();
  if (j.is_object()) {
    if (!k.is_string()) return Error(n, "dict keys are strings, not " + TypeName(k));
    auto it = j.find(k.get_ref<const std::string&>());
    if (it == j.end()) return Error(n, "key '" + k.get<std::string>() + "' not found");
    *out = subject.Child(*it);
    return Status::Ok();
  }
  if (j.is_array() || j.is_string()) {
    if (!k.is_number_integer()) {
      return Error(n, "list indices must be integers, not " + TypeName(k));
    }
    const std::size_t size =
        j.is_array() ? j.size() : py::CodePointCount(j.get_ref<const std::string&>());
    long long i = k.is_number_unsigned() && k.get<std::uint64_t>() > (1ULL << 62)
                      ? std::numeric_limits<long long>::max()
                      : k.get<long long>();
    if (i < 0) i += static_cast<long long>(size);
    if (i < 0 || i >= static_cast<long long>(size)) {
      return Error(n, "index " + k.dump() + " out of range (size " + std::to_string(size) + ")");
    }
    if (j.is_array()) {
      *out = subject.Child(j[static_cast<std::size_t>(i)]);
      return Status::Ok();
    }
    const std::string& s = j.get_ref<const std::string&>();
    std::size_t p = 0;
    for (long long c = 0; c < i; ++c) (void)py::DecodeUtf8(s, p);
    std::string ch;
    py::AppendUtf8(ch, py::DecodeUtf8(s, p));
    *out = Val::Of(std::move(ch));
    return Status::Ok();
  }
  return Error(n, "cannot index " + TypeName(j));
}

Status Evaluator::EvalCall(const Node& n, Val* out) {
  std::vector<Val> args(n.args.size());
  for (std::size_t k = 0; k < n.args.size(); ++k) {
    if (n.builtin->lambdas & (1u << k)) continue;
    GALE_TRY(Eval(*n.args[k], &args[k]));
  }
  return n.builtin->fn(*this, n, args, out);
}

Status Evaluator::EvalHostCall(const Node& n, Val* out) {
  if (!functions_) return Error(n, "function '" + n.name + "' is not available here");
  std::vector<std::optional<Json>> args(n.args.size());
  for (std::size_t k = 0; k < n.args.size(); ++k) {
    if (!n.args[k]) continue;
    Val v;
    GALE_TRY(Eval(*n.args[k], &v));
    Json copy;
    GALE_TRY(Copy(n, v.json(), &copy));
    args[k] = std::move(copy);
  }
  FunctionResult result;
  Status s = functions_->Call(n.name, args, &result);
  if (!s.ok()) return Error(n, n.name + "(): " + s.message());
  *out = result.ref ? Val::Ref(*result.ref) : Val::Of(std::move(result.value));
  return Status::Ok();
}

Status Evaluator::EvalUnary(const Node& n, Val* out) {
  Val v;
  GALE_TRY(Eval(*n.args[0], &v));
  Num x;
  if (!ToNum(v.json(), &x)) {
    return Error(n, std::string("bad operand type for unary ") +
                        (n.kind == NodeKind::kNeg ? "-" : "+") + ": " + TypeName(v.json()));
  }
  if (n.kind == NodeKind::kPos) {
    *out = v;
    return Status::Ok();
  }
  if (x.is_int) {
    if (x.i == std::numeric_limits<long long>::min()) return Error(n, "integer overflow");
    *out = Val::Of(-x.i);
  } else {
    *out = Val::Of(-x.d);
  }
  return Status::Ok();
}

Status Evaluator::EvalBinary(const Node& n, Val* out) {
  Val a, b;
  GALE_TRY(Eval(*n.args[0], &a));
  GALE_TRY(Eval(*n.args[1], &b));
  const Json& x = a.json();
  const Json& y = b.json();
  switch (n.op) {
    case BinOp::kEq:
    case BinOp::kNe: {
      const bool eq = py::Equals(x, y);
      *out = Val::Of(n.op == BinOp::kEq ? eq : !eq);
      return Status::Ok();
    }
    case BinOp::kLt:
    case BinOp::kLe:
    case BinOp::kGt:
    case BinOp::kGe: {
      // null and booleans are not ordered in YAQL; Python would order booleans as numbers.
      std::optional<bool> r;
      if (!x.is_boolean() && !y.is_boolean() && !x.is_null() && !y.is_null()) {
        if (n.op == BinOp::kLt) r = py::Less(x, y);
        if (n.op == BinOp::kGt) r = py::Less(y, x);
        if (n.op == BinOp::kLe) {
          r = py::Less(y, x);
          if (r) r = !*r;
        }
        if (n.op == BinOp::kGe) {
          r = py::Less(x, y);
          if (r) r = !*r;
        }
      }
      if (!r) {
        return Error(n, std::string("'") + OpText(n.op) + "' is not supported between " +
                            TypeName(x) + " and " + TypeName(y));
      }
      *out = Val::Of(*r);
      return Status::Ok();
    }
    case BinOp::kIn: {
      std::optional<bool> r;
      if (y.is_array() || y.is_object() || (y.is_string() && x.is_string())) {
        GALE_TRY(Step(n, y.is_string() ? 1 : y.size()));
        r = py::Contains(y, x);
      }
      if (!r) {
        return Error(n, "'in' needs a list, a dict or (for a string) a string on its right, not " +
                            TypeName(y));
      }
      *out = Val::Of(*r);
      return Status::Ok();
    }
    case BinOp::kAdd:
      return Plus(n, x, y, out);
    case BinOp::kMul:
      return Times(n, x, y, out);
    default:
      return Arith(n, x, y, out);
  }
}

Status Evaluator::Plus(const Node& n, const Json& x, const Json& y, Val* out) {
  if (x.is_string() && y.is_string()) {
    const auto& s = x.get_ref<const std::string&>();
    const auto& t = y.get_ref<const std::string&>();
    GALE_TRY(CheckString(n, s.size() + t.size()));
    *out = Val::Of(s + t);
    return Status::Ok();
  }
  if (x.is_array() && y.is_array()) {
    GALE_TRY(CheckItems(n, x.size() + y.size()));
    GALE_TRY(Step(n, x.size() + y.size()));
    Json r;
    GALE_TRY(Copy(n, x, &r));
    for (const Json& e : y) {
      Json c;
      GALE_TRY(Copy(n, e, &c));
      r.push_back(std::move(c));
    }
    *out = Val::Of(std::move(r));
    return Status::Ok();
  }
  if (x.is_object() && y.is_object()) {  // YAQL's dict + dict: the right one's keys win
    GALE_TRY(CheckItems(n, x.size() + y.size()));
    GALE_TRY(Step(n, x.size() + y.size()));
    Json r;
    GALE_TRY(Copy(n, x, &r));
    for (auto it = y.begin(); it != y.end(); ++it) {
      Json c;
      GALE_TRY(Copy(n, it.value(), &c));
      r[it.key()] = std::move(c);
    }
    *out = Val::Of(std::move(r));
    return Status::Ok();
  }
  return Arith(n, x, y, out);
}

Status Evaluator::Times(const Node& n, const Json& x, const Json& y, Val* out) {
  const Json* seq = nullptr;
  const Json* count = nullptr;
  if ((x.is_string() || x.is_array()) && y.is_number_integer()) {
    seq = &x;
    count = &y;
  } else if (x.is_number_integer() && (y.is_string() || y.is_array())) {
    seq = &y;
    count = &x;
  }
  if (!seq) return Arith(n, x, y, out);
  // A count parsed from JSON text (a parameter) is unsigned: only one past long long's range is
  // "too many".
  long long times =
      count->is_number_unsigned()
          ? static_cast<long long>(std::min<unsigned long long>(
                count->get<unsigned long long>(),
                static_cast<unsigned long long>(std::numeric_limits<long long>::max())))
          : count->get<long long>();
  const std::size_t unit =
      seq->is_string() ? seq->get_ref<const std::string&>().size() : seq->size();
  // Repeating nothing gives nothing, however many times ('' * 10**17 must not loop 10**17 times).
  if (times < 0 || unit == 0) times = 0;
  if (unit > 0 && static_cast<unsigned long long>(times) >
                      (seq->is_string() ? limits_.max_string_bytes : limits_.max_items) / unit) {
    return seq->is_string() ? CheckString(n, limits_.max_string_bytes + 1)
                            : CheckItems(n, limits_.max_items + 1);
  }
  if (seq->is_string()) {
    std::string r;
    for (long long k = 0; k < times; ++k) r += seq->get_ref<const std::string&>();
    *out = Val::Of(std::move(r));
    return Status::Ok();
  }
  GALE_TRY(Step(n, unit * static_cast<std::size_t>(times)));
  Json r = Json::array();
  for (long long k = 0; k < times; ++k) {
    for (const Json& e : *seq) {
      Json c;
      GALE_TRY(Copy(n, e, &c));
      r.push_back(std::move(c));
    }
  }
  *out = Val::Of(std::move(r));
  return Status::Ok();
}

Status Evaluator::Arith(const Node& n, const Json& x, const Json& y, Val* out) {
  Num a, b;
  if (!ToNum(x, &a) || !ToNum(y, &b)) {
    return Error(n, std::string("unsupported operand types for ") + OpText(n.op) + ": " +
                        TypeName(x) + " and " + TypeName(y));
  }
  if (a.is_int && b.is_int) {
    long long r = 0;
    switch (n.op) {
      case BinOp::kAdd:
        if (__builtin_add_overflow(a.i, b.i, &r)) return Error(n, "integer overflow");
        break;
      case BinOp::kSub:
        if (__builtin_sub_overflow(a.i, b.i, &r)) return Error(n, "integer overflow");
        break;
      case BinOp::kMul:
        if (__builtin_mul_overflow(a.i, b.i, &r)) return Error(n, "integer overflow");
        break;
      case BinOp::kDiv:  // YAQL divides integers with Python's //
      case BinOp::kMod:
        if (b.i == 0) return Error(n, "division by zero");
        if (b.i == -1) {
          if (n.op == BinOp::kMod) {
            r = 0;
          } else if (__builtin_sub_overflow(0LL, a.i, &r)) {
            return Error(n, "integer overflow");
          }
          break;
        }
        if (n.op == BinOp::kDiv) {
          r = a.i / b.i;
          if (a.i % b.i != 0 && ((a.i < 0) != (b.i < 0))) --r;
        } else {
          r = a.i % b.i;
          if (r != 0 && ((r < 0) != (b.i < 0))) r += b.i;
        }
        break;
      default:
        return Error(n, "unsupported operator");
    }
    *out = Val::Of(r);
    return Status::Ok();
  }
  const double p = a.AsDouble(), q = b.AsDouble();
  double r = 0;
  switch (n.op) {
    case BinOp::kAdd:
      r = p + q;
      break;
    case BinOp::kSub:
      r = p - q;
      break;
    case BinOp::kMul:
      r = p * q;
      break;
    case BinOp::kDiv:
      if (q == 0) return Error(n, "float division by zero");
      r = p / q;
      break;
    case BinOp::kMod:
      if (q == 0) return Error(n, "float modulo by zero");
      r = std::fmod(p, q);
      if (r != 0 && ((r < 0) != (q < 0))) r += q;
      break;
    default:
      return Error(n, "unsupported operator");
  }
  *out = Val::Of(r);
  return Status::Ok();
}

Status Evaluator::EvalList(const Node& n, Val* out) {
  GALE_TRY(CheckItems(n, n.args.size()));
  Json r = Json::array();
  for (const auto& item : n.args) {
    Val v;
    GALE_TRY(Eval(*item, &v));
    Json c;
    GALE_TRY(Copy(n, v.json(), &c));
    r.push_back(std::move(c));
  }
  *out = Val::Of(std::move(r));
  return Status::Ok();
}

Status Evaluator::EvalDict(const Node& n, Val* out) {
  Json r = Json::object();
  for (std::size_t k = 0; k + 1 < n.args.size(); k += 2) {
    Val key, value;
    GALE_TRY(Eval(*n.args[k], &key));
    if (!key.json().is_string()) {
      return Error(*n.args[k], "dict keys must be strings, not " + TypeName(key.json()));
    }
    GALE_TRY(Eval(*n.args[k + 1], &value));
    Json c;
    GALE_TRY(Copy(n, value.json(), &c));
    r[key.json().get<std::string>()] = std::move(c);
  }
  *out = Val::Of(std::move(r));
  return Status::Ok();
}

Status ToText(Evaluator& ev, const Node& n, const Json& v, std::string* out) {
  if (v.is_string()) {
    *out = v.get<std::string>();
  } else if (v.is_null()) {
    *out = "null";
  } else if (v.is_boolean()) {
    *out = v.get<bool>() ? "true" : "false";
  } else if (v.is_number()) {
    *out = py::Str(v);
  } else {
    if (!py::DepthAtMost(v, py::kMaxDepth)) return ev.Error(n, "value nested too deeply");
    *out = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  return ev.CheckString(n, out->size());
}

Result<Json> Expression::Evaluate(const Json& root, const ExprFunctions* functions,
                                  const Limits& limits) const {
  try {
    Evaluator ev(*program_, functions, limits);
    ev.PushRoot(Val::Ref(root));
    Val v;
    GALE_TRY(ev.Eval(*program_->root, &v));
    Json out;
    GALE_TRY(ev.Copy(*program_->root, v.json(), &out));
    return out;
  } catch (const std::exception& e) {
    return Status::Error(std::string("internal error while evaluating: ") + e.what());
  }
}

}  // namespace gale::expr::yaql

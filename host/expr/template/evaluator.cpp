#include "host/expr/template/evaluator.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "host/expr/py_value.h"

namespace gale::expr::tmpl {

namespace {

constexpr long long kMaxRange = 100000;  // Jinja's sandbox caps range() the same way

Status TypeError(const std::string& what) {
  return Status::Error(what);
}

// A Python number: int (bool included) or float.
struct Num {
  bool is_int = true;
  long long i = 0;
  double d = 0;
  double AsDouble() const { return is_int ? static_cast<double>(i) : d; }
};

bool ToNum(const Json& j, Num* n) {
  if (j.is_boolean()) {
    *n = {true, j.get<bool>() ? 1 : 0, 0};
  } else if (j.is_number_unsigned()) {
    auto u = j.get<std::uint64_t>();
    if (u <= static_cast<std::uint64_t>(std::numeric_limits<long long>::max())) {
      *n = {true, static_cast<long long>(u), 0};
    } else {
      *n = {false, 0, static_cast<double>(u)};
    }
  } else if (j.is_number_integer()) {
    *n = {true, j.get<long long>(), 0};
  } else if (j.is_number_float()) {
    *n = {false, 0, j.get<double>()};
  } else {
    return false;
  }
  return true;
}

Json FromNum(const Num& n) {
  return n.is_int ? Json(n.i) : Json(n.d);
}

Status Overflow() {
  return Status::Error("integer overflow (Gale integers are 64-bit)");
}

std::string OperandError(const char* op, const Json& a, const Json& b) {
  return std::string("unsupported operand type(s) for ") + op + ": '" + py::TypeName(a) +
         "' and '" + py::TypeName(b) + "'";
}

// Python slice bounds for a sequence of length n.
void SliceIndices(long long n, std::optional<long long> start, std::optional<long long> stop,
                  long long step, long long* s, long long* e) {
  auto clamp = [&](std::optional<long long> v, long long dflt, long long lo, long long hi) {
    if (!v) return dflt;
    long long x = *v;
    if (x < 0) x += n;
    return std::max(lo, std::min(x, hi));
  };
  if (step > 0) {
    *s = clamp(start, 0, 0, n);
    *e = clamp(stop, n, 0, n);
  } else {
    *s = clamp(start, n - 1, -1, n - 1);
    *e = clamp(stop, -1, -1, n - 1);
  }
}

std::vector<std::string> CodePoints(const std::string& s) {
  std::vector<std::string> cps;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t start = i;
    py::DecodeUtf8(s, i);
    cps.push_back(s.substr(start, i - start));
  }
  return cps;
}

bool StripChar(char32_t c, const std::optional<std::vector<char32_t>>& chars) {
  if (!chars) return py::IsSpace(c);
  return std::find(chars->begin(), chars->end(), c) != chars->end();
}

std::string PyStrip(const std::string& s, const std::optional<std::string>& chars, bool left,
                    bool right) {
  std::optional<std::vector<char32_t>> set;
  if (chars) {
    set.emplace();
    for (std::size_t i = 0; i < chars->size();) set->push_back(py::DecodeUtf8(*chars, i));
  }
  std::size_t b = 0, e = s.size();
  if (left) {
    while (b < e) {
      std::size_t i = b;
      if (!StripChar(py::DecodeUtf8(s, i), set)) break;
      b = i;
    }
  }
  if (right) {
    while (e > b) {
      std::size_t start = e - 1;
      while (start > b && (static_cast<unsigned char>(s[start]) & 0xc0) == 0x80) --start;
      std::size_t i = start;
      if (!StripChar(py::DecodeUtf8(s, i), set)) break;
      e = start;
    }
  }
  return s.substr(b, e - b);
}

}  // namespace

// ---- helpers ----

std::string Evaluator::Source(const Expr& e) const {
  if (e.end <= e.begin || e.end > prog_.source.size()) return "expression";
  std::string s = prog_.source.substr(e.begin, e.end - e.begin);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\t')) s.pop_back();
  return s;
}

std::string Evaluator::UndefinedMessage(const Value& v) const {
  if (v.kind == Value::Kind::kAbsent) return "missing value";
  return "'" + v.text + "' is undefined";
}

Status Evaluator::TooBig() const {
  return Status::Error("output exceeds " + std::to_string(ctx_.limits.max_output_bytes) + " bytes");
}

Status Evaluator::Copy(const Json& src, Json* dst) const {
  if (!py::DepthAtMost(src, py::kMaxDepth)) {
    return Status::Error("value nested too deeply (more than " + std::to_string(py::kMaxDepth) +
                         " levels)");
  }
  *dst = src;
  return Status::Ok();
}

Status Evaluator::CheckSize(std::size_t bytes) const {
  return bytes > ctx_.limits.max_output_bytes ? TooBig() : Status::Ok();
}

Status Evaluator::Step() {
  if (++steps_ > ctx_.limits.max_steps) {
    return Status::Error("template exceeded its budget of " +
                         std::to_string(ctx_.limits.max_steps) + " evaluation steps");
  }
  return Status::Ok();
}

Status Evaluator::Need(Value& v) {
  switch (v.kind) {
    case Value::Kind::kJson:
      return Status::Ok();
    case Value::Kind::kUndefined:
      if (v.lenient) {  // Jinja's plain Undefined: behaves as an empty string
        v = Value::Of("");
        return Status::Ok();
      }
      return Status::Error(UndefinedMessage(v));
    case Value::Kind::kAbsent:
      return Status::Error(UndefinedMessage(v));
    case Value::Kind::kKvRoot:
      return Status::Error("'st2kv' is the datastore, not a value: use st2kv.system.<name>");
    case Value::Kind::kKvScope:
      return Status::Error("a datastore scope is not a value: use st2kv." +
                           std::string(v.scope == KvScope::kSystem ? "system" : "user") +
                           ".<name>");
    case Value::Kind::kKvKey: {
      auto key = std::make_pair(v.scope, v.text);
      auto it = kv_cache_.find(key);
      if (it == kv_cache_.end()) {
        std::optional<std::string> found;
        if (ctx_.kv) found = ctx_.kv(v.scope, v.text);
        it = kv_cache_.emplace(key, found.value_or("")).first;
      }
      v = Value::Of(it->second);
      return Status::Ok();
    }
  }
  return Status::Ok();
}

Status Evaluator::JsonOf(Value& v, const Json** out) {
  GALE_TRY(Need(v));
  *out = &v.json();
  return Status::Ok();
}

Status Evaluator::StrOf(Value& v, std::string* out) {
  const Json* j = nullptr;
  GALE_TRY(JsonOf(v, &j));
  out->clear();
  if (j->is_string()) {
    *out = j->get_ref<const std::string&>();
    return Status::Ok();
  }
  if (!py::AppendStr(*out, *j, ctx_.limits.max_output_bytes)) return TooBig();
  return Status::Ok();
}

Status Evaluator::Truthy(Value& v, bool* out) {
  const Json* j = nullptr;
  GALE_TRY(JsonOf(v, &j));
  *out = py::Truthy(*j);
  return Status::Ok();
}

Status Evaluator::GetRegex(const std::string& pattern, bool icase, const Regex** out) {
  auto key = std::make_pair(pattern, icase);
  auto it = regexes_.find(key);
  if (it == regexes_.end()) {
    RegexOptions options;
    options.ignore_case = icase;
    auto r = Regex::Compile(pattern, options);
    if (!r.ok()) return Status::Error("invalid regular expression: " + r.message());
    it = regexes_.emplace(key, std::move(r).value()).first;
  }
  *out = &it->second;
  return Status::Ok();
}

// ---- rendering ----

Status Evaluator::Render(std::string* out) {
  out->clear();
  return RenderNodes(prog_.nodes, out);
}

Status Evaluator::EvaluateSingle(Json* out) {
  const Node& node = prog_.nodes[static_cast<std::size_t>(prog_.single_expression)];
  Value v;
  GALE_TRY(Eval(*node.expr, &v));
  GALE_TRY(Need(v));
  const Json& j = v.json();
  if (j.is_string() && j.get_ref<const std::string&>() == kNoneMagic) {
    *out = nullptr;
    return Status::Ok();
  }
  return Copy(j, out);
}

Status Evaluator::RenderNodes(const std::vector<Node>& nodes, std::string* out) {
  for (const Node& n : nodes) {
    Status s;
    switch (n.kind) {
      case NodeKind::kText:
        out->append(n.text);
        break;
      case NodeKind::kOutput: {
        Value v;
        GALE_TRY(Eval(*n.expr, &v));
        const Json* j = nullptr;
        GALE_TRY(JsonOf(v, &j));
        if (j->is_string()) {
          out->append(j->get_ref<const std::string&>());
        } else if (v.tuple && j->is_array()) {  // Python prints tuples in parentheses
          out->push_back('(');
          for (std::size_t k = 0; k < j->size(); ++k) {
            if (k > 0) out->append(", ");
            if (!py::AppendRepr(*out, (*j)[k], ctx_.limits.max_output_bytes)) return TooBig();
          }
          out->append(j->size() == 1 ? ",)" : ")");
        } else if (!py::AppendStr(*out, *j, ctx_.limits.max_output_bytes)) {
          return TooBig();
        }
        break;
      }
      case NodeKind::kIf: {
        bool done = false;
        for (std::size_t k = 0; k < n.conditions.size(); ++k) {
          Value c;
          GALE_TRY(Eval(*n.conditions[k], &c));
          bool truth = false;
          GALE_TRY(Truthy(c, &truth));
          if (truth) {
            s = RenderNodes(n.branches[k], out);
            done = true;
            break;
          }
        }
        if (!done) s = RenderNodes(n.else_body, out);
        if (!s.ok()) return s;
        break;
      }
      case NodeKind::kFor:
        GALE_TRY(RenderFor(n, out));
        break;
      case NodeKind::kSet: {
        Value v;
        GALE_TRY(Eval(*n.expr, &v));
        GALE_TRY(Need(v));
        locals_.emplace_back(n.targets[0], std::move(v));
        break;
      }
    }
    if (out->size() > ctx_.limits.max_output_bytes) return TooBig();
  }
  return Status::Ok();
}

Status Evaluator::RenderFor(const Node& n, std::string* out) {
  Value iterable;
  Status s = Eval(*n.expr, &iterable);
  if (!s.ok()) return s;
  const Json* j = nullptr;
  GALE_TRY(JsonOf(iterable, &j));
  // Items are borrowed from the iterable when it outlives the loop, else copied.
  std::vector<Value> items;
  if (j->is_array()) {
    for (const Json& item : *j) {
      items.push_back(iterable.Child(item));
    }
  } else if (j->is_object()) {
    for (auto it = j->begin(); it != j->end(); ++it) items.push_back(Value::Of(it.key()));
  } else if (j->is_string()) {
    for (auto& cp : CodePoints(j->get_ref<const std::string&>())) {
      items.push_back(Value::Of(std::move(cp)));
    }
  } else {
    return TypeError(std::string("'") + py::TypeName(*j) + "' object is not iterable");
  }
  if (items.empty()) return RenderNodes(n.else_body, out);
  const std::size_t scope = locals_.size();
  const long long length = static_cast<long long>(items.size());
  for (long long k = 0; k < length; ++k) {
    GALE_TRY(Step());
    Value& item = items[static_cast<std::size_t>(k)];
    if (n.targets.size() == 1) {
      locals_.emplace_back(n.targets[0], item);
    } else {
      const Json& pair = item.json();
      if (!pair.is_array() || pair.size() != n.targets.size()) {
        return Status::Error("cannot unpack " + std::string(py::TypeName(pair)) + " into " +
                             std::to_string(n.targets.size()) + " loop variables");
      }
      for (std::size_t t = 0; t < n.targets.size(); ++t) {
        locals_.emplace_back(n.targets[t], item.Child(pair[t]));
      }
    }
    if (n.uses_loop) {
      Json loop = Json::object();
      loop["index"] = k + 1;
      loop["index0"] = k;
      loop["revindex"] = length - k;
      loop["revindex0"] = length - k - 1;
      loop["first"] = k == 0;
      loop["last"] = k + 1 == length;
      loop["length"] = length;
      locals_.emplace_back("loop", Value::Of(std::move(loop)));
    }
    s = RenderNodes(n.body, out);
    locals_.resize(scope);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

// ---- expressions ----

Status Evaluator::LookupName(const Expr& e, Value* out) {
  const std::string& name = e.name;
  for (auto it = locals_.rbegin(); it != locals_.rend(); ++it) {
    if (it->first == name) {
      *out = it->second;
      return Status::Ok();
    }
  }
  if (name == "trigger" && ctx_.trigger) {
    *out = Value::Ref(*ctx_.trigger);
    return Status::Ok();
  }
  if (name == "st2kv" || name == "kv") {
    out->kind = Value::Kind::kKvRoot;
    return Status::Ok();
  }
  if (ctx_.vars && ctx_.vars->is_object()) {
    auto it = ctx_.vars->find(name);
    if (it != ctx_.vars->end()) {
      *out = Value::Ref(*it);
      return Status::Ok();
    }
  }
  if (name == "system") {  // StackStorm's legacy `system.<key>` (st2kv.system)
    out->kind = Value::Kind::kKvScope;
    out->scope = KvScope::kSystem;
    return Status::Ok();
  }
  *out = Value::Undefined(name);
  return Status::Ok();
}

Status Evaluator::GetAttr(Value& subject, const std::string& name, const Expr& e, Value* out) {
  switch (subject.kind) {
    case Value::Kind::kUndefined:
    case Value::Kind::kAbsent:
      return Status::Error(UndefinedMessage(subject));
    case Value::Kind::kKvRoot:
      if (name == "system" || name == "user") {
        *out = Value();
        out->kind = Value::Kind::kKvScope;
        out->scope = name == "system" ? KvScope::kSystem : KvScope::kUser;
      } else {
        *out = Value::Undefined(Source(e));
      }
      return Status::Ok();
    case Value::Kind::kKvScope:
    case Value::Kind::kKvKey: {
      Value v;
      v.kind = Value::Kind::kKvKey;
      v.scope = subject.scope;
      v.text = subject.kind == Value::Kind::kKvKey ? subject.text + "." + name : name;
      *out = std::move(v);
      return Status::Ok();
    }
    case Value::Kind::kJson:
      break;
  }
  const Json& j = subject.json();
  if (j.is_object()) {
    auto it = j.find(name);
    if (it != j.end()) {
      *out = subject.Child(*it);
      return Status::Ok();
    }
  }
  *out = Value::Undefined(Source(e));
  return Status::Ok();
}

Status Evaluator::GetItem(Value& subject, Value& key, const Expr& e, Value* out) {
  const Json* k = nullptr;
  GALE_TRY(JsonOf(key, &k));
  if (subject.kind == Value::Kind::kKvRoot || subject.kind == Value::Kind::kKvScope ||
      subject.kind == Value::Kind::kKvKey) {
    std::string name;
    GALE_TRY(StrOf(key, &name));
    return GetAttr(subject, name, e, out);
  }
  if (!subject.defined()) return Status::Error(UndefinedMessage(subject));
  const Json& j = subject.json();
  if (j.is_object() && k->is_string()) {
    auto it = j.find(k->get_ref<const std::string&>());
    if (it != j.end()) {
      *out = subject.Child(*it);
      return Status::Ok();
    }
  } else if ((j.is_array() || j.is_string()) && (k->is_number_integer() || k->is_boolean())) {
    long long index = k->is_boolean() ? (k->get<bool>() ? 1 : 0) : k->get<long long>();
    if (j.is_array()) {
      long long n = static_cast<long long>(j.size());
      if (index < 0) index += n;
      if (index >= 0 && index < n) {
        const Json& item = j[static_cast<std::size_t>(index)];
        *out = subject.Child(item);
        return Status::Ok();
      }
    } else {
      auto cps = CodePoints(j.get_ref<const std::string&>());
      long long n = static_cast<long long>(cps.size());
      if (index < 0) index += n;
      if (index >= 0 && index < n) {
        *out = Value::Of(cps[static_cast<std::size_t>(index)]);
        return Status::Ok();
      }
    }
  }
  *out = Value::Undefined(Source(e));
  return Status::Ok();
}

Status Evaluator::Slice(const Expr& e, Value* out) {
  Value subject;
  GALE_TRY(Eval(*e.args[0], &subject));
  const Json* j = nullptr;
  GALE_TRY(JsonOf(subject, &j));
  std::optional<long long> bounds[3];
  for (int k = 0; k < 3; ++k) {
    const Expr* part = e.args[static_cast<std::size_t>(k + 1)].get();
    if (!part) continue;
    Value v;
    GALE_TRY(Eval(*part, &v));
    const Json* pj = nullptr;
    GALE_TRY(JsonOf(v, &pj));
    if (pj->is_null()) continue;
    if (!pj->is_number_integer() && !pj->is_boolean()) {
      return TypeError("slice indices must be integers or None");
    }
    bounds[k] = pj->is_boolean() ? (pj->get<bool>() ? 1 : 0) : pj->get<long long>();
  }
  long long step = bounds[2].value_or(1);
  if (step == 0) return Status::Error("slice step cannot be zero");
  std::vector<std::string> cps;
  long long n = 0;
  if (j->is_array()) {
    n = static_cast<long long>(j->size());
  } else if (j->is_string()) {
    cps = CodePoints(j->get_ref<const std::string&>());
    n = static_cast<long long>(cps.size());
  } else {
    return TypeError(std::string("'") + py::TypeName(*j) + "' object is not subscriptable");
  }
  if (!py::DepthAtMost(*j, py::kMaxDepth)) return Status::Error("value nested too deeply");
  long long b = 0, en = 0;
  SliceIndices(n, bounds[0], bounds[1], step, &b, &en);
  Json result = j->is_array() ? Json::array() : Json("");
  std::string text;
  for (long long i = b; step > 0 ? i < en : i > en; i += step) {
    if (j->is_array()) {
      result.push_back((*j)[static_cast<std::size_t>(i)]);
    } else {
      text += cps[static_cast<std::size_t>(i)];
    }
  }
  if (j->is_string()) result = std::move(text);
  *out = Value::Of(std::move(result));
  return Status::Ok();
}

Status Evaluator::HostCall(const Expr& e, Value* out) {
  if (!ctx_.functions) return Status::Error("function '" + e.name + "' is not available here");
  std::vector<std::optional<Json>> args(e.args.size() - 1);
  for (std::size_t k = 1; k < e.args.size(); ++k) {
    if (!e.args[k]) continue;
    Value v;
    GALE_TRY(Eval(*e.args[k], &v));
    const Json* j = nullptr;
    GALE_TRY(JsonOf(v, &j));
    Json copy;
    GALE_TRY(Copy(*j, &copy));
    args[k - 1] = std::move(copy);
  }
  FunctionResult result;
  Status s = ctx_.functions->Call(e.name, args, &result);
  if (!s.ok()) return Status::Error(e.name + "(): " + s.message());
  *out = result.ref ? Value::Ref(*result.ref) : Value::Of(std::move(result.value));
  return Status::Ok();
}

Status Evaluator::CallExpr(const Expr& e, Value* out) {
  if (e.host_function) return HostCall(e, out);
  const Expr& callee = *e.args[0];
  std::vector<Value> args;
  for (std::size_t k = 1; k < e.args.size(); ++k) {
    Value v;
    GALE_TRY(Eval(*e.args[k], &v));
    args.push_back(std::move(v));
  }
  if (callee.kind == ExprKind::kAttr) {
    Value receiver;
    GALE_TRY(Eval(*callee.args[0], &receiver));
    return Method(receiver, callee.name, args, out);
  }
  if (callee.kind == ExprKind::kName && callee.name == "range") {
    long long v[3] = {0, 0, 1};
    if (args.empty() || args.size() > 3) return TypeError("range expected 1 to 3 arguments");
    for (std::size_t k = 0; k < args.size(); ++k) {
      const Json* j = nullptr;
      GALE_TRY(JsonOf(args[k], &j));
      if (!j->is_number_integer()) return TypeError("range() arguments must be integers");
      v[args.size() == 1 ? 1 : k] = j->get<long long>();
    }
    if (v[2] == 0) return Status::Error("range() arg 3 must not be zero");
    Json list = Json::array();
    for (long long i = v[0]; v[2] > 0 ? i < v[1] : i > v[1]; i += v[2]) {
      if (static_cast<long long>(list.size()) >= kMaxRange) {
        return Status::Error("range too big (at most " + std::to_string(kMaxRange) + " items)");
      }
      list.push_back(i);
    }
    *out = Value::Of(std::move(list));
    return Status::Ok();
  }
  return TypeError("'" + Source(callee) + "' is not callable");
}

// ---- str and dict methods ----

namespace {

// A call `receiver.name(args)` on a str or a dict, its argument count already checked.
struct MethodCall {
  Evaluator& ev;
  Value& receiver;
  const Json& self;  // the receiver's value
  const std::string& name;
  std::vector<Value>& args;

  const std::string& str() const { return self.get_ref<const std::string&>(); }

  // args[k], which must be a str.
  Status StrArg(std::size_t k, std::string* v) const {
    const Json* a = nullptr;
    GALE_TRY(ev.JsonOf(args[k], &a));
    if (!a->is_string()) {
      return TypeError(name + "() argument must be str, not " + py::TypeName(*a));
    }
    *v = a->get_ref<const std::string&>();
    return Status::Ok();
  }
};

using MethodFn = Status (*)(MethodCall& call, Value* out);

enum class Receiver { kStr, kDict };

struct MethodSpec {
  Receiver receiver;
  std::string_view name;
  std::size_t min_args;
  std::size_t max_args;
  MethodFn fn;
};

Status StrLower(MethodCall& c, Value* out) {
  *out = Value::Of(py::Lower(c.str()));
  return Status::Ok();
}

Status StrUpper(MethodCall& c, Value* out) {
  *out = Value::Of(py::Upper(c.str()));
  return Status::Ok();
}

Status StrCapitalize(MethodCall& c, Value* out) {
  *out = Value::Of(py::Capitalize(c.str()));
  return Status::Ok();
}

// strip, lstrip and rstrip: the optional argument lists the characters to strip (None or none
// given: whitespace).
Status StrStrip(MethodCall& c, Value* out) {
  std::optional<std::string> chars;
  if (!c.args.empty() && !(c.args[0].defined() && c.args[0].json().is_null())) {
    std::string given;
    GALE_TRY(c.StrArg(0, &given));
    chars = given;
  }
  *out = Value::Of(PyStrip(c.str(), chars, c.name != "rstrip", c.name != "lstrip"));
  return Status::Ok();
}

Status StrStartsWith(MethodCall& c, Value* out) {
  std::string a;
  GALE_TRY(c.StrArg(0, &a));
  const std::string& str = c.str();
  *out = Value::Of(str.compare(0, a.size(), a) == 0 && str.size() >= a.size());
  return Status::Ok();
}

Status StrEndsWith(MethodCall& c, Value* out) {
  std::string a;
  GALE_TRY(c.StrArg(0, &a));
  const std::string& str = c.str();
  *out = Value::Of(str.size() >= a.size() && str.compare(str.size() - a.size(), a.size(), a) == 0);
  return Status::Ok();
}

// str.replace(old, new[, count]) is the `replace` filter with a stricter count.
Status StrReplace(MethodCall& c, Value* out) {
  std::string from, to;
  GALE_TRY(c.StrArg(0, &from));
  GALE_TRY(c.StrArg(1, &to));
  long long count = -1;
  if (c.args.size() == 3) {
    const Json* n = nullptr;
    GALE_TRY(c.ev.JsonOf(c.args[2], &n));
    if (!n->is_number_integer()) return TypeError("replace() count must be an integer");
    count = n->get<long long>();
  }
  Value in = Value::Of(c.str());
  std::vector<Value> fargs;
  fargs.push_back(Value::Of(from));
  fargs.push_back(Value::Of(to));
  fargs.push_back(count >= 0 ? Value::Of(count) : Value::Absent());
  return FindFilter("replace")->fn(c.ev, in, fargs, out);
}

// str.split(sep): each occurrence of `sep` cuts, at most `maxsplit` times (negative: no limit).
Json SplitOn(const std::string& str, const std::string& sep, long long maxsplit) {
  Json parts = Json::array();
  std::size_t pos = 0;
  while (maxsplit < 0 || static_cast<long long>(parts.size()) < maxsplit) {
    std::size_t at = str.find(sep, pos);
    if (at == std::string::npos) break;
    parts.push_back(str.substr(pos, at - pos));
    pos = at + sep.size();
  }
  parts.push_back(str.substr(pos));
  return parts;
}

// str.split() and split(None): runs of whitespace cut and none are kept; after `maxsplit` cuts
// the rest, right-stripped, is the last part.
Json SplitOnWhitespace(const std::string& str, long long maxsplit) {
  Json parts = Json::array();
  std::size_t i = 0;
  while (i < str.size()) {
    std::size_t k = i;
    if (py::IsSpace(py::DecodeUtf8(str, k))) {
      i = k;
      continue;
    }
    if (maxsplit >= 0 && static_cast<long long>(parts.size()) >= maxsplit) {
      parts.push_back(PyStrip(str.substr(i), std::nullopt, false, true));
      break;
    }
    std::size_t start = i;
    while (i < str.size()) {
      std::size_t m = i;
      if (py::IsSpace(py::DecodeUtf8(str, m))) break;
      i = m;
    }
    parts.push_back(str.substr(start, i - start));
  }
  return parts;
}

Status StrSplit(MethodCall& c, Value* out) {
  std::optional<std::string> sep;
  long long maxsplit = -1;
  if (!c.args.empty()) {
    const Json* a = nullptr;
    GALE_TRY(c.ev.JsonOf(c.args[0], &a));
    if (!a->is_null()) {
      if (!a->is_string())
        return TypeError("must be str or None, not " + std::string(py::TypeName(*a)));
      sep = a->get<std::string>();
      if (sep->empty()) return Status::Error("empty separator");
    }
  }
  if (c.args.size() == 2) {
    const Json* m = nullptr;
    GALE_TRY(c.ev.JsonOf(c.args[1], &m));
    if (!m->is_number_integer()) return TypeError("maxsplit must be an integer");
    maxsplit = m->get<long long>();
  }
  *out = Value::Of(sep ? SplitOn(c.str(), *sep, maxsplit) : SplitOnWhitespace(c.str(), maxsplit));
  return Status::Ok();
}

// sep.join(items) is the `join` filter the other way round.
Status StrJoin(MethodCall& c, Value* out) {
  std::vector<Value> fargs;
  fargs.push_back(Value::Of(c.str()));
  fargs.push_back(Value::Absent());
  return FindFilter("join")->fn(c.ev, c.args[0], fargs, out);
}

// The index is in code points, as Python's.
Status StrFind(MethodCall& c, Value* out) {
  std::string a;
  GALE_TRY(c.StrArg(0, &a));
  const std::string& str = c.str();
  std::size_t at = str.find(a);
  *out = Value::Of(at == std::string::npos
                       ? -1LL
                       : static_cast<long long>(py::CodePointCount(str.substr(0, at))));
  return Status::Ok();
}

Status DictGet(MethodCall& c, Value* out) {
  const Json* k = nullptr;
  GALE_TRY(c.ev.JsonOf(c.args[0], &k));
  if (k->is_string()) {
    auto it = c.self.find(k->get_ref<const std::string&>());
    if (it != c.self.end()) {
      *out = c.receiver.Child(*it);
      return Status::Ok();
    }
  }
  if (c.args.size() == 2) {
    *out = std::move(c.args[1]);
  } else {
    *out = Value::Of(nullptr);
  }
  return Status::Ok();
}

// keys(), values() and items() return lists (Python's views print differently).
Status DictView(MethodCall& c, Value* out) {
  if (!py::DepthAtMost(c.self, py::kMaxDepth)) return Status::Error("value nested too deeply");
  Json list = Json::array();
  for (auto it = c.self.begin(); it != c.self.end(); ++it) {
    if (c.name == "keys") {
      list.push_back(it.key());
    } else if (c.name == "values") {
      list.push_back(it.value());
    } else {
      list.push_back(Json::array({it.key(), it.value()}));
    }
  }
  *out = Value::Of(std::move(list));
  return Status::Ok();
}

const std::vector<MethodSpec>& Methods() {
  static const std::vector<MethodSpec> kMethods = {
      {Receiver::kStr, "lower", 0, 0, StrLower},
      {Receiver::kStr, "upper", 0, 0, StrUpper},
      {Receiver::kStr, "capitalize", 0, 0, StrCapitalize},
      {Receiver::kStr, "strip", 0, 1, StrStrip},
      {Receiver::kStr, "lstrip", 0, 1, StrStrip},
      {Receiver::kStr, "rstrip", 0, 1, StrStrip},
      {Receiver::kStr, "startswith", 1, 1, StrStartsWith},
      {Receiver::kStr, "endswith", 1, 1, StrEndsWith},
      {Receiver::kStr, "replace", 2, 3, StrReplace},
      {Receiver::kStr, "split", 0, 2, StrSplit},
      {Receiver::kStr, "join", 1, 1, StrJoin},
      {Receiver::kStr, "find", 1, 1, StrFind},
      {Receiver::kDict, "get", 1, 2, DictGet},
      {Receiver::kDict, "keys", 0, 0, DictView},
      {Receiver::kDict, "values", 0, 0, DictView},
      {Receiver::kDict, "items", 0, 0, DictView},
  };
  return kMethods;
}

const MethodSpec* FindMethod(const Json& receiver, std::string_view name) {
  Receiver kind;
  if (receiver.is_string()) {
    kind = Receiver::kStr;
  } else if (receiver.is_object()) {
    kind = Receiver::kDict;
  } else {
    return nullptr;  // other types have no methods
  }
  for (const auto& m : Methods()) {
    if (m.receiver == kind && m.name == name) return &m;
  }
  return nullptr;
}

}  // namespace

Status Evaluator::Method(Value& receiver, const std::string& name, std::vector<Value>& args,
                         Value* out) {
  const Json* j = nullptr;
  GALE_TRY(JsonOf(receiver, &j));
  const MethodSpec* method = FindMethod(*j, name);
  if (!method) {
    return TypeError(std::string("'") + py::TypeName(*j) + "' object has no attribute '" + name +
                     "'");
  }
  const std::size_t lo = method->min_args, hi = method->max_args;
  if (args.size() < lo || args.size() > hi) {
    return TypeError(name + "() takes " + std::to_string(lo) +
                     (hi != lo ? " to " + std::to_string(hi) : "") + " arguments (" +
                     std::to_string(args.size()) + " given)");
  }
  MethodCall call{*this, receiver, *j, name, args};
  return method->fn(call, out);
}

Status Evaluator::Compare(CmpOp op, Value& a, Value& b, bool* out) {
  const Json* x = nullptr;
  const Json* y = nullptr;
  Status s = JsonOf(a, &x);
  if (s.ok()) s = JsonOf(b, &y);
  if (!s.ok()) return s;
  auto order = [&](const Json& l, const Json& r, const char* sym) -> Result<bool> {
    auto lt = py::Less(l, r);
    if (!lt) {
      return Status::Error(std::string("'") + sym + "' not supported between instances of '" +
                           py::TypeName(*x) + "' and '" + py::TypeName(*y) + "'");
    }
    return *lt;
  };
  switch (op) {
    case CmpOp::kEq:
      *out = py::Equals(*x, *y);
      return Status::Ok();
    case CmpOp::kNe:
      *out = !py::Equals(*x, *y);
      return Status::Ok();
    case CmpOp::kLt:
    case CmpOp::kGt:
    case CmpOp::kLe:
    case CmpOp::kGe: {
      static const char* kSym[] = {"", "", "<", "<=", ">", ">="};
      const char* sym = kSym[static_cast<int>(op)];
      bool swap = op == CmpOp::kGt || op == CmpOp::kLe;
      GALE_ASSIGN_OR_RETURN(auto r, swap ? order(*y, *x, sym) : order(*x, *y, sym));
      // a <= b is not (b < a); a >= b is not (a < b) (NaN aside, as Python for these types).
      *out = (op == CmpOp::kLe || op == CmpOp::kGe) ? !r : r;
      return Status::Ok();
    }
    case CmpOp::kIn:
    case CmpOp::kNotIn: {
      auto r = py::Contains(*y, *x);
      if (!r) {
        if (y->is_string()) {
          return TypeError(std::string("'in <string>' requires string as left operand, not ") +
                           py::TypeName(*x));
        }
        if (y->is_object())
          return TypeError(std::string("unhashable type: '") + py::TypeName(*x) + "'");
        return TypeError(std::string("argument of type '") + py::TypeName(*y) +
                         "' is not iterable");
      }
      *out = op == CmpOp::kIn ? *r : !*r;
      return Status::Ok();
    }
  }
  return Status::Ok();
}

namespace {

// + - * on numbers: int if both are (overflow is an error, as Gale's ints are 64-bit), else float.
Status AddSubMul(BinOp op, const Num& p, const Num& q, Num* r) {
  if (p.is_int && q.is_int) {
    long long v = 0;
    bool of = op == BinOp::kAdd   ? __builtin_add_overflow(p.i, q.i, &v)
              : op == BinOp::kSub ? __builtin_sub_overflow(p.i, q.i, &v)
                                  : __builtin_mul_overflow(p.i, q.i, &v);
    if (of) return Overflow();
    *r = {true, v, 0};
  } else {
    double u = p.AsDouble(), w = q.AsDouble();
    *r = {false, 0, op == BinOp::kAdd ? u + w : op == BinOp::kSub ? u - w : u * w};
  }
  return Status::Ok();
}

// // and %: Python's floor division, so the remainder takes the divisor's sign.
Status FloorDivMod(BinOp op, const Num& p, const Num& q, Num* r) {
  if (q.AsDouble() == 0) {
    return Status::Error(p.is_int && q.is_int ? "integer division or modulo by zero"
                                              : "float modulo");
  }
  if (p.is_int && q.is_int) {
    if (p.i == std::numeric_limits<long long>::min() && q.i == -1) {
      if (op == BinOp::kFloorDiv) return Overflow();
      *r = {true, 0, 0};
      return Status::Ok();
    }
    long long quo = p.i / q.i, rem = p.i % q.i;
    if (rem != 0 && ((rem < 0) != (q.i < 0))) {
      --quo;
      rem += q.i;
    }
    *r = {true, op == BinOp::kFloorDiv ? quo : rem, 0};
  } else {
    double u = p.AsDouble(), w = q.AsDouble();
    double rem = std::fmod(u, w);
    if (rem != 0 && ((rem < 0) != (w < 0))) rem += w;
    *r = {false, 0, op == BinOp::kFloorDiv ? std::floor(u / w) : rem};
  }
  return Status::Ok();
}

// **: exact for an int to a non-negative int power (by squaring, checking overflow), else float.
Status Power(const Num& p, const Num& q, Num* r) {
  if (p.is_int && q.is_int && q.i >= 0) {
    long long base = p.i, result = 1, e = q.i;
    while (e > 0) {
      if (e & 1) {
        if (__builtin_mul_overflow(result, base, &result)) return Overflow();
      }
      e >>= 1;
      if (e > 0 && __builtin_mul_overflow(base, base, &base)) return Overflow();
    }
    *r = {true, result, 0};
  } else {
    double u = p.AsDouble(), w = q.AsDouble();
    if (u == 0 && w < 0) return Status::Error("0.0 cannot be raised to a negative power");
    if (u < 0 && w != std::floor(w)) {
      return Status::Error("a negative number raised to a fractional power is complex");
    }
    *r = {false, 0, std::pow(u, w)};
  }
  return Status::Ok();
}

Status Arithmetic(BinOp op, const Num& p, const Num& q, Num* r) {
  switch (op) {
    case BinOp::kAdd:
    case BinOp::kSub:
    case BinOp::kMul:
      return AddSubMul(op, p, q, r);
    case BinOp::kDiv:
      if (q.AsDouble() == 0) return Status::Error("division by zero");
      *r = {false, 0, p.AsDouble() / q.AsDouble()};
      return Status::Ok();
    case BinOp::kFloorDiv:
    case BinOp::kMod:
      return FloorDivMod(op, p, q, r);
    case BinOp::kPow:
      return Power(p, q, r);
    case BinOp::kConcat:
      break;  // not arithmetic: Binary handles it first
  }
  return Status::Ok();
}

}  // namespace

Status Evaluator::Binary(BinOp op, Value& a, Value& b, Value* out) {
  if (op == BinOp::kConcat) return Concat(a, b, out);
  const Json* x = nullptr;
  const Json* y = nullptr;
  Status s = JsonOf(a, &x);
  if (s.ok()) s = JsonOf(b, &y);
  if (!s.ok()) return s;
  Num p, q;
  bool numeric = ToNum(*x, &p) && ToNum(*y, &q);
  if (!numeric) return NonNumeric(op, *x, *y, b, out);
  Num r;
  GALE_TRY(Arithmetic(op, p, q, &r));
  *out = Value::Of(FromNum(r));
  return Status::Ok();
}

// `~` joins the operands' str(), whatever their types.
Status Evaluator::Concat(Value& a, Value& b, Value* out) {
  std::string l, r;
  Status s = StrOf(a, &l);
  if (s.ok()) s = StrOf(b, &r);
  if (!s.ok()) return s;
  GALE_TRY(CheckSize(l.size() + r.size()));
  *out = Value::Of(l + r);
  return Status::Ok();
}

// An operator with a non-number operand: str and list concatenation, repetition, `str % args`;
// anything else is Python's TypeError. `b` is y's Value, for a tuple of format arguments.
Status Evaluator::NonNumeric(BinOp op, const Json& x, const Json& y, Value& b, Value* out) {
  if (op == BinOp::kAdd && x.is_string() && y.is_string()) {
    GALE_TRY(
        CheckSize(x.get_ref<const std::string&>().size() + y.get_ref<const std::string&>().size()));
    *out = Value::Of(x.get<std::string>() + y.get<std::string>());
    return Status::Ok();
  }
  if (op == BinOp::kAdd && x.is_array() && y.is_array()) {
    Json r;
    GALE_TRY(Copy(x, &r));
    Json tail;
    GALE_TRY(Copy(y, &tail));
    for (auto& item : tail) r.push_back(std::move(item));
    *out = Value::Of(std::move(r));
    return Status::Ok();
  }
  if (op == BinOp::kMul) {
    const Json* seq = (x.is_string() || x.is_array()) ? &x : &y;
    const Json* times = seq == &x ? &y : &x;
    Num t;
    if ((seq->is_string() || seq->is_array()) && ToNum(*times, &t) && t.is_int) {
      return Repeat(*seq, t.i, out);
    }
  }
  if (op == BinOp::kMod && x.is_string()) return Format(x.get<std::string>(), b, out);
  static const char* kSym[] = {"+", "-", "*", "/", "//", "%", "** or pow()", "~"};
  return TypeError(OperandError(kSym[static_cast<int>(op)], x, y));
}

// `seq * times` for a str or a list, refused before building anything too big.
Status Evaluator::Repeat(const Json& seq, long long times, Value* out) {
  long long count = std::max(0LL, times);
  std::size_t unit = seq.is_string() ? seq.get_ref<const std::string&>().size() : seq.dump().size();
  if (count > 0 && unit > 0 &&
      (static_cast<unsigned long long>(count) > ctx_.limits.max_output_bytes ||
       unit * static_cast<std::size_t>(count) > ctx_.limits.max_output_bytes)) {
    return TooBig();
  }
  if (!py::DepthAtMost(seq, py::kMaxDepth)) return Status::Error("value nested too deeply");
  if (seq.is_string()) {
    const std::size_t total = unit * static_cast<std::size_t>(count);
    std::string r = count > 0 ? seq.get<std::string>() : std::string();
    r.reserve(total);
    while (r.size() > 0 && r.size() * 2 <= total) r += r;  // doubling
    if (r.size() < total) r.append(r, 0, total - r.size());
    *out = Value::Of(std::move(r));
    return Status::Ok();
  }
  if (seq.empty()) count = 0;
  if (count > 0 && seq.size() * static_cast<std::size_t>(count) > kMaxRange) {
    return Status::Error("list repetition too large");
  }
  Json r = Json::array();
  for (long long k = 0; k < count; ++k) {
    for (const auto& item : seq) r.push_back(item);
  }
  *out = Value::Of(std::move(r));
  return Status::Ok();
}

namespace {

// `%(key)` at fmt[*i] == '(': the mapping's value under key; leaves *i just after the ')'.
Status MappingKey(const std::string& fmt, const Json* mapping, std::size_t* i, const Json** v) {
  std::size_t close = fmt.find(')', *i);
  if (close == std::string::npos) return Status::Error("incomplete format key");
  if (!mapping) return TypeError("format requires a mapping");
  std::string key = fmt.substr(*i + 1, close - *i - 1);
  auto it = mapping->find(key);
  if (it == mapping->end()) return Status::Error("KeyError: '" + key + "'");
  *v = &*it;
  *i = close + 1;
  return Status::Ok();
}

// Appends a conversion's flags, width and precision from fmt[*i] on to `spec`, skipping a length
// modifier (Python ignores it); leaves *i on the conversion character.
Status ReadSpec(const std::string& fmt, std::size_t* i, std::string* spec) {
  std::size_t& k = *i;
  while (k < fmt.size() && std::string_view("-+ #0").find(fmt[k]) != std::string_view::npos) {
    spec->push_back(fmt[k++]);
  }
  while (k < fmt.size() && fmt[k] >= '0' && fmt[k] <= '9') spec->push_back(fmt[k++]);
  if (k < fmt.size() && fmt[k] == '.') {
    spec->push_back(fmt[k++]);
    while (k < fmt.size() && fmt[k] >= '0' && fmt[k] <= '9') spec->push_back(fmt[k++]);
  }
  while (k < fmt.size() && (fmt[k] == 'h' || fmt[k] == 'l' || fmt[k] == 'L')) ++k;
  if (k >= fmt.size()) return Status::Error("incomplete format");
  return Status::Ok();
}

// %s, %r and %a: str() or repr() of the value. Width and precision count code points, which
// printf would count in bytes.
Status FormatText(const Evaluator& ev, char conv, const std::string& spec, const Json& v,
                  std::string* r) {
  const std::size_t limit = ev.ctx().limits.max_output_bytes;
  std::string text;
  if (conv == 's' && v.is_string()) {
    text = v.get<std::string>();
  } else if (!(conv == 's' ? py::AppendStr(text, v, limit) : py::AppendRepr(text, v, limit))) {
    return ev.TooBig();
  }
  std::size_t dot = spec.find('.');
  if (dot != std::string::npos) {
    std::size_t prec = static_cast<std::size_t>(std::atoi(spec.c_str() + dot + 1));
    auto cps = CodePoints(text);
    if (cps.size() > prec) {
      text.clear();
      for (std::size_t k = 0; k < prec; ++k) text += cps[k];
    }
  }
  std::size_t wpos = spec.find_first_not_of("%-+ #0");
  std::size_t width = (wpos != std::string::npos && spec[wpos] != '.')
                          ? static_cast<std::size_t>(std::atoi(spec.c_str() + wpos))
                          : 0;
  std::size_t len = py::CodePointCount(text);
  if (width > limit) return ev.TooBig();
  if (len < width) {
    if (spec.find('-') != std::string::npos) {
      text.append(width - len, ' ');
    } else {
      text.insert(0, width - len, ' ');
    }
  }
  *r += text;
  return Status::Ok();
}

// %d %i %u %x %X %o through printf (a float is truncated, as Python does), %c as a code point.
Status FormatInt(char conv, const std::string& spec, const Json& v, std::string* r) {
  Num n;
  if (!ToNum(v, &n)) {
    return TypeError(std::string("%") + conv + " format: a number is required, not " +
                     py::TypeName(v));
  }
  long long iv = n.is_int ? n.i : static_cast<long long>(n.d);
  if (!n.is_int && (std::isnan(n.d) || std::isinf(n.d))) {
    return Status::Error("cannot convert float to integer");
  }
  if (conv == 'c') {
    if (iv < 0 || iv > 0x10ffff) return Status::Error("%c arg not in range(0x110000)");
    py::AppendUtf8(*r, static_cast<char32_t>(iv));
    return Status::Ok();
  }
  char buf[512];
  std::string f = spec + "ll" + (conv == 'i' || conv == 'u' ? 'd' : conv);
  std::snprintf(buf, sizeof(buf), f.c_str(), iv);
  *r += buf;
  return Status::Ok();
}

// %f %F %e %E %g %G through printf.
Status FormatFloat(char conv, const std::string& spec, const Json& v, std::string* r) {
  Num n;
  if (!ToNum(v, &n)) {
    return TypeError(std::string("must be real number, not ") + py::TypeName(v));
  }
  char buf[512];
  std::snprintf(buf, sizeof(buf), (spec + conv).c_str(), n.AsDouble());
  *r += buf;
  return Status::Ok();
}

// Appends one converted value to `r`.
Status Convert(const Evaluator& ev, char conv, const std::string& spec, const Json& v,
               std::string* r) {
  switch (conv) {
    case 's':
    case 'r':
    case 'a':
      return FormatText(ev, conv, spec, v, r);
    case 'd':
    case 'i':
    case 'u':
    case 'x':
    case 'X':
    case 'o':
    case 'c':
      return FormatInt(conv, spec, v, r);
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G':
      return FormatFloat(conv, spec, v, r);
    default:
      return Status::Error(std::string("unsupported format character '") + conv + "'");
  }
}

}  // namespace

// Python's printf-style `str % args`.
Status Evaluator::Format(const std::string& fmt, Value& arg, Value* out) {
  const Json* a = nullptr;
  GALE_TRY(JsonOf(arg, &a));
  // A tuple supplies one value per conversion; a dict serves %(key) conversions; anything else
  // is the single value.
  std::vector<const Json*> items;
  const Json* mapping = nullptr;
  if (arg.tuple && a->is_array()) {
    for (const auto& item : *a) items.push_back(&item);
  } else if (a->is_object() && fmt.find("%(") != std::string::npos) {
    mapping = a;
  } else {
    items.push_back(a);
  }
  std::size_t next = 0;
  std::string r;
  for (std::size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      r.push_back(fmt[i]);
      continue;
    }
    if (++i >= fmt.size()) return Status::Error("incomplete format");
    const Json* v = nullptr;
    if (fmt[i] == '(') GALE_TRY(MappingKey(fmt, mapping, &i, &v));
    std::string spec = "%";
    GALE_TRY(ReadSpec(fmt, &i, &spec));
    char conv = fmt[i];
    if (conv == '%') {
      r.push_back('%');
      continue;
    }
    if (!v) {
      if (mapping) return TypeError("format requires a mapping");
      if (next >= items.size()) return TypeError("not enough arguments for format string");
      v = items[next++];
    }
    if (spec.size() > 24) return Status::Error("format specification too long");
    GALE_TRY(Convert(*this, conv, spec, *v, &r));
    GALE_TRY(CheckSize(r.size()));
  }
  if (!mapping && next < items.size()) {
    return TypeError("not all arguments converted during string formatting");
  }
  *out = Value::Of(std::move(r));
  return Status::Ok();
}

Status Evaluator::Eval(const Expr& e, Value* out) {
  Status s = Step();
  if (!s.ok()) return s;
  switch (e.kind) {
    case ExprKind::kLiteral:
      *out = Value::Ref(e.literal);
      return Status::Ok();
    case ExprKind::kName:
      return LookupName(e, out);
    case ExprKind::kAttr: {
      Value subject;
      GALE_TRY(Eval(*e.args[0], &subject));
      return GetAttr(subject, e.name, e, out);
    }
    case ExprKind::kItem: {
      Value subject, key;
      s = Eval(*e.args[0], &subject);
      if (s.ok()) s = Eval(*e.args[1], &key);
      if (!s.ok()) return s;
      return GetItem(subject, key, e, out);
    }
    case ExprKind::kSlice:
      return Slice(e, out);
    case ExprKind::kCall:
      return CallExpr(e, out);
    case ExprKind::kFilter:
      return EvalFilter(e, out);
    case ExprKind::kTest:
      return EvalTest(e, out);
    case ExprKind::kNeg:
    case ExprKind::kPos:
      return EvalSign(e, out);
    case ExprKind::kNot: {
      Value v;
      GALE_TRY(Eval(*e.args[0], &v));
      bool t = false;
      GALE_TRY(Truthy(v, &t));
      *out = Value::Of(!t);
      return Status::Ok();
    }
    case ExprKind::kBinary: {
      Value a, b;
      s = Eval(*e.args[0], &a);
      if (s.ok()) s = Eval(*e.args[1], &b);
      if (!s.ok()) return s;
      return Binary(e.bin_op, a, b, out);
    }
    case ExprKind::kCompare:
      return EvalCompare(e, out);
    case ExprKind::kAnd:
    case ExprKind::kOr:
      return EvalAndOr(e, out);
    case ExprKind::kCond:
      return EvalCond(e, out);
    case ExprKind::kList:
    case ExprKind::kTuple:
      return EvalList(e, out);
    case ExprKind::kDict:
      return EvalDict(e, out);
  }
  return Status::Ok();
}

// `in | name(args)`: an absent optional argument is passed as Absent, and the filter's error is
// prefixed with its name.
Status Evaluator::EvalFilter(const Expr& e, Value* out) {
  Value in;
  GALE_TRY(Eval(*e.args[0], &in));
  if (!in.defined() && !e.filter->accepts_undefined) {
    return Status::Error(UndefinedMessage(in));
  }
  std::vector<Value> args;
  for (std::size_t k = 1; k < e.args.size(); ++k) {
    if (!e.args[k]) {
      args.push_back(Value::Absent());
      continue;
    }
    Value v;
    GALE_TRY(Eval(*e.args[k], &v));
    args.push_back(std::move(v));
  }
  Status s = e.filter->fn(*this, in, args, out);
  if (!s.ok()) return Status::Error(e.name + ": " + s.message());
  return Status::Ok();
}

// `in is [not] name(args)`.
Status Evaluator::EvalTest(const Expr& e, Value* out) {
  Value in;
  GALE_TRY(Eval(*e.args[0], &in));
  if (!in.defined() && !e.test->accepts_undefined) return Status::Error(UndefinedMessage(in));
  std::vector<Value> args;
  for (std::size_t k = 1; k < e.args.size(); ++k) {
    Value v;
    GALE_TRY(Eval(*e.args[k], &v));
    args.push_back(std::move(v));
  }
  bool r = false;
  GALE_TRY(e.test->fn(*this, in, args, &r));
  *out = Value::Of(e.negated ? !r : r);
  return Status::Ok();
}

// Unary - and +.
Status Evaluator::EvalSign(const Expr& e, Value* out) {
  Value v;
  GALE_TRY(Eval(*e.args[0], &v));
  const Json* j = nullptr;
  GALE_TRY(JsonOf(v, &j));
  Num n;
  if (!ToNum(*j, &n)) {
    return TypeError(std::string("bad operand type for unary ") +
                     (e.kind == ExprKind::kNeg ? "-" : "+") + ": '" + py::TypeName(*j) + "'");
  }
  if (e.kind == ExprKind::kNeg) {
    if (n.is_int) {
      if (n.i == std::numeric_limits<long long>::min()) return Overflow();
      n.i = -n.i;
    } else {
      n.d = -n.d;
    }
  }
  *out = Value::Of(FromNum(n));
  return Status::Ok();
}

// `a < b < c` is `a < b and b < c`, each operand evaluated once and only as far as needed.
Status Evaluator::EvalCompare(const Expr& e, Value* out) {
  Value left;
  GALE_TRY(Eval(*e.args[0], &left));
  for (std::size_t k = 0; k < e.cmp_ops.size(); ++k) {
    Value right;
    GALE_TRY(Eval(*e.args[k + 1], &right));
    bool r = false;
    GALE_TRY(Compare(e.cmp_ops[k], left, right, &r));
    if (!r) {
      *out = Value::Of(false);
      return Status::Ok();
    }
    left = std::move(right);
  }
  *out = Value::Of(true);
  return Status::Ok();
}

// Python's `and`/`or` yield an operand, not a boolean.
Status Evaluator::EvalAndOr(const Expr& e, Value* out) {
  Value a;
  GALE_TRY(Eval(*e.args[0], &a));
  bool t = false;
  GALE_TRY(Truthy(a, &t));
  if (t == (e.kind == ExprKind::kOr)) {
    *out = std::move(a);
    return Status::Ok();
  }
  return Eval(*e.args[1], out);
}

// `args[0] if args[1] else args[2]`, the else part optional.
Status Evaluator::EvalCond(const Expr& e, Value* out) {
  Value c;
  GALE_TRY(Eval(*e.args[1], &c));
  bool t = false;
  GALE_TRY(Truthy(c, &t));
  if (t) return Eval(*e.args[0], out);
  if (e.args[2]) return Eval(*e.args[2], out);
  // Jinja uses its lenient Undefined here, even under StrictUndefined: it prints as "".
  *out = Value::Undefined(Source(e));
  out->lenient = true;
  return Status::Ok();
}

// List and tuple literals: a tuple is a JSON array that prints in parentheses.
Status Evaluator::EvalList(const Expr& e, Value* out) {
  Json list = Json::array();
  for (const auto& item : e.args) {
    Value v;
    GALE_TRY(Eval(*item, &v));
    GALE_TRY(Need(v));
    Json copy;
    GALE_TRY(Copy(v.json(), &copy));
    list.push_back(std::move(copy));
  }
  *out = Value::Of(std::move(list));
  out->tuple = e.kind == ExprKind::kTuple;
  return Status::Ok();
}

// Dict literals: args alternate keys and values.
Status Evaluator::EvalDict(const Expr& e, Value* out) {
  Json dict = Json::object();
  for (std::size_t k = 0; k + 1 < e.args.size(); k += 2) {
    Value key, value;
    Status s = Eval(*e.args[k], &key);
    if (s.ok()) s = Eval(*e.args[k + 1], &value);
    if (s.ok()) s = Need(key);
    if (s.ok()) s = Need(value);
    if (!s.ok()) return s;
    const Json& kj = key.json();
    std::string name;
    if (kj.is_string()) {
      name = kj.get<std::string>();
    } else if (kj.is_number() || kj.is_boolean() || kj.is_null()) {
      name = py::Str(kj);  // JSON object keys are strings
    } else {
      return TypeError(std::string("unhashable type: '") + py::TypeName(kj) + "'");
    }
    GALE_TRY(Copy(value.json(), &dict[name]));
  }
  *out = Value::Of(std::move(dict));
  return Status::Ok();
}

}  // namespace gale::expr::tmpl

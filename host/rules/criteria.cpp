#include "host/rules/criteria.h"
#include "host/common/input_limits.h"

#include <algorithm>
#include <exception>

#include "host/expr/iso8601.h"
#include "host/expr/key_path.h"
#include "host/expr/py_value.h"
#include "host/expr/regex.h"
#include "host/expr/template/template.h"

namespace gale::rules {

namespace {

enum class Op : unsigned char {
  kEquals,
  kNEquals,
  kIEquals,
  kLessThan,
  kGreaterThan,
  kMatchWildcard,
  kRegex,
  kIRegex,
  kMatchRegex,
  kContains,
  kNContains,
  kIContains,
  kINContains,
  kStartsWith,
  kIStartsWith,
  kEndsWith,
  kIEndsWith,
  kExists,
  kNExists,
  kInside,
  kNInside,
  kTimeDiffLt,
  kTimeDiffGt,
  kSearch,
};

struct OperatorName {
  const char* name;
  Op op;
};

// StackStorm's operator table (st2common/operators.py), aliases included.
constexpr OperatorName kOperators[] = {
    {"equals", Op::kEquals},
    {"eq", Op::kEquals},
    {"nequals", Op::kNEquals},
    {"neq", Op::kNEquals},
    {"iequals", Op::kIEquals},
    {"ieq", Op::kIEquals},
    {"lessthan", Op::kLessThan},
    {"lt", Op::kLessThan},
    {"greaterthan", Op::kGreaterThan},
    {"gt", Op::kGreaterThan},
    {"matchwildcard", Op::kMatchWildcard},
    {"regex", Op::kRegex},
    {"iregex", Op::kIRegex},
    {"matchregex", Op::kMatchRegex},
    {"contains", Op::kContains},
    {"ncontains", Op::kNContains},
    {"icontains", Op::kIContains},
    {"incontains", Op::kINContains},
    {"startswith", Op::kStartsWith},
    {"istartswith", Op::kIStartsWith},
    {"endswith", Op::kEndsWith},
    {"iendswith", Op::kIEndsWith},
    {"exists", Op::kExists},
    {"nexists", Op::kNExists},
    {"inside", Op::kInside},
    {"in", Op::kInside},
    {"ninside", Op::kNInside},
    {"nin", Op::kNInside},
    {"timediff_lt", Op::kTimeDiffLt},
    {"td_lt", Op::kTimeDiffLt},
    {"timediff_gt", Op::kTimeDiffGt},
    {"td_gt", Op::kTimeDiffGt},
    {"search", Op::kSearch},
};

enum class Condition : unsigned char { kAny, kAll, kAll2Any, kAny2Any };

enum class Outcome : unsigned char { kMatch, kNoMatch, kError };

bool IsRegexOp(Op op) {
  return op == Op::kRegex || op == Op::kIRegex || op == Op::kMatchRegex || op == Op::kMatchWildcard;
}

int Cost(Op op) {
  switch (op) {
    case Op::kExists:
    case Op::kNExists:
      return 0;
    case Op::kEquals:
    case Op::kNEquals:
    case Op::kInside:
    case Op::kNInside:
    case Op::kContains:
    case Op::kNContains:
    case Op::kLessThan:
    case Op::kGreaterThan:
    case Op::kStartsWith:
    case Op::kEndsWith:
      return 1;
    case Op::kIEquals:
    case Op::kIContains:
    case Op::kINContains:
    case Op::kIStartsWith:
    case Op::kIEndsWith:
      return 2;
    case Op::kSearch:
      return 20;
    default:
      return 4;
  }
}

const Json& Null() {
  static const Json kNull;
  return kNull;
}

std::string Short(const Json& v) {
  std::string out;
  if (!expr::py::AppendRepr(out, v, 120) || out.size() > 120) {
    out.resize(std::min<std::size_t>(out.size(), 117));
    out += "...";
  }
  return out;
}

// StackStorm's MATCH_CRITERIA rewrite: on each line, the span from the first "{{" to the last
// "}}" gets " | to_complex" before its closing braces, so that the rendered text is JSON.
std::optional<std::string> ComplexSource(const std::string& src) {
  std::string out;
  bool changed = false;
  std::size_t line_start = 0;
  while (line_start <= src.size()) {
    std::size_t line_end = src.find('\n', line_start);
    if (line_end == std::string::npos) line_end = src.size();
    std::string_view line(src.data() + line_start, line_end - line_start);
    std::size_t open = line.find("{{");
    std::size_t close = open == std::string_view::npos ? open : line.rfind("}}");
    if (open != std::string_view::npos && close != std::string_view::npos && close >= open + 2) {
      std::size_t inner = open + 2;
      while (inner < close && (line[inner] == ' ' || line[inner] == '\t' || line[inner] == '\r' ||
                               line[inner] == '\f' || line[inner] == '\v')) {
        ++inner;
      }
      out.append(line.substr(0, open));
      out += "{{";
      out.append(line.substr(inner, close - inner));
      out += " | to_complex}}";
      out.append(line.substr(close + 2));
      changed = true;
    } else {
      out.append(line);
    }
    if (line_end == src.size()) break;
    out.push_back('\n');
    line_start = line_end + 1;
  }
  if (!changed) return std::nullopt;
  return out;
}

struct Criterion {
  std::string key;  // as written, '#' suffix included
  expr::KeyPath path;
  Op op = Op::kEquals;
  std::string op_name;
  // The pattern: a constant, or templates rendered per evaluation.
  Json constant;
  std::shared_ptr<const expr::Template> plain;
  std::shared_ptr<const expr::Template> complex;
  std::string pattern_error;  // malformed template: never matches
  // Precompiled regex for a constant pattern of a regex operator.
  std::shared_ptr<const expr::Regex> regex;
  std::string regex_error;
  Condition condition = Condition::kAll;
  std::vector<Criterion> children;
  int cost = 0;
};

}  // namespace

struct Criteria::Compiled {
  std::vector<Criterion> items;
  std::vector<std::string> warnings;
};

namespace {

Status CompileOne(const std::string& key, const Json& spec, const std::string& root,
                  const std::string& where, Criterion* out, std::vector<std::string>* warnings,
                  int depth) {
  if (depth > 16) return Status::Error(where + ": search criteria nested too deeply");
  if (!spec.is_object()) {
    return Status::Error(where + ": expected a mapping with 'type' (and 'pattern')");
  }
  auto type = spec.find("type");
  if (type == spec.end()) return Status::Error(where + ": missing 'type' (the operator)");
  if (!type->is_string()) return Status::Error(where + ": 'type' must be a string");
  out->key = key;
  out->op_name = expr::py::Lower(type->get_ref<const std::string&>());
  auto op = std::find_if(std::begin(kOperators), std::end(kOperators),
                         [&](const OperatorName& o) { return out->op_name == o.name; });
  if (op == std::end(kOperators)) {
    return Status::Error(where + ": unknown operator '" + type->get<std::string>() + "'");
  }
  out->op = op->op;
  out->cost = Cost(out->op);

  std::string path_text = key.substr(0, key.find('#'));
  auto path = expr::ParseKeyPath(path_text);
  if (!path.ok()) return Status::Error(where + ": " + path.message());
  if (path->root != root) {
    return Status::Error(where + ": keys must be paths under '" + root + "' (e.g. '" + root +
                         ".field')");
  }
  out->path = std::move(path).value();

  auto pattern = spec.find("pattern");
  if (out->op == Op::kSearch) {
    auto cond = spec.find("condition");
    std::string c = (cond != spec.end() && cond->is_string()) ? cond->get<std::string>() : "";
    if (c == "any") {
      out->condition = Condition::kAny;
    } else if (c == "all") {
      out->condition = Condition::kAll;
    } else if (c == "all2any") {
      out->condition = Condition::kAll2Any;
    } else if (c == "any2any") {
      out->condition = Condition::kAny2Any;
    } else {
      return Status::Error(where + ": search needs 'condition' any, all, all2any or any2any");
    }
    if (pattern == spec.end() || !pattern->is_object()) {
      return Status::Error(where + ": search needs a 'pattern' mapping of item.* criteria");
    }
    for (auto it = pattern->begin(); it != pattern->end(); ++it) {
      Criterion child;
      GALE_TRY(CompileOne(it.key(), it.value(), "item", where + ".pattern." + it.key(), &child,
                          warnings, depth + 1));
      out->cost += child.cost;
      out->children.push_back(std::move(child));
    }
    return Status::Ok();
  }

  if (pattern != spec.end() && pattern->is_string()) {
    // StackStorm renders every string pattern as a Jinja template.
    const std::string& src = pattern->get_ref<const std::string&>();
    auto t = expr::Template::Parse(src);
    if (!t.ok()) {
      out->pattern_error = "pattern does not parse as a template: " + t.message();
    } else if (t->is_literal()) {
      out->constant = t->literal_text();
    } else {
      out->plain = std::make_shared<expr::Template>(std::move(t).value());
      out->cost += 10;
      if (auto complex_src = ComplexSource(src)) {
        auto c = expr::Template::Parse(*complex_src);
        if (!c.ok()) {
          out->pattern_error = "pattern does not parse as a template: " + c.message();
        } else {
          out->complex = std::make_shared<expr::Template>(std::move(c).value());
        }
      }
    }
    if (!out->pattern_error.empty()) warnings->push_back(where + ": " + out->pattern_error);
  } else if (pattern != spec.end()) {
    if (!expr::py::DepthAtMost(*pattern, expr::py::kMaxDepth)) {
      return Status::Error(where + ": pattern nested too deeply");
    }
    out->constant = *pattern;
  }

  if (IsRegexOp(out->op) && !out->plain && out->pattern_error.empty() &&
      out->constant.is_string()) {
    const std::string& p = out->constant.get_ref<const std::string&>();
    expr::RegexOptions o;
    std::string source = p;
    if (out->op == Op::kIRegex) o.ignore_case = true;
    if (out->op == Op::kMatchRegex) o.dot_all = true;
    if (out->op == Op::kMatchWildcard) source = expr::GlobToRegex(p);
    auto re = expr::Regex::Compile(source, o);
    if (re.ok()) {
      out->regex = std::make_shared<expr::Regex>(std::move(re).value());
    } else {
      out->regex_error = "invalid regular expression '" + p + "': " + re.message();
      warnings->push_back(where + ": " + out->regex_error);
    }
  }
  return Status::Ok();
}

class Matcher {
 public:
  explicit Matcher(const expr::TemplateContext& ctx) : ctx_(ctx) {}

  // Evaluates one criterion against `root` (the payload, or a search item).
  Outcome Check(const Criterion& c, const Json& root, std::string* reason) {
    const bool nested = c.path.root == "item";
    // 1. The pattern (rendered first, as StackStorm does).
    Json rendered;
    const Json* pattern = &c.constant;
    if (!c.pattern_error.empty()) {
      if (reason) *reason = c.key + ": " + c.op_name + ": " + c.pattern_error;
      return Outcome::kError;
    }
    if (c.plain) {
      Status s = RenderPattern(c, root, nested, &rendered);
      if (!s.ok()) {
        if (reason) *reason = c.key + ": " + c.op_name + ": cannot render pattern: " + s.message();
        return Outcome::kError;
      }
      pattern = &rendered;
    }
    // 2. The value; a missing key reads as None.
    Json scratch;
    const Json* value = &Null();
    expr::LookupStatus ls = expr::Lookup(root, c.path, &value, &scratch);
    if (ls == expr::LookupStatus::kError) {
      if (reason) *reason = c.key + ": " + c.op_name + ": cannot read the key from the payload";
      return Outcome::kError;
    }
    if (ls == expr::LookupStatus::kMissing) value = &Null();
    // 3. The operator.
    std::string error;
    Outcome o = Apply(c, *value, *pattern, reason ? &error : nullptr);
    if (reason) {
      std::string what = c.key + ": " + c.op_name;
      if (c.op != Op::kExists && c.op != Op::kNExists && c.op != Op::kSearch) {
        what += " " + Short(*pattern);
      }
      std::string val = ls == expr::LookupStatus::kMissing ? "None (missing)" : Short(*value);
      switch (o) {
        case Outcome::kMatch:
          *reason = what + " matched value " + val;
          break;
        case Outcome::kNoMatch:
          *reason = what + " vs value " + val + (error.empty() ? "" : ": " + error);
          break;
        case Outcome::kError:
          *reason = what + " vs value " + val + ": " + error;
          break;
      }
    }
    return o;
  }

 private:
  Status RenderPattern(const Criterion& c, const Json& root, bool nested, Json* out) {
    expr::TemplateContext ctx = ctx_;
    Json vars;
    if (nested) {
      // Inside `search` StackStorm's context has `item` (and the datastore), not `trigger`.
      if (!expr::py::DepthAtMost(root, expr::py::kMaxDepth))
        return Status::Error("item nested too deeply");
      vars = (ctx_.vars && ctx_.vars->is_object()) ? *ctx_.vars : Json::object();
      vars["item"] = root;
      ctx.vars = &vars;
      ctx.trigger = nullptr;
    } else {
      ctx.trigger = &root;
    }
    if (c.complex) {
      GALE_ASSIGN_OR_RETURN(auto text, c.complex->Render(ctx));
      Json decoded = CheckJsonText(text).ok() ? Json::parse(text, nullptr, false)
                                              : Json(Json::value_t::discarded);
      if (!decoded.is_discarded()) {
        *out = std::move(decoded);
        return Status::Ok();
      }
    }
    GALE_ASSIGN_OR_RETURN(auto text, c.plain->Render(ctx));
    *out = std::move(text);
    return Status::Ok();
  }

  static Outcome Bool(bool b) { return b ? Outcome::kMatch : Outcome::kNoMatch; }

  static Outcome Fail(std::string* err, const std::string& what) {
    if (err) *err = what;
    return Outcome::kError;
  }

  static Outcome NotString(std::string* err, const char* role, const Json& v) {
    if (err) *err = std::string(role) + " is " + expr::py::TypeName(v) + ", not a string";
    return Outcome::kError;
  }

  // Both operands must be strings (the Python operator calls str methods on both).
  static bool Strings(const Json& v, const Json& p, std::string* err, Outcome* o) {
    if (!v.is_string()) {
      *o = NotString(err, "value", v);
      return false;
    }
    if (!p.is_string()) {
      *o = NotString(err, "pattern", p);
      return false;
    }
    return true;
  }

  static bool Ascii(const std::string& s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  }

  static bool IEquals(const std::string& a, const std::string& b) {
    if (Ascii(a) && Ascii(b)) {
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
        if (x != y) return false;
      }
      return true;
    }
    return expr::py::Lower(a) == expr::py::Lower(b);
  }

  static bool StartsWith(const std::string& s, const std::string& p) {
    return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
  }
  static bool EndsWith(const std::string& s, const std::string& p) {
    return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
  }

  static Outcome Membership(const Json& haystack, const Json& needle, bool negate,
                            std::string* err) {
    auto r = expr::py::Contains(haystack, needle);
    if (!r) {
      if (err) {
        if (haystack.is_string()) {
          *err = std::string("'in <string>' requires string as left operand, not ") +
                 expr::py::TypeName(needle);
        } else if (haystack.is_object()) {
          *err = std::string("unhashable type: '") + expr::py::TypeName(needle) + "'";
        } else {
          *err = std::string("argument of type '") + expr::py::TypeName(haystack) +
                 "' is not iterable";
        }
      }
      return Outcome::kError;
    }
    return Bool(negate ? !*r : *r);
  }

  Outcome RegexOp(const Criterion& c, const Json& v, const Json& p, std::string* err) {
    if (!p.is_string()) return NotString(err, "pattern", p);
    std::shared_ptr<const expr::Regex> re = c.regex;
    if (!re) {
      if (!c.regex_error.empty()) return Fail(err, c.regex_error);
      // A templated pattern: compiled for this evaluation.
      expr::RegexOptions o;
      std::string source = p.get_ref<const std::string&>();
      if (c.op == Op::kIRegex) o.ignore_case = true;
      if (c.op == Op::kMatchRegex) o.dot_all = true;
      if (c.op == Op::kMatchWildcard) source = expr::GlobToRegex(source);
      auto compiled = expr::Regex::Compile(source, o);
      if (!compiled.ok()) return Fail(err, "invalid regular expression: " + compiled.message());
      re = std::make_shared<expr::Regex>(std::move(compiled).value());
    }
    if (!v.is_string()) return NotString(err, "value", v);
    const std::string& text = v.get_ref<const std::string&>();
    std::optional<bool> r =
        (c.op == Op::kRegex || c.op == Op::kIRegex) ? re->Search(text) : re->Match(text);
    if (!r) return Fail(err, "regular expression gave up (too much work for this value)");
    return Bool(*r);
  }

  Outcome TimeDiff(const Criterion& c, const Json& v, const Json& p, std::string* err) {
    if (!v.is_string()) return NotString(err, "value", v);
    auto t = expr::ParseIsoDateTime(v.get_ref<const std::string&>());
    if (!t) return Fail(err, "value is not an ISO 8601 date");
    std::optional<double> period;
    if (p.is_boolean()) {
      period = p.get<bool>() ? 1.0 : 0.0;
    } else if (p.is_number()) {
      period = p.get<double>();
    } else if (p.is_string()) {
      period = expr::py::ParseFloat(p.get_ref<const std::string&>());
    }
    if (!period) return Fail(err, "pattern is not a number of seconds");
    auto now = ctx_.now ? ctx_.now() : std::chrono::system_clock::now();
    // In floating point: now - *t in nanoseconds overflows for dates more than 292 years apart.
    double elapsed = std::chrono::duration<double>(now.time_since_epoch()).count() -
                     std::chrono::duration<double>(t->time_since_epoch()).count();
    return Bool(c.op == Op::kTimeDiffLt ? elapsed < *period : elapsed > *period);
  }

  Outcome Search(const Criterion& c, const Json& v, std::string* err) {
    std::vector<const Json*> items;
    std::vector<Json> chars;
    if (v.is_object()) {
      items.push_back(&v);
    } else if (v.is_array()) {
      for (const auto& item : v) items.push_back(&item);
    } else if (v.is_string()) {
      const std::string& s = v.get_ref<const std::string&>();
      for (std::size_t i = 0; i < s.size();) {
        std::size_t start = i;
        expr::py::DecodeUtf8(s, i);
        chars.emplace_back(s.substr(start, i - start));
      }
      for (const auto& ch : chars) items.push_back(&ch);
    } else {
      return Fail(err, std::string("'") + expr::py::TypeName(v) + "' object is not iterable");
    }
    const bool any_item = c.condition == Condition::kAny || c.condition == Condition::kAny2Any;
    const bool any_pattern =
        c.condition == Condition::kAll2Any || c.condition == Condition::kAny2Any;
    auto item_matches = [&](const Json& item) {
      for (const Criterion& child : c.children) {
        bool ok = Check(child, item, nullptr) == Outcome::kMatch;
        if (ok && any_pattern) return true;
        if (!ok && !any_pattern) return false;
      }
      return !any_pattern;
    };
    std::size_t matched = 0;
    for (const Json* item : items) {
      bool m = item_matches(*item);
      matched += m;
      if (m && any_item) break;
      if (!m && !any_item) break;
    }
    bool result = any_item ? matched > 0 : matched == items.size();
    if (err && !result) {
      *err = any_item ? "no item of " + std::to_string(items.size()) + " matched"
                      : "not every item of " + std::to_string(items.size()) + " matched";
    }
    return Bool(result);
  }

  Outcome Apply(const Criterion& c, const Json& v, const Json& p, std::string* err) {
    // Every operator but nequals, exists, nexists (and search) returns False on a None pattern.
    if (p.is_null() && c.op != Op::kNEquals && c.op != Op::kExists && c.op != Op::kNExists &&
        c.op != Op::kSearch) {
      if (err) *err = "pattern is None";
      return Outcome::kNoMatch;
    }
    Outcome o = Outcome::kNoMatch;
    switch (c.op) {
      case Op::kEquals:
        return Bool(expr::py::Equals(v, p));
      case Op::kNEquals:
        return Bool(!expr::py::Equals(v, p));
      case Op::kIEquals:
        if (!Strings(v, p, err, &o)) return o;
        return Bool(IEquals(v.get_ref<const std::string&>(), p.get_ref<const std::string&>()));
      case Op::kLessThan:
      case Op::kGreaterThan: {
        auto r = c.op == Op::kLessThan ? expr::py::Less(v, p) : expr::py::Less(p, v);
        if (!r) {
          return Fail(err, std::string("'") + (c.op == Op::kLessThan ? "<" : ">") +
                               "' not supported between instances of '" + expr::py::TypeName(v) +
                               "' and '" + expr::py::TypeName(p) + "'");
        }
        return Bool(*r);
      }
      case Op::kMatchWildcard:
      case Op::kRegex:
      case Op::kIRegex:
      case Op::kMatchRegex:
        return RegexOp(c, v, p, err);
      case Op::kContains:
        return Membership(v, p, false, err);
      case Op::kNContains:
        return Membership(v, p, true, err);
      case Op::kIContains:
      case Op::kINContains: {
        if (!Strings(v, p, err, &o)) return o;
        bool in = expr::py::Lower(v.get_ref<const std::string&>())
                      .find(expr::py::Lower(p.get_ref<const std::string&>())) != std::string::npos;
        return Bool(c.op == Op::kIContains ? in : !in);
      }
      case Op::kStartsWith:
      case Op::kEndsWith: {
        if (!Strings(v, p, err, &o)) return o;
        const auto& s = v.get_ref<const std::string&>();
        const auto& q = p.get_ref<const std::string&>();
        return Bool(c.op == Op::kStartsWith ? StartsWith(s, q) : EndsWith(s, q));
      }
      case Op::kIStartsWith:
      case Op::kIEndsWith: {
        if (!Strings(v, p, err, &o)) return o;
        std::string s = expr::py::Lower(v.get_ref<const std::string&>());
        std::string q = expr::py::Lower(p.get_ref<const std::string&>());
        return Bool(c.op == Op::kIStartsWith ? StartsWith(s, q) : EndsWith(s, q));
      }
      case Op::kExists:
        return Bool(!v.is_null());
      case Op::kNExists:
        return Bool(v.is_null());
      case Op::kInside:
        return Membership(p, v, false, err);
      case Op::kNInside:
        return Membership(p, v, true, err);
      case Op::kTimeDiffLt:
      case Op::kTimeDiffGt:
        return TimeDiff(c, v, p, err);
      case Op::kSearch:
        return Search(c, v, err);
    }
    return Outcome::kNoMatch;
  }

  const expr::TemplateContext& ctx_;
};

}  // namespace

Result<Criteria> Criteria::Compile(const Json& criteria) {
  try {
    auto compiled = std::make_shared<Compiled>();
    if (criteria.is_null()) return Criteria(std::move(compiled));
    if (!criteria.is_object()) {
      return Status::Error("criteria: expected a mapping of key: {type, pattern}");
    }
    for (auto it = criteria.begin(); it != criteria.end(); ++it) {
      Criterion c;
      GALE_TRY(CompileOne(it.key(), it.value(), "trigger", "criteria." + it.key(), &c,
                          &compiled->warnings, 0));
      compiled->items.push_back(std::move(c));
    }
    // Cheap criteria first: the result is the same (they are ANDed and never fail), and most
    // non-matching instances are rejected before a regex or a template runs.
    std::stable_sort(compiled->items.begin(), compiled->items.end(),
                     [](const Criterion& a, const Criterion& b) { return a.cost < b.cost; });
    return Criteria(std::move(compiled));
  } catch (const std::exception& e) {
    return Status::Error(std::string("criteria: ") + e.what());
  }
}

bool Criteria::Matches(const Json& payload, const expr::TemplateContext& ctx,
                       std::string* why) const {
  if (c_->items.empty()) return true;
  try {
    if (!expr::py::Truthy(payload)) {
      if (why) *why = "the trigger instance has no payload";
      return false;
    }
    Matcher m(ctx);
    for (const Criterion& c : c_->items) {
      if (m.Check(c, payload, why) != Outcome::kMatch) return false;
    }
    if (why) why->clear();
    return true;
  } catch (const std::exception& e) {
    if (why) *why = std::string("internal error: ") + e.what();
    return false;
  }
}

std::vector<CriterionResult> Criteria::Explain(const Json& payload,
                                               const expr::TemplateContext& ctx) const {
  std::vector<CriterionResult> out;
  try {
    bool empty = !expr::py::Truthy(payload);
    Matcher m(ctx);
    for (const Criterion& c : c_->items) {
      CriterionResult r;
      if (empty) {
        r.reason = c.key + ": the trigger instance has no payload";
      } else {
        r.matched = m.Check(c, payload, &r.reason) == Outcome::kMatch;
      }
      out.push_back(std::move(r));
    }
  } catch (const std::exception& e) {
    out.push_back({false, std::string("internal error: ") + e.what()});
  }
  return out;
}

std::size_t Criteria::size() const {
  return c_->items.size();
}

const std::vector<std::string>& Criteria::warnings() const {
  return c_->warnings;
}

}  // namespace gale::rules

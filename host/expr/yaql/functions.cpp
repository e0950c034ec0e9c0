// YAQL's standard functions that Orquesta workflows use, with YAQL 1.1's semantics.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "host/expr/py_value.h"
#include "host/expr/regex.h"
#include "host/expr/yaql/evaluator.h"

namespace gale::expr::yaql {

namespace {

Status Expect(Evaluator& ev, const Node& call, const Json& v, bool ok, const char* what) {
  if (ok) return Status::Ok();
  return ev.Error(call, call.name + "() expects " + what + ", not " + TypeName(v));
}

Status Len(Evaluator& ev, const Node& call, std::vector<Val>& args, Val* out) {
  const Json& v = args[0].json();
  if (v.is_string()) {
    *out = Val::Of(static_cast<long long>(py::CodePointCount(v.get_ref<const std::string&>())));
    return Status::Ok();
  }
  GALE_TRY(Expect(ev, call, v, v.is_array() || v.is_object(), "a string, list or dict"));
  *out = Val::Of(static_cast<long long>(v.size()));
  return Status::Ok();
}

Status KeysOrValues(Evaluator& ev, const Node& call, std::vector<Val>& args, Val* out) {
  const Json& v = args[0].json();
  GALE_TRY(Expect(ev, call, v, v.is_object(), "a dict"));
  GALE_TRY(ev.Step(call, v.size()));
  Json r = Json::array();
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (call.name == "keys") {
      r.push_back(it.key());
    } else {
      Json c;
      GALE_TRY(ev.Copy(call, it.value(), &c));
      r.push_back(std::move(c));
    }
  }
  *out = Val::Of(std::move(r), true);
  return Status::Ok();
}

// list(a, b, ...): the arguments as a list, a query's result (where, select...) spread into it.
Status List(Evaluator& ev, const Node& call, std::vector<Val>& args, Val* out) {
  Json r = Json::array();
  for (Val& a : args) {
    if (a.query && a.json().is_array()) {
      GALE_TRY(ev.Step(call, a.json().size()));
      for (const Json& e : a.json()) {
        Json c;
        GALE_TRY(ev.Copy(call, e, &c));
        r.push_back(std::move(c));
      }
    } else {
      Json c;
      GALE_TRY(ev.Copy(call, a.json(), &c));
      r.push_back(std::move(c));
    }
    GALE_TRY(ev.CheckItems(call, r.size()));
  }
  *out = Val::Of(std::move(r));
  return Status::Ok();
}

// dict(list of [key, value] pairs). (dict(k => v) and {k => v} are parsed as literals.)
Status Dict(Evaluator& ev, const Node& call, std::vector<Val>& args, Val* out) {
  if (args.size() != 1) return ev.Error(call, "dict() takes key => value pairs or one list");
  const Json& v = args[0].json();
  GALE_TRY(Expect(ev, call, v, v.is_array(), "a list of [key, value] pairs"));
  GALE_TRY(ev.Step(call, v.size()));
  Json r = Json::object();
  for (const Json& pair : v) {
    if (!pair.is_array() || pair.size() < 2) {
      return ev.Error(call, "dict() expects [key, value] pairs, got " + TypeName(pair));
    }
    if (!pair[0].is_string()) {
      return ev.Error(call, "dict keys must be strings, not " + TypeName(pair[0]));
    }
    Json c;
    GALE_TRY(ev.Copy(call, pair[1], &c));
    r[pair[0].get<std::string>()] = std::move(c);
  }
  *out = Val::Of(std::move(r));
  return Status::Ok();
}

Status Str(Evaluator& ev, const Node& call, std::vector<Val>& args, Val* out) {
  std::string s;
  GALE_TRY(ToText(ev, call, args[0].json(), &s));
  *out = Val::Of(std::move(s));
  return Status::Ok();
}

Status Int(Evaluator& ev, const Node& call, std::vector<Val>& args, Val* out) {
  const Json& v = args[0].json();
  if (v.is_null()) {
    *out = Val::Of(0);
  } else if (v.is_boolean()) {
    *out = Val::Of(v.get<bool>() ? 1 : 0);
  } else if (v.is_number_integer()) {
    *out = args[0];
  } else if (v.is_number_float()) {
    const double d = std::trunc(v.get<double>());
    if (!(d >= -9.2233720368547758e18 && d < 9.2233720368547758e18)) {
      return ev.Error(call, "cannot convert " + py::Str(v) + " to an integer");
    }
    *out = Val::Of(static_cast<long long>(d));
  } else if (v.is_string()) {
    auto i = py::ParseInt(v.get_ref<const std::string&>(), 10);
    if (!i) return ev.Error(call, "invalid literal for int(): " + py::Repr(v));
    *out = Val::Of(*i);
  } else {
    return Expect(ev, call, v, false, "a number or a string");
  }
  return Status::Ok();
}

Status Float(Evaluator& ev, const Node& call, std::vector<Val>& args, Val* out) {
  const Json& v = args[0].json();
  if (v.is_null()) {
    *out = Val::Of(0.0);
  } else if (v.is_boolean()) {
    *out = Val::Of(v.get<bool>() ? 1.0 : 0.0);
  } else if (v.is_number()) {
    *out = Val::Of(v.get<double>());
  } else if (v.is_string()) {
    auto d = py::ParseFloat(v.get_ref<const std::string&>());
    if (!d) return ev.Error(call, "could not convert string to float: " + py::Repr(v));
    *out = Val::Of(*d);
  } else {
    return Expect(ev, call, v, false, "a number or a string");
  }
  return Status::Ok();
}

Status Bool(Evaluator&, const Node&, std::vector<Val>& args, Val* out) {
  *out = Val::Of(py::Truthy(args[0].json()));
  return Status::Ok();
}

// join(list, sep) and sep.join(list): YAQL has both orders.
Status Join(Evaluator& ev, const Node& call, std::vector<Val>& args, Val* out) {
  const Json* list = &args[0].json();
  const Json* sep = &args[1].json();
  if (list->is_string() && sep->is_array()) std::swap(list, sep);
  GALE_TRY(Expect(ev, call, *list, list->is_array(), "a list"));
  GALE_TRY(Expect(ev, call, *sep, sep->is_string(), "a string separator"));
  GALE_TRY(ev.Step(call, list->size()));
  std::string r;
  bool first = true;
  for (const Json& e : *list) {
    if (!first) r += sep->get_ref<const std::string&>();
    first = false;
    std::string s;
    GALE_TRY(ToText(ev, call, e, &s));
    r += s;
    GALE_TRY(ev.CheckString(call, r.size()));
  }
  *out = Val::Of(std::move(r));
  return Status::Ok();
}

Status GetCount(Evaluator& ev, const Node& call, const Val& v, long long* count) {
  const Json& j = v.json();
  if (!j.is_number_integer()) return Expect(ev, call, j, false, "an integer count");
  *count = j.is_number_unsigned() ? -1 : j.get<long long>();
  return Status::Ok();
}

bool IsPySpace(const std::string& s, std::size_t i, std::size_t* next) {
  std::size_t j = i;
  const char32_t cp = py::DecodeUtf8(s, j);
  *next = j;
  return py::IsSpace(cp);
}

// Python's str.split(sep=None, maxsplit=-1).
Status Split(Evaluator& ev, const Node& call, std::vector<Val>& args, Val* out) {
  const Json& v = args[0].json();
  GALE_TRY(Expect(ev, call, v, v.is_string(), "a string"));
  const std::string& s = v.get_ref<const std::string&>();
  long long max = -1;
  if (args.size() > 2) GALE_TRY(GetCount(ev, call, args[2], &max));
  Json r = Json::array();
  const bool whitespace = args.size() < 2 || args[1].json().is_null();
  if (whitespace) {
    std::size_t i = 0;
    while (i < s.size()) {
      std::size_t next;
      while (i < s.size() && IsPySpace(s, i, &next)) i = next;
      if (i >= s.size()) break;
      if (max >= 0 && static_cast<long long>(r.size()) >= max) {
        r.push_back(s.substr(i));  // Python keeps the remainder's trailing whitespace
        break;
      }
      std::size_t start = i;
      while (i < s.size() && !IsPySpace(s, i, &next)) i = next;
      r.push_back(s.substr(start, i - start));
    }
  } else {
    const Json& sj = args[1].json();
    GALE_TRY(Expect(ev, call, sj, sj.is_string(), "a string separator"));
    const std::string& sep = sj.get_ref<const std::string&>();
    if (sep.empty()) return ev.Error(call, "split(): empty separator");
    std::size_t start = 0;
    while (true) {
      std::size_t at = s.find(sep, start);
      if (at == std::string::npos || (max >= 0 && static_cast<long long>(r.size()) >= max)) {
        r.push_back(s.substr(start));
        break;
      }
      r.push_back(s.substr(start, at - start));
      start = at + sep.size();
    }
  }
  GALE_TRY(ev.Step(call, r.size()));
  *out = Val::Of(std::move(r));
  return Status::Ok();
}

// Python's str.replace(old, new, count=-1).
Status Replace(Evaluator& ev, const Node& call, std::vector<Val>& args, Val* out) {
  const Json& v = args[0].json();
  const Json& o = args[1].json();
  const Json& nw = args[2].json();
  GALE_TRY(Expect(ev, call, v, v.is_string(), "a string"));
  GALE_TRY(Expect(ev, call, o, o.is_string(), "a string to replace"));
  GALE_TRY(Expect(ev, call, nw, nw.is_string(), "a replacement string"));
  long long count = -1;
  if (args.size() > 3) GALE_TRY(GetCount(ev, call, args[3], &count));
  const std::string& s = v.get_ref<const std::string&>();
  const std::string& from = o.get_ref<const std::string&>();
  const std::string& to = nw.get_ref<const std::string&>();
  std::string r;
  long long done = 0;
  if (from.empty()) {  // Python inserts `to` before every code point and at the end
    std::size_t i = 0;
    while (true) {
      if (count < 0 || done < count) {
        r += to;
        ++done;
      }
      if (i >= s.size()) break;
      std::size_t j = i;
      (void)py::DecodeUtf8(s, j);
      r.append(s, i, j - i);
      i = j;
      GALE_TRY(ev.CheckString(call, r.size()));
    }
  } else {
    std::size_t start = 0;
    while (true) {
      std::size_t at = (count < 0 || done < count) ? s.find(from, start) : std::string::npos;
      if (at == std::string::npos) {
        r.append(s, start, std::string::npos);
        break;
      }
      r.append(s, start, at - start);
      r += to;
      ++done;
      start = at + from.size();
      GALE_TRY(ev.CheckString(call, r.size()));
    }
  }
  GALE_TRY(ev.CheckString(call, r.size()));
  *out = Val::Of(std::move(r));
  return Status::Ok();
}

// StackStorm's regex_match(value, pattern): re.match, anchored at the start only.
Status RegexMatch(Evaluator& ev, const Node& call, std::vector<Val>& args, Val* out) {
  const Json& v = args[0].json();
  const Json& p = args[1].json();
  GALE_TRY(Expect(ev, call, v, v.is_string(), "a string"));
  GALE_TRY(Expect(ev, call, p, p.is_string(), "a string pattern"));
  // Matching is linear in the text: charge it, so that a match inside where() over a long list
  // of long strings stays within the evaluation's budget.
  GALE_TRY(ev.Step(call, v.get_ref<const std::string&>().size()));
  std::optional<Regex> compiled;
  const Regex* re = call.regex.get();
  if (!re) {
    auto c = Regex::Compile(p.get_ref<const std::string&>());
    if (!c.ok()) return ev.Error(call, "regex_match(): " + c.message());
    compiled = std::move(c).value();
    re = &*compiled;
  }
  auto m = re->Match(v.get_ref<const std::string&>());
  if (!m) return ev.Error(call, "regex_match(): the pattern took too long on this text");
  *out = Val::Of(*m);
  return Status::Ok();
}

// A text that equal values (by Python's ==: 1 = 1.0 = true) share, for distinct().
bool Canonical(const Json& v, std::string* out, int depth) {
  if (depth > py::kMaxDepth) return false;
  if (v.is_boolean()) {
    out->append(v.get<bool>() ? "1" : "0");
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::trunc(d) == d && std::fabs(d) < 9.0e18) {
      out->append(std::to_string(static_cast<long long>(d)));
    } else {
      out->append(py::FloatRepr(d));
    }
  } else if (v.is_array()) {
    out->push_back('[');
    for (const Json& e : v) {
      if (!Canonical(e, out, depth + 1)) return false;
      out->push_back(',');
    }
    out->push_back(']');
  } else if (v.is_object()) {
    out->push_back('{');
    for (auto it = v.begin(); it != v.end(); ++it) {
      out->append(Json(it.key()).dump(-1, ' ', false, Json::error_handler_t::replace));
      out->push_back(':');
      if (!Canonical(it.value(), out, depth + 1)) return false;
      out->push_back(',');
    }
    out->push_back('}');
  } else {
    out->append(v.dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  return true;
}

Status Distinct(Evaluator& ev, const Node& call, std::vector<Val>& args, Val* out) {
  const Json& v = args[0].json();
  GALE_TRY(Expect(ev, call, v, v.is_array(), "a list"));
  GALE_TRY(ev.Step(call, v.size()));
  std::unordered_set<std::string> seen;
  Json r = Json::array();
  for (const Json& e : v) {
    std::string key;
    if (!Canonical(e, &key, 0)) return ev.Error(call, "value nested too deeply");
    if (!seen.insert(std::move(key)).second) continue;
    Json c;
    GALE_TRY(ev.Copy(call, e, &c));
    r.push_back(std::move(c));
  }
  *out = Val::Of(std::move(r), true);
  return Status::Ok();
}

Status Lambda(Evaluator& ev, const Node& call, std::vector<Val>& args, Val* out) {
  const Json& v = args[0].json();
  GALE_TRY(Expect(ev, call, v, v.is_array(), "a list"));
  const bool where = call.name == "where";
  Json r = Json::array();
  for (const Json& e : v) {
    Val element = args[0].Child(e);
    Val result;
    GALE_TRY(ev.EvalLambda(*call.args[1], element, &result));
    Json c;
    if (where) {
      if (!py::Truthy(result.json())) continue;
      GALE_TRY(ev.Copy(call, e, &c));
    } else {
      GALE_TRY(ev.Copy(call, result.json(), &c));
    }
    r.push_back(std::move(c));
  }
  *out = Val::Of(std::move(r), true);
  return Status::Ok();
}

Status First(Evaluator& ev, const Node& call, std::vector<Val>& args, Val* out) {
  const Json& v = args[0].json();
  GALE_TRY(Expect(ev, call, v, v.is_array(), "a list"));
  if (!v.empty()) {
    *out = args[0].Child(v[0]);
    return Status::Ok();
  }
  if (args.size() < 2) return ev.Error(call, "first() of an empty list (give a default)");
  *out = args[1];
  return Status::Ok();
}

// Orquesta's zip(a, b, ...): the lists side by side, padded with null to the longest (`with`
// items `x, y in <% zip(ctx(xs), ctx(ys)) %>`); one list is returned as it is, null is [].
Status Zip(Evaluator& ev, const Node& call, std::vector<Val>& args, Val* out) {
  std::size_t longest = 0;
  for (const Val& a : args) {
    const Json& v = a.json();
    GALE_TRY(Expect(ev, call, v, v.is_array() || v.is_null(), "lists"));
    longest = std::max(longest, v.is_array() ? v.size() : 0);
  }
  if (args.size() == 1) {
    *out = args[0].json().is_null() ? Val::Of(Json::array()) : args[0];
    return Status::Ok();
  }
  GALE_TRY(ev.CheckItems(call, longest));
  GALE_TRY(ev.Step(call, longest * args.size()));
  Json r = Json::array();
  for (std::size_t i = 0; i < longest; ++i) {
    Json row = Json::array();
    for (const Val& a : args) {
      const Json& v = a.json();
      Json c;
      if (v.is_array() && i < v.size()) GALE_TRY(ev.Copy(call, v[i], &c));
      row.push_back(std::move(c));
    }
    r.push_back(std::move(row));
  }
  *out = Val::Of(std::move(r));
  return Status::Ok();
}

constexpr Builtin kBuiltins[] = {
    {"len", 1, 1, 0, Len},
    {"keys", 1, 1, 0, KeysOrValues},
    {"values", 1, 1, 0, KeysOrValues},
    {"list", 0, SIZE_MAX, 0, List},
    {"dict", 1, 1, 0, Dict},
    {"str", 1, 1, 0, Str},
    {"int", 1, 1, 0, Int},
    {"float", 1, 1, 0, Float},
    {"bool", 1, 1, 0, Bool},
    {"join", 2, 2, 0, Join},
    {"split", 1, 3, 0, Split},
    {"replace", 3, 4, 0, Replace},
    {"regex_match", 2, 2, 0, RegexMatch},
    {"distinct", 1, 1, 0, Distinct},
    {"where", 2, 2, 1u << 1, Lambda},
    {"select", 2, 2, 1u << 1, Lambda},
    {"first", 1, 2, 0, First},
    {"zip", 1, SIZE_MAX, 0, Zip},
};

}  // namespace

const Builtin* FindBuiltin(std::string_view name) {
  for (const Builtin& b : kBuiltins) {
    if (b.name == name) return &b;
  }
  return nullptr;
}

}  // namespace gale::expr::yaql

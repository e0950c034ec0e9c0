// Filters and tests: Jinja's common ones and StackStorm's (st2common/expressions/functions/*),
// with Python's behaviour for the types a payload holds.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "host/common/input_limits.h"
#include "host/common/yaml_json.h"
#include "host/expr/key_path.h"
#include "host/expr/py_value.h"
#include "host/expr/template/evaluator.h"

namespace gale::expr::tmpl {

namespace {

bool Given(const Value& v) {
  return v.kind != Value::Kind::kAbsent;
}

Status NeedString(Evaluator& ev, Value& v, const char* what, std::string* out) {
  const Json* j = nullptr;
  GALE_TRY(ev.JsonOf(v, &j));
  if (!j->is_string()) {
    return Status::Error(std::string(what) + " must be a string, not " + py::TypeName(*j));
  }
  *out = j->get_ref<const std::string&>();
  return Status::Ok();
}

Status NeedInt(Evaluator& ev, Value& v, const char* what, long long* out) {
  const Json* j = nullptr;
  GALE_TRY(ev.JsonOf(v, &j));
  if (j->is_boolean()) {
    *out = j->get<bool>() ? 1 : 0;
  } else if (j->is_number_integer()) {
    *out = j->get<long long>();
  } else {
    return Status::Error(std::string(what) + " must be an integer, not " + py::TypeName(*j));
  }
  return Status::Ok();
}

Status Flag(Evaluator& ev, Value& v, bool* out) {
  *out = false;
  if (!Given(v)) return Status::Ok();
  return ev.Truthy(v, out);
}

std::vector<std::string> Chars(const std::string& s) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t start = i;
    py::DecodeUtf8(s, i);
    out.push_back(s.substr(start, i - start));
  }
  return out;
}

// Elements a Python `for` over the value would produce (dicts give their keys).
Status Iterate(const Json& j, std::vector<Json>* out) {
  if (!py::DepthAtMost(j, py::kMaxDepth)) return Status::Error("value nested too deeply");
  if (j.is_array()) {
    out->assign(j.begin(), j.end());
  } else if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) out->push_back(it.key());
  } else if (j.is_string()) {
    for (auto& c : Chars(j.get_ref<const std::string&>())) out->push_back(std::move(c));
  } else {
    return Status::Error(std::string("'") + py::TypeName(j) + "' object is not iterable");
  }
  return Status::Ok();
}

// ---- Jinja filters ----

Status Default(Evaluator& ev, Value& in, std::vector<Value>& args, Value* out) {
  bool use_default = !in.defined();
  bool boolean = false;
  GALE_TRY(Flag(ev, args[1], &boolean));
  if (!use_default && boolean) {
    bool t = false;
    GALE_TRY(ev.Truthy(in, &t));
    use_default = !t;
  }
  if (!use_default) {
    *out = std::move(in);
  } else if (Given(args[0])) {
    *out = std::move(args[0]);
  } else {
    *out = Value::Of("");
  }
  return Status::Ok();
}

Status Upper(Evaluator& ev, Value& in, std::vector<Value>&, Value* out) {
  std::string s;
  GALE_TRY(ev.StrOf(in, &s));
  *out = Value::Of(py::Upper(s));
  return Status::Ok();
}

Status Lower(Evaluator& ev, Value& in, std::vector<Value>&, Value* out) {
  std::string s;
  GALE_TRY(ev.StrOf(in, &s));
  *out = Value::Of(py::Lower(s));
  return Status::Ok();
}

Status Capitalize(Evaluator& ev, Value& in, std::vector<Value>&, Value* out) {
  std::string s;
  GALE_TRY(ev.StrOf(in, &s));
  *out = Value::Of(py::Capitalize(s));
  return Status::Ok();
}

Status Trim(Evaluator& ev, Value& in, std::vector<Value>& args, Value* out) {
  std::string s;
  GALE_TRY(ev.StrOf(in, &s));
  std::vector<char32_t> set;
  bool custom = false;
  if (Given(args[0]) && !(args[0].defined() && args[0].json().is_null())) {
    std::string chars;
    GALE_TRY(NeedString(ev, args[0], "chars", &chars));
    for (std::size_t i = 0; i < chars.size();) set.push_back(py::DecodeUtf8(chars, i));
    custom = true;
  }
  auto strip = [&](char32_t c) {
    return custom ? std::find(set.begin(), set.end(), c) != set.end() : py::IsSpace(c);
  };
  std::size_t b = 0, e = s.size();
  while (b < e) {
    std::size_t i = b;
    if (!strip(py::DecodeUtf8(s, i))) break;
    b = i;
  }
  while (e > b) {
    std::size_t start = e - 1;
    while (start > b && (static_cast<unsigned char>(s[start]) & 0xc0) == 0x80) --start;
    std::size_t i = start;
    if (!strip(py::DecodeUtf8(s, i))) break;
    e = start;
  }
  *out = Value::Of(s.substr(b, e - b));
  return Status::Ok();
}

Status Replace(Evaluator& ev, Value& in, std::vector<Value>& args, Value* out) {
  std::string s, from, to;
  Status st = ev.StrOf(in, &s);
  if (st.ok()) st = ev.StrOf(args[0], &from);
  if (st.ok()) st = ev.StrOf(args[1], &to);
  if (!st.ok()) return st;
  long long count = -1;
  if (Given(args[2]) && !(args[2].defined() && args[2].json().is_null())) {
    GALE_TRY(NeedInt(ev, args[2], "count", &count));
  }
  std::string r;
  if (from.empty()) {
    // Python inserts `to` before every character and at the end.
    auto chars = Chars(s);
    std::size_t n = chars.size() + 1;
    if (count >= 0) n = std::min<std::size_t>(n, static_cast<std::size_t>(count));
    GALE_TRY(ev.CheckSize(s.size() + n * to.size()));
    std::size_t inserted = 0;
    for (const auto& c : chars) {
      if (inserted < n) r += to, ++inserted;
      r += c;
    }
    if (inserted < n) r += to;
    *out = Value::Of(std::move(r));
    return Status::Ok();
  }
  std::size_t hits = 0;
  for (std::size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + from.size())) {
    ++hits;
    if (count >= 0 && hits >= static_cast<std::size_t>(count)) break;
  }
  if (to.size() > from.size()) {
    GALE_TRY(ev.CheckSize(s.size() + hits * (to.size() - from.size())));
  }
  std::size_t pos = 0, done = 0;
  while (count < 0 || done < static_cast<std::size_t>(count)) {
    std::size_t at = s.find(from, pos);
    if (at == std::string::npos) break;
    r.append(s, pos, at - pos);
    r += to;
    pos = at + from.size();
    ++done;
  }
  r.append(s, pos, std::string::npos);
  *out = Value::Of(std::move(r));
  return Status::Ok();
}

Status Int(Evaluator& ev, Value& in, std::vector<Value>& args, Value* out) {
  const Json* j = nullptr;
  GALE_TRY(ev.JsonOf(in, &j));
  long long base = 10;
  if (Given(args[1])) {
    GALE_TRY(NeedInt(ev, args[1], "base", &base));
  }
  auto from_double = [&](double d, Value* o) -> Status {
    if (std::isnan(d)) return Status::Error("cannot convert float NaN to integer");
    if (std::isinf(d)) return Status::Error("cannot convert float infinity to integer");
    double t = std::trunc(d);
    if (t < -9.2233720368547758e18 || t >= 9.2233720368547758e18) {
      return Status::Error("integer out of range (Gale integers are 64-bit)");
    }
    *o = Value::Of(static_cast<long long>(t));
    return Status::Ok();
  };
  auto fallback = [&]() {
    *out = Given(args[0]) ? std::move(args[0]) : Value::Of(0);
    return Status::Ok();
  };
  if (j->is_string()) {
    const std::string& s = j->get_ref<const std::string&>();
    if (auto v = py::ParseInt(s, static_cast<int>(base))) {
      *out = Value::Of(*v);
      return Status::Ok();
    }
    // Jinja: "42.23"|int is 42 (through float); NaN falls back to the default.
    if (auto d = py::ParseFloat(s)) {
      if (std::isnan(*d)) return fallback();
      return from_double(*d, out);
    }
    return fallback();
  }
  if (j->is_boolean()) {
    *out = Value::Of(j->get<bool>() ? 1 : 0);
    return Status::Ok();
  }
  if (j->is_number_integer() || j->is_number_unsigned()) {
    *out = Value::Of(*j);
    return Status::Ok();
  }
  if (j->is_number_float()) {
    if (std::isnan(j->get<double>())) return fallback();
    return from_double(j->get<double>(), out);
  }
  return fallback();
}

Status Float(Evaluator& ev, Value& in, std::vector<Value>& args, Value* out) {
  const Json* j = nullptr;
  GALE_TRY(ev.JsonOf(in, &j));
  std::optional<double> v;
  if (j->is_string()) {
    v = py::ParseFloat(j->get_ref<const std::string&>());
  } else if (j->is_boolean()) {
    v = j->get<bool>() ? 1.0 : 0.0;
  } else if (j->is_number()) {
    v = j->get<double>();
  }
  if (v) {
    *out = Value::Of(*v);
  } else {
    *out = Given(args[0]) ? std::move(args[0]) : Value::Of(0.0);
  }
  return Status::Ok();
}

Status String(Evaluator& ev, Value& in, std::vector<Value>&, Value* out) {
  std::string s;
  GALE_TRY(ev.StrOf(in, &s));
  *out = Value::Of(std::move(s));
  return Status::Ok();
}

Status Length(Evaluator& ev, Value& in, std::vector<Value>&, Value* out) {
  const Json* j = nullptr;
  GALE_TRY(ev.JsonOf(in, &j));
  if (j->is_string()) {
    *out = Value::Of(static_cast<long long>(py::CodePointCount(j->get_ref<const std::string&>())));
  } else if (j->is_array() || j->is_object()) {
    *out = Value::Of(static_cast<long long>(j->size()));
  } else {
    return Status::Error(std::string("object of type '") + py::TypeName(*j) + "' has no len()");
  }
  return Status::Ok();
}

// Jinja's attribute getter: "a.b.0" follows keys and list indexes.
const Json* Attribute(const Json& item, const std::string& path) {
  const Json* cur = &item;
  std::size_t pos = 0;
  while (cur && pos <= path.size()) {
    std::size_t dot = path.find('.', pos);
    std::string part = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (cur->is_object()) {
      auto it = cur->find(part);
      cur = it == cur->end() ? nullptr : &*it;
    } else if (cur->is_array() && !part.empty() &&
               std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      std::size_t k = std::stoul(part);
      cur = k < cur->size() ? &(*cur)[k] : nullptr;
    } else {
      cur = nullptr;
    }
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return cur;
}

Status Join(Evaluator& ev, Value& in, std::vector<Value>& args, Value* out) {
  const Json* j = nullptr;
  GALE_TRY(ev.JsonOf(in, &j));
  std::string sep;
  if (Given(args[0])) {
    GALE_TRY(ev.StrOf(args[0], &sep));
  }
  std::optional<std::string> attribute;
  if (Given(args[1]) && !(args[1].defined() && args[1].json().is_null())) {
    std::string a;
    GALE_TRY(ev.StrOf(args[1], &a));
    attribute = a;
  }
  std::vector<Json> items;
  GALE_TRY(Iterate(*j, &items));
  std::string r;
  const std::size_t cap = ev.ctx().limits.max_output_bytes;
  for (std::size_t k = 0; k < items.size(); ++k) {
    if (k > 0) r += sep;
    const Json* item = &items[k];
    if (attribute) {
      item = Attribute(items[k], *attribute);
      if (!item)
        return Status::Error("item " + std::to_string(k) + " has no attribute '" + *attribute +
                             "'");
    }
    if (item->is_string()) {
      r += item->get_ref<const std::string&>();
    } else if (!py::AppendStr(r, *item, cap)) {
      return ev.TooBig();
    }
    if (r.size() > cap) return ev.TooBig();
  }
  *out = Value::Of(std::move(r));
  return Status::Ok();
}

Status ToJson(Evaluator& ev, Value& in, std::vector<Value>& args, Value* out) {
  const Json* j = nullptr;
  GALE_TRY(ev.JsonOf(in, &j));
  py::DumpOptions o;
  o.html_safe = true;  // Jinja's htmlsafe_json_dumps, keys sorted (always, in Gale's JSON)
  o.max_bytes = ev.ctx().limits.max_output_bytes;
  if (Given(args[0]) && !(args[0].defined() && args[0].json().is_null())) {
    long long indent = 0;
    GALE_TRY(NeedInt(ev, args[0], "indent", &indent));
    o.indent = static_cast<int>(std::clamp(indent, 0LL, 64LL));
    o.item_sep = ",";
  }
  auto r = py::JsonDumps(*j, o);
  if (!r) return Status::Error("value too large or too deeply nested to serialise");
  *out = Value::Of(std::move(*r));
  return Status::Ok();
}

Status FirstLast(Evaluator& ev, Value& in, Value* out, bool first) {
  const Json* j = nullptr;
  GALE_TRY(ev.JsonOf(in, &j));
  std::vector<Json> items;
  GALE_TRY(Iterate(*j, &items));
  if (items.empty()) {
    *out = Value::Undefined(std::string(first ? "first" : "last") + " item of an empty sequence");
  } else {
    *out = Value::Of(first ? items.front() : items.back());
  }
  return Status::Ok();
}
Status First(Evaluator& ev, Value& in, std::vector<Value>&, Value* out) {
  return FirstLast(ev, in, out, true);
}
Status Last(Evaluator& ev, Value& in, std::vector<Value>&, Value* out) {
  return FirstLast(ev, in, out, false);
}

Status Abs(Evaluator& ev, Value& in, std::vector<Value>&, Value* out) {
  const Json* j = nullptr;
  GALE_TRY(ev.JsonOf(in, &j));
  if (j->is_boolean()) {
    *out = Value::Of(j->get<bool>() ? 1 : 0);
  } else if (j->is_number_unsigned()) {
    *out = Value::Of(*j);
  } else if (j->is_number_integer()) {
    long long v = j->get<long long>();
    if (v == std::numeric_limits<long long>::min()) return Status::Error("integer overflow");
    *out = Value::Of(v < 0 ? -v : v);
  } else if (j->is_number_float()) {
    *out = Value::Of(std::fabs(j->get<double>()));
  } else {
    return Status::Error(std::string("bad operand type for abs(): '") + py::TypeName(*j) + "'");
  }
  return Status::Ok();
}

// Jinja's round(value, precision=0, method='common'|'ceil'|'floor'); always a float.
Status Round(Evaluator& ev, Value& in, std::vector<Value>& args, Value* out) {
  const Json* j = nullptr;
  GALE_TRY(ev.JsonOf(in, &j));
  if (!py::IsNumeric(*j)) {
    return Status::Error(std::string("must be real number, not ") + py::TypeName(*j));
  }
  long long precision = 0;
  if (Given(args[0])) {
    GALE_TRY(NeedInt(ev, args[0], "precision", &precision));
  }
  std::string method = "common";
  if (Given(args[1])) {
    GALE_TRY(NeedString(ev, args[1], "method", &method));
  }
  double v = j->is_boolean() ? (j->get<bool>() ? 1.0 : 0.0) : j->get<double>();
  double scale = std::pow(10.0, static_cast<double>(std::clamp(precision, -300LL, 300LL)));
  double r = 0;
  if (method == "common") {
    // Python's round() rounds half to even on the decimal value; Jinja's 'common' rounds half
    // away from zero.
    r = std::round(v * scale) / scale;
  } else if (method == "ceil") {
    r = std::ceil(v * scale) / scale;
  } else if (method == "floor") {
    r = std::floor(v * scale) / scale;
  } else {
    return Status::Error("method must be 'common', 'ceil' or 'floor'");
  }
  *out = Value::Of(r);
  return Status::Ok();
}

Status List(Evaluator& ev, Value& in, std::vector<Value>&, Value* out) {
  const Json* j = nullptr;
  GALE_TRY(ev.JsonOf(in, &j));
  std::vector<Json> items;
  GALE_TRY(Iterate(*j, &items));
  *out = Value::Of(Json(std::move(items)));
  return Status::Ok();
}

Status Safe(Evaluator&, Value& in, std::vector<Value>&, Value* out) {
  *out = std::move(in);
  return Status::Ok();
}

// ---- StackStorm filters ----

Status ToJsonString(Evaluator& ev, Value& in, std::vector<Value>& args, Value* out) {
  const Json* j = nullptr;
  GALE_TRY(ev.JsonOf(in, &j));
  py::DumpOptions o;
  o.item_sep = ",";  // StackStorm passes separators=(",", ": ")
  o.key_sep = ": ";
  o.max_bytes = ev.ctx().limits.max_output_bytes;
  if (Given(args[0]) && !(args[0].defined() && args[0].json().is_null())) {
    long long indent = 0;
    GALE_TRY(NeedInt(ev, args[0], "indent", &indent));
    o.indent = static_cast<int>(std::clamp(indent, 0LL, 64LL));
  }
  std::string item_sep, key_sep;
  if (Given(args[2]) && !(args[2].defined() && args[2].json().is_null())) {
    const Json* sep = nullptr;
    GALE_TRY(ev.JsonOf(args[2], &sep));
    if (!sep->is_array() || sep->size() != 2 || !(*sep)[0].is_string() || !(*sep)[1].is_string()) {
      return Status::Error("separators must be a pair of strings");
    }
    item_sep = (*sep)[0].get<std::string>();
    key_sep = (*sep)[1].get<std::string>();
    o.item_sep = item_sep;
    o.key_sep = key_sep;
  }
  auto r = py::JsonDumps(*j, o);
  if (!r) return Status::Error("value too large or too deeply nested to serialise");
  *out = Value::Of(std::move(*r));
  return Status::Ok();
}

Status FromJsonString(Evaluator& ev, Value& in, std::vector<Value>&, Value* out) {
  std::string s;
  GALE_TRY(ev.StrOf(in, &s));
  GALE_TRY(CheckJsonText(s));
  try {
    *out = Value::Of(Json::parse(s));
  } catch (const std::exception& e) {
    return Status::Error(std::string("invalid JSON: ") + e.what());
  }
  return Status::Ok();
}

Status FromYamlString(Evaluator& ev, Value& in, std::vector<Value>&, Value* out) {
  std::string s;
  GALE_TRY(ev.StrOf(in, &s));
  auto doc = ParseYaml(s, "from_yaml_string");
  if (!doc.ok()) return Status::Error("invalid YAML: " + doc.message());
  *out = Value::Of(std::move(doc->json));
  return Status::Ok();
}

// Would PyYAML read this plain scalar as something other than a string?
bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  static const char* kWords[] = {"~",     "null",  "Null", "NULL", "true", "True", "TRUE", "false",
                                 "False", "FALSE", "yes",  "Yes",  "YES",  "no",   "No",   "NO",
                                 "on",    "On",    "ON",   "off",  "Off",  "OFF",  "=",    "<<"};
  for (const char* w : kWords) {
    if (s == w) return true;
  }
  char c = s[0];
  if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.') return true;
  return false;
}

void EmitYaml(YAML::Emitter& e, const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      e << YAML::Null;
      break;
    case Json::value_t::boolean:
      e << j.get<bool>();
      break;
    case Json::value_t::number_integer:
      e << j.get<long long>();
      break;
    case Json::value_t::number_unsigned:
      e << j.get<unsigned long long>();
      break;
    case Json::value_t::number_float: {
      double d = j.get<double>();
      if (std::isnan(d)) {
        e << ".nan";
      } else if (std::isinf(d)) {
        e << (d > 0 ? ".inf" : "-.inf");
      } else {
        e << py::FloatRepr(d);
      }
      break;
    }
    case Json::value_t::string: {
      const std::string& s = j.get_ref<const std::string&>();
      if (NeedsQuotes(s)) {
        e << YAML::SingleQuoted << s;
      } else {
        e << s;
      }
      break;
    }
    case Json::value_t::array:
      if (j.empty()) {
        e << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        break;
      }
      e << YAML::BeginSeq;
      for (const auto& item : j) EmitYaml(e, item);
      e << YAML::EndSeq;
      break;
    case Json::value_t::object:
      if (j.empty()) {
        e << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        break;
      }
      e << YAML::BeginMap;
      for (auto it = j.begin(); it != j.end(); ++it) {
        e << YAML::Key;
        if (NeedsQuotes(it.key())) {
          e << YAML::SingleQuoted << it.key();
        } else {
          e << it.key();
        }
        e << YAML::Value;
        EmitYaml(e, it.value());
      }
      e << YAML::EndMap;
      break;
    default:
      e << YAML::Null;
  }
}

int Depth(const Json& j, int limit) {
  if (limit <= 0) return 1;
  int d = 0;
  if (j.is_array() || j.is_object()) {
    for (const auto& item : j) d = std::max(d, Depth(item, limit - 1));
    return d + 1;
  }
  return 0;
}

Status ToYamlString(Evaluator& ev, Value& in, std::vector<Value>& args, Value* out) {
  const Json* j = nullptr;
  GALE_TRY(ev.JsonOf(in, &j));
  if (Depth(*j, py::kMaxDepth + 1) > py::kMaxDepth) return Status::Error("value nested too deeply");
  long long indent = 2;
  if (Given(args[0]) && !(args[0].defined() && args[0].json().is_null())) {
    GALE_TRY(NeedInt(ev, args[0], "indent", &indent));
    indent = std::clamp(indent, 2LL, 9LL);
  }
  try {
    YAML::Emitter e;
    e.SetIndent(static_cast<std::size_t>(indent));
    e.SetNullFormat(YAML::LowerNull);  // PyYAML writes null
    EmitYaml(e, *j);
    if (!e.good()) return Status::Error(std::string("cannot write YAML: ") + e.GetLastError());
    std::string r = e.c_str();
    // PyYAML ends documents with a newline; a bare scalar also gets its "..." end marker.
    if (!j->is_array() && !j->is_object()) r += "\n...";
    r += "\n";
    GALE_TRY(ev.CheckSize(r.size()));
    *out = Value::Of(std::move(r));
  } catch (const std::exception& ex) {
    return Status::Error(std::string("cannot write YAML: ") + ex.what());
  }
  return Status::Ok();
}

Status JsonEscape(Evaluator& ev, Value& in, std::vector<Value>&, Value* out) {
  const Json* j = nullptr;
  GALE_TRY(ev.JsonOf(in, &j));
  py::DumpOptions o;
  o.max_bytes = ev.ctx().limits.max_output_bytes;
  auto r = py::JsonDumps(*j, o);
  if (!r) return Status::Error("value too large or too deeply nested to serialise");
  std::size_t b = r->find_first_not_of('"');
  if (b == std::string::npos) {
    *out = Value::Of("");
    return Status::Ok();
  }
  std::size_t e = r->find_last_not_of('"');
  *out = Value::Of(r->substr(b, e - b + 1));
  return Status::Ok();
}

Status ToComplex(Evaluator& ev, Value& in, std::vector<Value>&, Value* out) {
  const Json* j = nullptr;
  GALE_TRY(ev.JsonOf(in, &j));
  py::DumpOptions o;
  o.max_bytes = ev.ctx().limits.max_output_bytes;
  auto r = py::JsonDumps(*j, o);
  if (!r) return Status::Error("value too large or too deeply nested to serialise");
  *out = Value::Of(std::move(*r));
  return Status::Ok();
}

Status RegexArgs(Evaluator& ev, Value& in, Value& pattern, Value& icase, std::string* text,
                 const Regex** re) {
  Status st = ev.StrOf(in, text);  // StackStorm: str(value) when it is not a string
  if (!st.ok()) return st;
  std::string p;
  GALE_TRY(NeedString(ev, pattern, "pattern", &p));
  bool ic = false;
  GALE_TRY(Flag(ev, icase, &ic));
  return ev.GetRegex(p, ic, re);
}

Status GaveUp() {
  return Status::Error("regular expression gave up (too much work for this input)");
}

Status RegexMatch(Evaluator& ev, Value& in, std::vector<Value>& args, Value* out) {
  std::string text;
  const Regex* re = nullptr;
  GALE_TRY(RegexArgs(ev, in, args[0], args[1], &text, &re));
  auto r = re->Match(text);
  if (!r) return GaveUp();
  *out = Value::Of(*r);
  return Status::Ok();
}

Status RegexSearch(Evaluator& ev, Value& in, std::vector<Value>& args, Value* out) {
  std::string text;
  const Regex* re = nullptr;
  GALE_TRY(RegexArgs(ev, in, args[0], args[1], &text, &re));
  auto r = re->Search(text);
  if (!r) return GaveUp();
  *out = Value::Of(*r);
  return Status::Ok();
}

// Iterates non-overlapping matches as re.finditer does (an empty match right after a match is
// allowed, as in Python 3.7+). `visit` returns false to stop.
template <class Visit>
Status ForEachMatch(const Regex& re, const std::string& text, Visit visit) {
  std::vector<Regex::Group> groups;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto found = re.Find(text, pos, false, &groups);
    if (!found) return GaveUp();
    if (!*found) break;
    Status st;
    if (!visit(groups, &st)) return st;
    auto b = static_cast<std::size_t>(groups[0].begin);
    auto e = static_cast<std::size_t>(groups[0].end);
    if (e > b) {
      pos = e;
    } else {
      if (b >= text.size()) break;
      std::size_t i = b;
      py::DecodeUtf8(text, i);
      pos = i;
    }
  }
  return Status::Ok();
}

// Expands a Python re.sub replacement: \1, \g<1>, \g<name>, \n and friends.
Status ExpandReplacement(const std::string& repl, const Regex& re, const std::string& text,
                         const std::vector<Regex::Group>& groups, std::string* out) {
  for (std::size_t i = 0; i < repl.size(); ++i) {
    char c = repl[i];
    if (c != '\\' || i + 1 >= repl.size()) {
      out->push_back(c);
      continue;
    }
    char e = repl[++i];
    int group = -1;
    if (e >= '0' && e <= '9') {
      group = e - '0';
      if (i + 1 < repl.size() && repl[i + 1] >= '0' && repl[i + 1] <= '9') {
        group = group * 10 + (repl[++i] - '0');
      }
    } else if (e == 'g') {
      std::size_t close = repl.find('>', i);
      if (i + 1 >= repl.size() || repl[i + 1] != '<' || close == std::string::npos) {
        return Status::Error("missing group name in replacement");
      }
      std::string name = repl.substr(i + 2, close - i - 2);
      i = close;
      if (!name.empty() &&
          std::all_of(name.begin(), name.end(), [](char d) { return d >= '0' && d <= '9'; })) {
        group = std::stoi(name.substr(0, 6));
      } else {
        group = re.GroupIndex(name);
        if (group < 0) return Status::Error("unknown group name '" + name + "'");
      }
    } else {
      switch (e) {
        case 'n':
          out->push_back('\n');
          continue;
        case 't':
          out->push_back('\t');
          continue;
        case 'r':
          out->push_back('\r');
          continue;
        case 'f':
          out->push_back('\f');
          continue;
        case 'v':
          out->push_back('\v');
          continue;
        case 'a':
          out->push_back('\a');
          continue;
        case '\\':
          out->push_back('\\');
          continue;
        default:
          if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z')) {
            return Status::Error(std::string("bad escape \\") + e + " in replacement");
          }
          out->push_back('\\');
          out->push_back(e);
          continue;
      }
    }
    if (group < 0 || static_cast<std::size_t>(group) > re.group_count()) {
      return Status::Error("invalid group reference " + std::to_string(group));
    }
    const Regex::Group& g = groups[static_cast<std::size_t>(group)];
    if (g.matched()) {
      out->append(text, static_cast<std::size_t>(g.begin),
                  static_cast<std::size_t>(g.end - g.begin));
    }
  }
  return Status::Ok();
}

Status RegexReplace(Evaluator& ev, Value& in, std::vector<Value>& args, Value* out) {
  std::string text, repl;
  const Regex* re = nullptr;
  Status st = RegexArgs(ev, in, args[0], args[2], &text, &re);
  if (!st.ok()) return st;
  GALE_TRY(NeedString(ev, args[1], "replacement", &repl));
  std::string r;
  std::size_t last = 0;
  const std::size_t cap = ev.ctx().limits.max_output_bytes;
  st = ForEachMatch(*re, text, [&](const std::vector<Regex::Group>& g, Status* err) {
    auto b = static_cast<std::size_t>(g[0].begin);
    r.append(text, last, b - last);
    *err = ExpandReplacement(repl, *re, text, g, &r);
    last = static_cast<std::size_t>(g[0].end);
    if (err->ok() && r.size() > cap) *err = ev.TooBig();
    return err->ok();
  });
  if (!st.ok()) return st;
  r.append(text, last, std::string::npos);
  GALE_TRY(ev.CheckSize(r.size()));
  *out = Value::Of(std::move(r));
  return Status::Ok();
}

Status RegexSubstring(Evaluator& ev, Value& in, std::vector<Value>& args, Value* out) {
  std::string text;
  const Regex* re = nullptr;
  Status st = RegexArgs(ev, in, args[0], args[2], &text, &re);
  if (!st.ok()) return st;
  long long index = 0;
  if (Given(args[1])) {
    GALE_TRY(NeedInt(ev, args[1], "result_index", &index));
  }
  // re.findall: whole matches without groups, group 1 with one group, tuples with several.
  std::vector<Json> found;
  auto group_text = [&](const Regex::Group& g) {
    return g.matched() ? text.substr(static_cast<std::size_t>(g.begin),
                                     static_cast<std::size_t>(g.end - g.begin))
                       : std::string();
  };
  st = ForEachMatch(*re, text, [&](const std::vector<Regex::Group>& g, Status*) {
    if (re->group_count() == 0) {
      found.emplace_back(group_text(g[0]));
    } else if (re->group_count() == 1) {
      found.emplace_back(group_text(g[1]));
    } else {
      Json tuple = Json::array();
      for (std::size_t k = 1; k < g.size(); ++k) tuple.push_back(group_text(g[k]));
      found.push_back(std::move(tuple));
    }
    return index < 0 || found.size() <= static_cast<std::size_t>(index);
  });
  if (!st.ok()) return st;
  long long n = static_cast<long long>(found.size());
  long long k = index < 0 ? index + n : index;
  if (k < 0 || k >= n)
    return Status::Error("list index out of range (no match number " + std::to_string(index) + ")");
  *out = Value::Of(std::move(found[static_cast<std::size_t>(k)]));
  if (out->json().is_array()) out->tuple = true;
  return Status::Ok();
}

Status PathArg(Evaluator& ev, Value& in, std::string* path) {
  const Json* j = nullptr;
  GALE_TRY(ev.JsonOf(in, &j));
  if (!j->is_string()) {
    return Status::Error(std::string("expected str, bytes or os.PathLike object, not ") +
                         py::TypeName(*j));
  }
  *path = j->get_ref<const std::string&>();
  return Status::Ok();
}

Status Basename(Evaluator& ev, Value& in, std::vector<Value>&, Value* out) {
  std::string p;
  GALE_TRY(PathArg(ev, in, &p));
  std::size_t slash = p.rfind('/');
  *out = Value::Of(slash == std::string::npos ? p : p.substr(slash + 1));
  return Status::Ok();
}

Status Dirname(Evaluator& ev, Value& in, std::vector<Value>&, Value* out) {
  std::string p;
  GALE_TRY(PathArg(ev, in, &p));
  std::size_t slash = p.rfind('/');
  std::string head = slash == std::string::npos ? "" : p.substr(0, slash + 1);
  // posixpath.dirname strips trailing slashes unless the head is all slashes.
  if (!head.empty() && head.find_first_not_of('/') != std::string::npos) {
    while (!head.empty() && head.back() == '/') head.pop_back();
  }
  *out = Value::Of(std::move(head));
  return Status::Ok();
}

Status UseNone(Evaluator& ev, Value& in, std::vector<Value>&, Value* out) {
  if (in.defined()) {
    GALE_TRY(ev.Need(in));
    if (in.json().is_null()) {
      *out = Value::Of(std::string(kNoneMagic));
      return Status::Ok();
    }
  }
  *out = std::move(in);
  return Status::Ok();
}

Status DecryptKv(Evaluator& ev, Value& in, std::vector<Value>&, Value* out) {
  bool from_datastore = in.kind == Value::Kind::kKvKey;
  std::string name =
      "st2kv." + std::string(in.scope == KvScope::kSystem ? "system." : "user.") + in.text;
  // The key it is read from, which a sealed value must have been sealed for (StrOf resolves
  // `in` to the value).
  std::optional<KvKey> from;
  if (from_datastore) from = KvKey{in.scope, in.text};
  std::string cipher;
  GALE_TRY(ev.StrOf(in, &cipher));
  if (from_datastore && cipher.empty()) {
    return Status::Error("Referenced datastore item \"" + name +
                         "\" doesn't exist or it contains an empty string");
  }
  if (!ev.ctx().decrypt) return Status::Error("no datastore decryption is configured");
  GALE_ASSIGN_OR_RETURN(auto plain, ev.ctx().decrypt(from, cipher));
  *out = Value::Of(std::move(plain));
  return Status::Ok();
}

Status JsonpathQuery(Evaluator& ev, Value& in, std::vector<Value>& args, Value* out) {
  const Json* j = nullptr;
  GALE_TRY(ev.JsonOf(in, &j));
  std::string query;
  GALE_TRY(NeedString(ev, args[0], "query", &query));
  if (query == "$") {
    *out = Value::Of(Json::array({*j}));
    return Status::Ok();
  }
  if (query.rfind("$.", 0) == 0) query = query.substr(2);
  GALE_ASSIGN_OR_RETURN(auto path, ParseKeyPath(query));
  KeyPath full;
  full.steps.push_back({PathStep::Kind::kField, path.root, 0});
  if (path.root == "*") full.steps.back().kind = PathStep::Kind::kAnyField;
  for (auto& step : path.steps) full.steps.push_back(step);
  auto all = LookupAll(*j, full, 100000);
  *out = all.empty() ? Value::Of(nullptr) : Value::Of(Json(std::move(all)));
  return Status::Ok();
}

// ---- tests ----

Status TestDefined(Evaluator&, Value& in, std::vector<Value>&, bool* out) {
  *out = in.defined();
  return Status::Ok();
}
Status TestUndefined(Evaluator&, Value& in, std::vector<Value>&, bool* out) {
  *out = !in.defined();
  return Status::Ok();
}

template <bool (*Pred)(const Json&)>
Status TestJson(Evaluator& ev, Value& in, std::vector<Value>&, bool* out) {
  const Json* j = nullptr;
  GALE_TRY(ev.JsonOf(in, &j));
  *out = Pred(*j);
  return Status::Ok();
}

bool IsNone(const Json& j) {
  return j.is_null();
}
bool IsNumber(const Json& j) {
  return py::IsNumeric(j);
}  // bool is a Number in Python
bool IsInteger(const Json& j) {
  return j.is_number_integer() || j.is_number_unsigned();
}
bool IsFloat(const Json& j) {
  return j.is_number_float();
}
bool IsStringJ(const Json& j) {
  return j.is_string();
}
bool IsBoolean(const Json& j) {
  return j.is_boolean();
}
bool IsTrue(const Json& j) {
  return j.is_boolean() && j.get<bool>();
}
bool IsFalse(const Json& j) {
  return j.is_boolean() && !j.get<bool>();
}
bool IsMapping(const Json& j) {
  return j.is_object();
}
bool IsSequence(const Json& j) {
  return j.is_string() || j.is_array() || j.is_object();
}
bool IsOdd(const Json& j) {
  return (j.is_number_integer() || j.is_boolean()) &&
         (j.is_boolean() ? j.get<bool>() : (j.get<long long>() % 2 != 0));
}
bool IsEven(const Json& j) {
  return (j.is_number_integer() || j.is_boolean()) && !IsOdd(j);
}
bool IsLowerJ(const Json& j) {
  std::string s = py::Str(j);
  return py::Lower(s) == s && py::Upper(s) != s;
}
bool IsUpperJ(const Json& j) {
  std::string s = py::Str(j);
  return py::Upper(s) == s && py::Lower(s) != s;
}

Status TestDivisibleBy(Evaluator& ev, Value& in, std::vector<Value>& args, bool* out) {
  long long a = 0, b = 0;
  Status st = NeedInt(ev, in, "value", &a);
  if (st.ok()) st = NeedInt(ev, args[0], "divisor", &b);
  if (!st.ok()) return st;
  if (b == 0) return Status::Error("integer division or modulo by zero");
  *out = b == -1 || a % b == 0;
  return Status::Ok();
}

template <CmpOp Op>
Status TestCompare(Evaluator& ev, Value& in, std::vector<Value>& args, bool* out) {
  return ev.Compare(Op, in, args[0], out);
}

const std::vector<FilterSpec>& Filters() {
  static const std::vector<FilterSpec> kFilters = {
      {"default", Default, {"default_value", "boolean"}, 0, true},
      {"d", Default, {"default_value", "boolean"}, 0, true},
      {"upper", Upper, {}, 0, false},
      {"lower", Lower, {}, 0, false},
      {"capitalize", Capitalize, {}, 0, false},
      {"trim", Trim, {"chars"}, 0, false},
      {"replace", Replace, {"old", "new", "count"}, 2, false},
      {"int", Int, {"default", "base"}, 0, false},
      {"float", Float, {"default"}, 0, false},
      {"string", String, {}, 0, false},
      {"length", Length, {}, 0, false},
      {"count", Length, {}, 0, false},
      {"join", Join, {"d", "attribute"}, 0, false},
      {"tojson", ToJson, {"indent"}, 0, false},
      {"first", First, {}, 0, false},
      {"last", Last, {}, 0, false},
      {"abs", Abs, {}, 0, false},
      {"round", Round, {"precision", "method"}, 0, false},
      {"list", List, {}, 0, false},
      {"safe", Safe, {}, 0, false},
      {"to_json_string", ToJsonString, {"indent", "sort_keys", "separators"}, 0, false},
      {"from_json_string", FromJsonString, {}, 0, false},
      {"from_yaml_string", FromYamlString, {}, 0, false},
      {"to_yaml_string", ToYamlString, {"indent", "allow_unicode"}, 0, false},
      {"json_escape", JsonEscape, {}, 0, false},
      {"to_complex", ToComplex, {}, 0, false},
      {"regex_match", RegexMatch, {"pattern", "ignorecase"}, 1, false},
      {"regex_replace", RegexReplace, {"pattern", "replacement", "ignorecase"}, 2, false},
      {"regex_search", RegexSearch, {"pattern", "ignorecase"}, 1, false},
      {"regex_substring", RegexSubstring, {"pattern", "result_index", "ignorecase"}, 1, false},
      {"basename", Basename, {}, 0, false},
      {"dirname", Dirname, {}, 0, false},
      {"use_none", UseNone, {}, 0, true},
      {"decrypt_kv", DecryptKv, {}, 0, false},
      {"jsonpath_query", JsonpathQuery, {"query"}, 1, false},
  };
  return kFilters;
}

const std::vector<TestSpec>& Tests() {
  static const std::vector<TestSpec> kTests = {
      {"defined", TestDefined, 0, true},
      {"undefined", TestUndefined, 0, true},
      {"none", TestJson<IsNone>, 0, false},
      {"number", TestJson<IsNumber>, 0, false},
      {"integer", TestJson<IsInteger>, 0, false},
      {"float", TestJson<IsFloat>, 0, false},
      {"string", TestJson<IsStringJ>, 0, false},
      {"boolean", TestJson<IsBoolean>, 0, false},
      {"true", TestJson<IsTrue>, 0, false},
      {"false", TestJson<IsFalse>, 0, false},
      {"mapping", TestJson<IsMapping>, 0, false},
      {"sequence", TestJson<IsSequence>, 0, false},
      {"iterable", TestJson<IsSequence>, 0, false},
      {"odd", TestJson<IsOdd>, 0, false},
      {"even", TestJson<IsEven>, 0, false},
      {"lower", TestJson<IsLowerJ>, 0, false},
      {"upper", TestJson<IsUpperJ>, 0, false},
      {"divisibleby", TestDivisibleBy, 1, false},
      {"in", TestCompare<CmpOp::kIn>, 1, false},
      {"eq", TestCompare<CmpOp::kEq>, 1, false},
      {"equalto", TestCompare<CmpOp::kEq>, 1, false},
      {"==", TestCompare<CmpOp::kEq>, 1, false},
      {"ne", TestCompare<CmpOp::kNe>, 1, false},
      {"!=", TestCompare<CmpOp::kNe>, 1, false},
      {"lt", TestCompare<CmpOp::kLt>, 1, false},
      {"lessthan", TestCompare<CmpOp::kLt>, 1, false},
      {"<", TestCompare<CmpOp::kLt>, 1, false},
      {"le", TestCompare<CmpOp::kLe>, 1, false},
      {"<=", TestCompare<CmpOp::kLe>, 1, false},
      {"gt", TestCompare<CmpOp::kGt>, 1, false},
      {"greaterthan", TestCompare<CmpOp::kGt>, 1, false},
      {">", TestCompare<CmpOp::kGt>, 1, false},
      {"ge", TestCompare<CmpOp::kGe>, 1, false},
      {">=", TestCompare<CmpOp::kGe>, 1, false},
  };
  return kTests;
}

}  // namespace

const FilterSpec* FindFilter(std::string_view name) {
  for (const auto& f : Filters()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const TestSpec* FindTest(std::string_view name) {
  for (const auto& t : Tests()) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace gale::expr::tmpl

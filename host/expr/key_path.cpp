#include "host/expr/key_path.h"

#include <cctype>
#include <charconv>

#include "host/expr/py_value.h"

namespace gale::expr {

namespace {

bool IsNameChar(char c) {
  return !(c == '.' || c == '[' || c == ']' || c == '\'' || c == '"' || c == '*' || c == ' ' ||
           c == '\t' || c == '\n' || c == '\r' || c == ',' || c == '|' || c == '(' || c == ')' ||
           c == '$' || c == '&' || c == ':' || c == '`');
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

class PathParser {
 public:
  explicit PathParser(std::string_view s) : s_(s) {}

  Result<KeyPath> Parse() {
    KeyPath path;
    Skip();
    std::string root;
    GALE_TRY(Field(&root));
    path.root = std::move(root);
    while (true) {
      Skip();
      if (pos_ >= s_.size()) break;
      char c = s_[pos_];
      if (c == '.') {
        if (pos_ + 1 < s_.size() && s_[pos_ + 1] == '.') return Err("'..' is not supported");
        ++pos_;
        Skip();
        if (pos_ < s_.size() && s_[pos_] == '*') {
          ++pos_;
          path.steps.push_back({PathStep::Kind::kAnyField, "", 0});
          continue;
        }
        PathStep step;
        std::size_t at = pos_;
        bool quoted = pos_ < s_.size() && (s_[pos_] == '\'' || s_[pos_] == '"');
        GALE_TRY(Field(&step.name));
        if (!quoted && AllDigits(step.name)) {
          step.kind = PathStep::Kind::kFieldOrIndex;
          auto r =
              std::from_chars(step.name.data(), step.name.data() + step.name.size(), step.index);
          if (r.ec != std::errc()) return ErrAt("index out of range", at);
        }
        path.steps.push_back(std::move(step));
      } else if (c == '[') {
        ++pos_;
        Skip();
        if (pos_ < s_.size() && s_[pos_] == '*') {
          ++pos_;
          path.steps.push_back({PathStep::Kind::kAnyItem, "", 0});
        } else if (pos_ < s_.size() && (s_[pos_] == '\'' || s_[pos_] == '"')) {
          PathStep step;
          GALE_TRY(Field(&step.name));
          path.steps.push_back(std::move(step));
        } else {
          std::size_t at = pos_;
          bool negative = pos_ < s_.size() && s_[pos_] == '-';
          if (negative) ++pos_;
          std::size_t start = pos_;
          while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
          if (start == pos_) return ErrAt("expected an index, '*' or a quoted name", at);
          long long v = 0;
          auto r = std::from_chars(s_.data() + start, s_.data() + pos_, v);
          if (r.ec != std::errc()) return ErrAt("index out of range", at);
          Skip();
          if (pos_ < s_.size() && s_[pos_] == ':') return ErrAt("slices are not supported", at);
          path.steps.push_back({PathStep::Kind::kIndex, "", negative ? -v : v});
        }
        Skip();
        if (pos_ >= s_.size() || s_[pos_] != ']') return Err("expected ']'");
        ++pos_;
      } else {
        return Err(std::string("unexpected '") + c + "'");
      }
    }
    return path;
  }

 private:
  Status Err(const std::string& what) const { return ErrAt(what, pos_); }
  Status ErrAt(const std::string& what, std::size_t at) const {
    return Status::Error("invalid key '" + std::string(s_) + "': " + what + " at column " +
                         std::to_string(at + 1));
  }
  void Skip() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }
  Status Field(std::string* out) {
    if (pos_ < s_.size() && (s_[pos_] == '\'' || s_[pos_] == '"')) {
      char q = s_[pos_];
      std::size_t end = s_.find(q, pos_ + 1);
      if (end == std::string_view::npos) return Err("unterminated quoted name");
      *out = std::string(s_.substr(pos_ + 1, end - pos_ - 1));
      pos_ = end + 1;
      return Status::Ok();
    }
    std::size_t start = pos_;
    while (pos_ < s_.size() && IsNameChar(s_[pos_])) ++pos_;
    if (start == pos_) return Err("expected a name");
    *out = std::string(s_.substr(start, pos_ - start));
    return Status::Ok();
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

// Python's str indexing: the code point at `index` (negative from the end).
bool StringChar(const std::string& s, long long index, Json* out) {
  std::vector<std::pair<std::size_t, std::size_t>> cps;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t start = i;
    py::DecodeUtf8(s, i);
    cps.emplace_back(start, i - start);
  }
  long long n = static_cast<long long>(cps.size());
  if (index < 0) index += n;
  if (index < 0 || index >= n) return false;
  auto [start, len] = cps[static_cast<std::size_t>(index)];
  *out = s.substr(start, len);
  return true;
}

// Calls `visit(value)` for each match in order; visit returns false to stop. Returns false when
// a step raised (see Lookup).
// `temporary` marks a value built during the walk (a character of an indexed string), which
// the visitor must copy; anything else lives in the walked document.
template <class Visit>
bool Walk(const Json& v, const std::vector<PathStep>& steps, std::size_t i, Visit& visit,
          bool* stop, int depth, bool temporary = false) {
  if (*stop) return true;
  if (i == steps.size()) {
    if (!visit(v, temporary)) *stop = true;
    return true;
  }
  if (depth > py::kMaxDepth) return false;
  const PathStep& step = steps[i];
  auto index_into = [&](long long index) -> bool {
    if (v.is_array()) {
      long long n = static_cast<long long>(v.size());
      long long k = index < 0 ? index + n : index;
      if (k < 0 || k >= n) return true;  // missing
      return Walk(v[static_cast<std::size_t>(k)], steps, i + 1, visit, stop, depth + 1);
    }
    if (v.is_string()) {
      Json ch;
      if (!StringChar(v.get_ref<const std::string&>(), index, &ch)) return true;
      return Walk(ch, steps, i + 1, visit, stop, depth + 1, true);
    }
    return false;
  };
  switch (step.kind) {
    case PathStep::Kind::kField: {
      if (!v.is_object()) return true;
      auto it = v.find(step.name);
      if (it == v.end()) return true;
      return Walk(*it, steps, i + 1, visit, stop, depth + 1);
    }
    case PathStep::Kind::kFieldOrIndex: {
      if (v.is_object()) {
        auto it = v.find(step.name);
        if (it == v.end()) return true;
        return Walk(*it, steps, i + 1, visit, stop, depth + 1);
      }
      if (v.is_array()) return index_into(step.index);
      return true;
    }
    case PathStep::Kind::kIndex:
      return index_into(step.index);
    case PathStep::Kind::kAnyField:
      if (!v.is_object()) return true;
      for (const auto& item : v) {
        if (!Walk(item, steps, i + 1, visit, stop, depth + 1)) return false;
        if (*stop) break;
      }
      return true;
    case PathStep::Kind::kAnyItem:
      if (!v.is_array()) return Walk(v, steps, i + 1, visit, stop, depth + 1, temporary);
      for (const auto& item : v) {
        if (!Walk(item, steps, i + 1, visit, stop, depth + 1)) return false;
        if (*stop) break;
      }
      return true;
  }
  return true;
}

}  // namespace

Result<KeyPath> ParseKeyPath(std::string_view key) {
  return PathParser(key).Parse();
}

LookupStatus Lookup(const Json& value, const KeyPath& path, const Json** out, Json* scratch) {
  // Fast path: plain fields and list indexes, no copies.
  const Json* cur = &value;
  bool simple = true;
  for (const PathStep& step : path.steps) {
    if (step.kind == PathStep::Kind::kField ||
        (step.kind == PathStep::Kind::kFieldOrIndex && cur->is_object())) {
      if (!cur->is_object()) return LookupStatus::kMissing;
      auto it = cur->find(step.name);
      if (it == cur->end()) return LookupStatus::kMissing;
      cur = &*it;
    } else if ((step.kind == PathStep::Kind::kIndex ||
                step.kind == PathStep::Kind::kFieldOrIndex) &&
               cur->is_array()) {
      long long n = static_cast<long long>(cur->size());
      long long k = step.index < 0 ? step.index + n : step.index;
      if (k < 0 || k >= n) return LookupStatus::kMissing;
      cur = &(*cur)[static_cast<std::size_t>(k)];
    } else {
      simple = false;
      break;
    }
  }
  if (simple) {
    *out = cur;
    return LookupStatus::kFound;
  }
  bool found = false;
  auto visit = [&](const Json& v, bool temporary) {
    if (temporary) {
      *scratch = v;  // a one-character string
      *out = scratch;
    } else {
      *out = &v;
    }
    found = true;
    return false;
  };
  bool stop = false;
  if (!Walk(value, path.steps, 0, visit, &stop, 0)) return LookupStatus::kError;
  return found ? LookupStatus::kFound : LookupStatus::kMissing;
}

std::vector<Json> LookupAll(const Json& value, const KeyPath& path, std::size_t limit) {
  std::vector<Json> all;
  auto visit = [&](const Json& v, bool) {
    if (py::DepthAtMost(v, py::kMaxDepth)) all.push_back(v);
    return all.size() < limit;
  };
  bool stop = false;
  Walk(value, path.steps, 0, visit, &stop, 0);
  return all;
}

}  // namespace gale::expr

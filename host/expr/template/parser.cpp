// Lexer and recursive-descent parser for the Jinja subset (grammar and precedence as Jinja 3's
// parser: or < and < not < comparisons < + - < ~ < * / // % < ** < unary -/+ < postfix and
// filters; `-x|f` is `(-x)|f`, `a ~ b|f` is `a ~ (b|f)`, ** is left-associative).
#include <algorithm>
#include <cstdint>

#include "host/expr/py_value.h"
#include "host/expr/template/ast.h"

namespace gale::expr::tmpl {

namespace {

constexpr int kMaxNesting = 100;
constexpr std::size_t kMaxSourceBytes = 1 << 20;

enum class Tok : std::uint8_t {
  kText,
  kVarBegin,
  kVarEnd,
  kBlockBegin,
  kBlockEnd,
  kName,
  kInt,
  kFloat,
  kString,
  kOp,
  kEof
};

struct Token {
  Tok kind = Tok::kEof;
  std::string text;
  Json number;
  std::size_t pos = 0;
  std::size_t end = 0;
};

std::string Where(const std::string& src, std::size_t pos) {
  pos = std::min(pos, src.size());
  std::size_t line = 1 + static_cast<std::size_t>(std::count(
                             src.begin(), src.begin() + static_cast<std::ptrdiff_t>(pos), '\n'));
  std::size_t line_start = src.rfind('\n', pos == 0 ? 0 : pos - 1);
  line_start = (line_start == std::string::npos || pos == 0) ? 0 : line_start + 1;
  std::size_t column =
      py::CodePointCount(std::string_view(src).substr(line_start, pos - line_start)) + 1;
  if (src.find('\n') == std::string::npos) return "column " + std::to_string(column);
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

bool IsIdentStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool IsIdent(char c) {
  return IsIdentStart(c) || (c >= '0' && c <= '9');
}
bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

class Lexer {
 public:
  explicit Lexer(const std::string& src) : src_(src) {}

  Status Run(std::vector<Token>* out) {
    out_ = out;
    const std::size_t n = src_.size();
    while (pos_ < n) {
      std::size_t start = FindTag(pos_);
      std::size_t seg = pos_;
      std::string text = src_.substr(pos_, start - pos_);
      if (strip_next_) {
        std::size_t k = 0;
        while (k < text.size() && IsSpace(text[k])) ++k;
        text.erase(0, k);
        seg += k;
      } else if (trim_next_ && !text.empty() && text[0] == '\n') {
        text.erase(0, 1);
        ++seg;
      }
      strip_next_ = trim_next_ = false;
      if (start >= n) {
        EmitText(std::move(text), seg);
        break;
      }
      char tag = src_[start + 1];
      char modifier = start + 2 < n ? src_[start + 2] : '\0';
      if (modifier != '-' && modifier != '+') modifier = '\0';
      if (modifier == '-') {
        while (!text.empty() && IsSpace(text.back())) text.pop_back();
      } else if ((tag == '%' || tag == '#') && modifier != '+') {
        // lstrip_blocks: drop spaces and tabs between the start of the line and the tag.
        std::size_t nl = text.rfind('\n');
        std::size_t line_start = nl == std::string::npos ? 0 : nl + 1;
        bool at_line_start = nl != std::string::npos || seg == 0 || src_[seg - 1] == '\n';
        if (at_line_start && text.find_first_not_of(" \t", line_start) == std::string::npos) {
          text.erase(line_start);
        }
      }
      EmitText(std::move(text), seg);
      std::size_t inner = start + 2 + (modifier ? 1 : 0);
      Status s;
      if (tag == '#') {
        s = Comment(start, inner);
      } else if (tag == '%' && IsRaw(inner)) {
        s = Raw(start, inner);
      } else {
        s = Tag(tag == '{' ? Tok::kVarBegin : Tok::kBlockBegin, start, inner);
      }
      if (!s.ok()) return s;
    }
    out_->push_back({Tok::kEof, "", Json(), n, n});
    return Status::Ok();
  }

 private:
  Status Err(const std::string& what, std::size_t at) const {
    return Status::Error(what + " at " + Where(src_, at));
  }

  std::size_t FindTag(std::size_t from) const {
    std::size_t p = from;
    while (true) {
      p = src_.find('{', p);
      if (p == std::string::npos || p + 1 >= src_.size()) return src_.size();
      char c = src_[p + 1];
      if (c == '{' || c == '%' || c == '#') return p;
      ++p;
    }
  }

  void EmitText(std::string text, std::size_t at) {
    if (text.empty()) return;
    if (!out_->empty() && out_->back().kind == Tok::kText) {
      out_->back().text += text;
      return;
    }
    out_->push_back({Tok::kText, std::move(text), Json(), at, at});
  }

  Status Comment(std::size_t start, std::size_t inner) {
    std::size_t end = src_.find("#}", inner);
    if (end == std::string::npos) return Err("missing end of comment tag", start);
    if (end > inner && src_[end - 1] == '-') {
      strip_next_ = true;
    } else if (!(end > inner && src_[end - 1] == '+')) {
      trim_next_ = true;
    }
    pos_ = end + 2;
    return Status::Ok();
  }

  // "{% raw %}" (any spacing, whitespace control allowed)?
  bool IsRaw(std::size_t inner) const {
    std::size_t p = inner;
    while (p < src_.size() && IsSpace(src_[p])) ++p;
    if (src_.compare(p, 3, "raw") != 0) return false;
    p += 3;
    if (p < src_.size() && IsIdent(src_[p])) return false;
    while (p < src_.size() && IsSpace(src_[p])) ++p;
    if (p < src_.size() && src_[p] == '-') ++p;
    return src_.compare(p, 2, "%}") == 0;
  }

  Status Raw(std::size_t start, std::size_t inner) {
    std::size_t close = src_.find("%}", inner);
    bool strip_body_front = close > 0 && src_[close - 1] == '-';
    std::size_t body = close + 2;
    std::size_t p = body;
    while (true) {
      p = src_.find("{%", p);
      if (p == std::string::npos) return Err("missing end of raw directive", start);
      std::size_t q = p + 2;
      bool strip_body_back = q < src_.size() && src_[q] == '-';
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) ++q;
      while (q < src_.size() && IsSpace(src_[q])) ++q;
      if (src_.compare(q, 6, "endraw") == 0 && !(q + 6 < src_.size() && IsIdent(src_[q + 6]))) {
        q += 6;
        while (q < src_.size() && IsSpace(src_[q])) ++q;
        bool strip_after = q < src_.size() && src_[q] == '-';
        if (strip_after || (q < src_.size() && src_[q] == '+')) ++q;
        if (src_.compare(q, 2, "%}") == 0) {
          std::string text = src_.substr(body, p - body);
          if (strip_body_front) {
            std::size_t k = 0;
            while (k < text.size() && IsSpace(text[k])) ++k;
            text.erase(0, k);
          }
          if (strip_body_back) {
            while (!text.empty() && IsSpace(text.back())) text.pop_back();
          }
          EmitText(std::move(text), body);
          pos_ = q + 2;
          strip_next_ = strip_after;
          trim_next_ = !strip_after && src_[q - 1] != '+';
          return Status::Ok();
        }
      }
      p += 2;
    }
  }

  Status Tag(Tok begin, std::size_t start, std::size_t inner) {
    const bool block = begin == Tok::kBlockBegin;
    const char* close = block ? "%}" : "}}";
    out_->push_back({begin, "", Json(), start, inner});
    std::size_t p = inner;
    int depth = 0;
    const std::size_t n = src_.size();
    while (true) {
      while (p < n && IsSpace(src_[p])) ++p;
      if (p >= n) {
        return Err(std::string("unexpected end of template, expected '") + close + "'", p);
      }
      if (depth == 0) {
        bool minus = src_[p] == '-' && src_.compare(p + 1, 2, close) == 0;
        bool plus = block && src_[p] == '+' && src_.compare(p + 1, 2, close) == 0;
        if (minus || plus || src_.compare(p, 2, close) == 0) {
          std::size_t end = p + 2 + ((minus || plus) ? 1 : 0);
          out_->push_back({block ? Tok::kBlockEnd : Tok::kVarEnd, close, Json(), p, end});
          strip_next_ = minus;
          trim_next_ = block && !minus && !plus;
          pos_ = end;
          return Status::Ok();
        }
      }
      char c = src_[p];
      std::size_t tok_start = p;
      if (IsIdentStart(c)) {
        while (p < n && IsIdent(src_[p])) ++p;
        out_->push_back({Tok::kName, src_.substr(tok_start, p - tok_start), Json(), tok_start, p});
        continue;
      }
      if (IsDigit(c)) {
        GALE_TRY(Number(&p));
        continue;
      }
      if (c == '\'' || c == '"') {
        GALE_TRY(String(&p));
        continue;
      }
      static const char* kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*",
                                   "/",  "%",  "~",  "<",  ">",  "(",  ")", "[", "]",
                                   "{",  "}",  ",",  ".",  ":",  "|",  "="};
      const char* op = nullptr;
      for (const char* candidate : kOps) {
        if (src_.compare(p, std::char_traits<char>::length(candidate), candidate) == 0) {
          op = candidate;
          break;
        }
      }
      if (!op) return Err(std::string("unexpected char '") + c + "'", p);
      std::size_t len = std::char_traits<char>::length(op);
      if (len == 1 && (c == '(' || c == '[' || c == '{')) ++depth;
      if (len == 1 && (c == ')' || c == ']' || c == '}')) {
        if (depth == 0) return Err(std::string("unexpected '") + c + "'", p);
        --depth;
      }
      p += len;
      out_->push_back({Tok::kOp, op, Json(), tok_start, p});
    }
  }

  static bool Digits(const std::string& s, std::size_t* p, std::string* out) {
    std::size_t start = *p;
    while (*p < s.size() && (IsDigit(s[*p]) || (s[*p] == '_' && *p + 1 < s.size() &&
                                                IsDigit(s[*p + 1]) && *p > start))) {
      if (s[*p] != '_') out->push_back(s[*p]);
      ++*p;
    }
    return *p > start;
  }

  Status Number(std::size_t* p) {
    std::size_t start = *p;
    const std::size_t n = src_.size();
    bool after_dot = !out_->empty() && out_->back().kind == Tok::kOp && out_->back().text == ".";
    if (!after_dot && src_[start] == '0' && start + 1 < n &&
        (src_[start + 1] == 'x' || src_[start + 1] == 'X' || src_[start + 1] == 'o' ||
         src_[start + 1] == 'O' || src_[start + 1] == 'b' || src_[start + 1] == 'B')) {
      std::size_t q = start + 2;
      while (q < n && (IsIdent(src_[q]))) ++q;
      auto v = py::ParseInt(std::string_view(src_).substr(start, q - start), 0);
      if (!v) return Err("invalid integer literal", start);
      *p = q;
      out_->push_back({Tok::kInt, "", Json(*v), start, q});
      return Status::Ok();
    }
    std::string digits;
    Digits(src_, p, &digits);
    bool is_float = false;
    if (!after_dot && *p + 1 < n && src_[*p] == '.' && IsDigit(src_[*p + 1])) {
      digits.push_back('.');
      ++*p;
      Digits(src_, p, &digits);
      is_float = true;
    }
    if (!after_dot && *p < n && (src_[*p] == 'e' || src_[*p] == 'E')) {
      std::size_t q = *p + 1;
      if (q < n && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < n && IsDigit(src_[q])) {
        digits.push_back('e');
        if (src_[*p + 1] == '-') digits.push_back('-');
        *p = q;
        Digits(src_, p, &digits);
        is_float = true;
      }
    }
    if (is_float) {
      auto v = py::ParseFloat(digits);
      if (!v) return Err("invalid number", start);
      out_->push_back({Tok::kFloat, "", Json(*v), start, *p});
    } else {
      auto v = py::ParseInt(digits, 10);
      if (!v) return Err("integer literal out of range", start);
      out_->push_back({Tok::kInt, "", Json(*v), start, *p});
    }
    return Status::Ok();
  }

  // Python string literal escapes (Jinja decodes string literals with unicode-escape).
  Status String(std::size_t* p) {
    std::size_t start = *p;
    char quote = src_[start];
    std::string out;
    std::size_t i = start + 1;
    const std::size_t n = src_.size();
    while (true) {
      if (i >= n) return Err("unterminated string", start);
      char c = src_[i];
      if (c == quote) {
        ++i;
        break;
      }
      if (c != '\\') {
        out.push_back(c);
        ++i;
        continue;
      }
      if (i + 1 >= n) return Err("unterminated string", start);
      char e = src_[i + 1];
      i += 2;
      auto hex = [&](int count) -> Status {
        char32_t v = 0;
        for (int k = 0; k < count; ++k) {
          if (i >= n) return Err("truncated escape in string", start);
          char h = src_[i];
          int d = IsDigit(h)               ? h - '0'
                  : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                  : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                           : -1;
          if (d < 0) return Err("truncated escape in string", start);
          v = v * 16 + static_cast<char32_t>(d);
          ++i;
        }
        if (v > 0x10ffff) return Err("illegal Unicode character in string", start);
        py::AppendUtf8(out, v);
        return Status::Ok();
      };
      Status s;
      switch (e) {
        case '\\':
          out.push_back('\\');
          break;
        case '\'':
          out.push_back('\'');
          break;
        case '"':
          out.push_back('"');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 'a':
          out.push_back('\a');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'v':
          out.push_back('\v');
          break;
        case '\n':
          break;  // line continuation
        case 'x':
          s = hex(2);
          break;
        case 'u':
          s = hex(4);
          break;
        case 'U':
          s = hex(8);
          break;
        case 'N':
          return Err("\\N{...} escapes are not supported", start);
        default:
          if (e >= '0' && e <= '7') {
            char32_t v = static_cast<char32_t>(e - '0');
            for (int k = 0; k < 2 && i < n && src_[i] >= '0' && src_[i] <= '7'; ++k, ++i) {
              v = v * 8 + static_cast<char32_t>(src_[i] - '0');
            }
            py::AppendUtf8(out, v);
          } else {
            out.push_back('\\');
            out.push_back(e);
          }
      }
      if (!s.ok()) return s;
    }
    *p = i;
    out_->push_back({Tok::kString, std::move(out), Json(), start, i});
    return Status::Ok();
  }

  const std::string& src_;
  std::vector<Token>* out_ = nullptr;
  std::size_t pos_ = 0;
  bool strip_next_ = false;  // "-}}" / "-%}": strip all whitespace that follows
  bool trim_next_ = false;   // trim_blocks: drop one newline after a block tag
};

// ---- parser ----

using ExprPtr = std::unique_ptr<Expr>;

bool MentionsLoop(const Expr* e) {
  if (!e) return false;
  if (e->kind == ExprKind::kName && e->name == "loop") return true;
  for (const auto& a : e->args) {
    if (MentionsLoop(a.get())) return true;
  }
  return false;
}

bool MentionsLoop(const std::vector<Node>& nodes) {
  for (const Node& n : nodes) {
    if (MentionsLoop(n.expr.get())) return true;
    for (const auto& c : n.conditions) {
      if (MentionsLoop(c.get())) return true;
    }
    for (const auto& b : n.branches) {
      if (MentionsLoop(b)) return true;
    }
    if (MentionsLoop(n.body) || MentionsLoop(n.else_body)) return true;
  }
  return false;
}

class Parser {
 public:
  Parser(const std::string& src, std::vector<Token> toks, const ExprFunctions* functions)
      : src_(src), toks_(std::move(toks)), functions_(functions) {}

  Status ParseTemplate(std::vector<Node>* out) {
    std::string stop;
    GALE_TRY(Body(out, {}, &stop, 0));
    return Status::Ok();
  }

 private:
  const Token& Cur() const { return toks_[i_]; }
  const Token& Peek(std::size_t k = 1) const { return toks_[std::min(i_ + k, toks_.size() - 1)]; }
  void Next() {
    if (i_ + 1 < toks_.size()) ++i_;
  }
  bool IsOp(const char* op) const { return Cur().kind == Tok::kOp && Cur().text == op; }
  bool IsName(const char* name) const { return Cur().kind == Tok::kName && Cur().text == name; }

  std::string Describe(const Token& t) const {
    switch (t.kind) {
      case Tok::kEof:
        return "end of template";
      case Tok::kVarEnd:
        return "'}}'";
      case Tok::kBlockEnd:
        return "'%}'";
      case Tok::kVarBegin:
        return "'{{'";
      case Tok::kBlockBegin:
        return "'{%'";
      case Tok::kText:
        return "text";
      case Tok::kString:
        return "string";
      case Tok::kInt:
      case Tok::kFloat:
        return "number";
      default:
        return "'" + t.text + "'";
    }
  }
  Status Err(const std::string& what, std::size_t at) const {
    return Status::Error(what + " at " + Where(src_, at));
  }
  Status Unexpected() const { return Err("unexpected " + Describe(Cur()), Cur().pos); }
  Status Expect(const char* op) {
    if (!IsOp(op)) {
      return Err(std::string("expected '") + op + "', got " + Describe(Cur()), Cur().pos);
    }
    Next();
    return Status::Ok();
  }
  Status ExpectEnd(Tok kind) {
    if (Cur().kind != kind) {
      const char* what = kind == Tok::kVarEnd ? "'}}'" : "'%}'";
      return Err(std::string("expected ") + what + ", got " + Describe(Cur()), Cur().pos);
    }
    Next();
    return Status::Ok();
  }
  Status Enter(int* depth, std::size_t at) {
    if (++*depth > kMaxNesting) return Err("template nested too deeply", at);
    return Status::Ok();
  }

  ExprPtr Make(ExprKind kind, std::size_t begin) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->begin = begin;
    e->end = toks_[i_ > 0 ? i_ - 1 : 0].end;
    return e;
  }
  void Close(Expr& e) { e.end = toks_[i_ > 0 ? i_ - 1 : 0].end; }

  // ---- statements ----

  // Parses nodes until a block tag whose keyword is in `stops` (left unconsumed after the
  // keyword: *stop receives it) or the end of the template.
  Status Body(std::vector<Node>* out, std::vector<std::string> stops, std::string* stop,
              int depth) {
    Status s = Enter(&depth, Cur().pos);
    if (!s.ok()) return s;
    while (true) {
      const Token& t = Cur();
      switch (t.kind) {
        case Tok::kText: {
          Node n;
          n.kind = NodeKind::kText;
          n.text = t.text;
          out->push_back(std::move(n));
          Next();
          break;
        }
        case Tok::kVarBegin: {
          Next();
          Node n;
          n.kind = NodeKind::kOutput;
          GALE_TRY(Expression(&n.expr, depth));
          GALE_TRY(ExpectEnd(Tok::kVarEnd));
          out->push_back(std::move(n));
          break;
        }
        case Tok::kBlockBegin: {
          std::size_t at = t.pos;
          Next();
          if (Cur().kind != Tok::kName)
            return Err("expected a tag name, got " + Describe(Cur()), Cur().pos);
          std::string kw = Cur().text;
          if (std::find(stops.begin(), stops.end(), kw) != stops.end()) {
            Next();
            *stop = kw;
            return Status::Ok();
          }
          Next();
          Node n;
          if (kw == "if") {
            s = If(&n, depth);
          } else if (kw == "for") {
            s = For(&n, depth);
          } else if (kw == "set") {
            s = Set(&n, depth);
          } else if (kw == "endif" || kw == "endfor" || kw == "else" || kw == "elif") {
            return Err("unexpected '" + kw + "'", at);
          } else {
            return Err("unknown tag '" + kw + "'", at);
          }
          if (!s.ok()) return s;
          out->push_back(std::move(n));
          break;
        }
        case Tok::kEof:
          if (!stops.empty()) {
            return Err("unexpected end of template, expected '" + stops.back() + "'", t.pos);
          }
          return Status::Ok();
        default:
          return Unexpected();
      }
    }
  }

  Status If(Node* n, int depth) {
    n->kind = NodeKind::kIf;
    while (true) {
      ExprPtr cond;
      GALE_TRY(Expression(&cond, depth));
      GALE_TRY(ExpectEnd(Tok::kBlockEnd));
      std::vector<Node> body;
      std::string stop;
      GALE_TRY(Body(&body, {"elif", "else", "endif"}, &stop, depth + 1));
      n->conditions.push_back(std::move(cond));
      n->branches.push_back(std::move(body));
      if (stop == "elif") continue;
      if (stop == "else") {
        GALE_TRY(ExpectEnd(Tok::kBlockEnd));
        GALE_TRY(Body(&n->else_body, {"endif"}, &stop, depth + 1));
      }
      return ExpectEnd(Tok::kBlockEnd);
    }
  }

  Status For(Node* n, int depth) {
    n->kind = NodeKind::kFor;
    while (true) {
      if (Cur().kind != Tok::kName) return Err("expected a loop variable", Cur().pos);
      n->targets.push_back(Cur().text);
      Next();
      if (!IsOp(",")) break;
      Next();
    }
    if (!IsName("in")) return Err("expected 'in', got " + Describe(Cur()), Cur().pos);
    Next();
    GALE_TRY(Or(&n->expr, depth));
    if (IsName("if") || IsName("recursive")) {
      return Err("loop filters and recursive loops are not supported", Cur().pos);
    }
    GALE_TRY(ExpectEnd(Tok::kBlockEnd));
    std::string stop;
    GALE_TRY(Body(&n->body, {"else", "endfor"}, &stop, depth + 1));
    n->uses_loop = MentionsLoop(n->body);
    if (stop == "else") {
      GALE_TRY(ExpectEnd(Tok::kBlockEnd));
      GALE_TRY(Body(&n->else_body, {"endfor"}, &stop, depth + 1));
    }
    return ExpectEnd(Tok::kBlockEnd);
  }

  Status Set(Node* n, int depth) {
    n->kind = NodeKind::kSet;
    if (Cur().kind != Tok::kName) return Err("expected a variable name", Cur().pos);
    n->targets.push_back(Cur().text);
    Next();
    if (!IsOp("="))
      return Err("block assignments ({% set x %}...{% endset %}) are not supported", Cur().pos);
    Next();
    GALE_TRY(Expression(&n->expr, depth));
    return ExpectEnd(Tok::kBlockEnd);
  }

  // ---- expressions ----

  Status Expression(ExprPtr* out, int depth) {
    GALE_TRY(Enter(&depth, Cur().pos));
    std::size_t begin = Cur().pos;
    GALE_TRY(Or(out, depth));
    while (IsName("if")) {
      Next();
      ExprPtr cond, other;
      GALE_TRY(Or(&cond, depth));
      if (IsName("else")) {
        Next();
        GALE_TRY(Expression(&other, depth));
      }
      auto e = Make(ExprKind::kCond, begin);
      e->args.push_back(std::move(*out));
      e->args.push_back(std::move(cond));
      e->args.push_back(std::move(other));
      *out = std::move(e);
    }
    return Status::Ok();
  }

  Status Or(ExprPtr* out, int depth) {
    std::size_t begin = Cur().pos;
    Status s = And(out, depth);
    while (s.ok() && IsName("or")) {
      s = Enter(&depth, Cur().pos);
      if (!s.ok()) break;
      Next();
      ExprPtr rhs;
      s = And(&rhs, depth);
      if (!s.ok()) break;
      auto e = Make(ExprKind::kOr, begin);
      e->args.push_back(std::move(*out));
      e->args.push_back(std::move(rhs));
      *out = std::move(e);
    }
    return s;
  }

  Status And(ExprPtr* out, int depth) {
    std::size_t begin = Cur().pos;
    Status s = Not(out, depth);
    while (s.ok() && IsName("and")) {
      s = Enter(&depth, Cur().pos);
      if (!s.ok()) break;
      Next();
      ExprPtr rhs;
      s = Not(&rhs, depth);
      if (!s.ok()) break;
      auto e = Make(ExprKind::kAnd, begin);
      e->args.push_back(std::move(*out));
      e->args.push_back(std::move(rhs));
      *out = std::move(e);
    }
    return s;
  }

  Status Not(ExprPtr* out, int depth) {
    if (IsName("not")) {
      std::size_t begin = Cur().pos;
      Next();
      GALE_TRY(Enter(&depth, begin));
      ExprPtr inner;
      GALE_TRY(Not(&inner, depth));
      auto e = Make(ExprKind::kNot, begin);
      e->args.push_back(std::move(inner));
      *out = std::move(e);
      return Status::Ok();
    }
    return Compare(out, depth);
  }

  Status Compare(ExprPtr* out, int depth) {
    std::size_t begin = Cur().pos;
    ExprPtr first;
    GALE_TRY(Math1(&first, depth));
    std::unique_ptr<Expr> cmp;
    while (true) {
      CmpOp op;
      if (IsOp("==")) {
        op = CmpOp::kEq;
      } else if (IsOp("!=")) {
        op = CmpOp::kNe;
      } else if (IsOp("<")) {
        op = CmpOp::kLt;
      } else if (IsOp("<=")) {
        op = CmpOp::kLe;
      } else if (IsOp(">")) {
        op = CmpOp::kGt;
      } else if (IsOp(">=")) {
        op = CmpOp::kGe;
      } else if (IsName("in")) {
        op = CmpOp::kIn;
      } else if (IsName("not") && Peek().kind == Tok::kName && Peek().text == "in") {
        op = CmpOp::kNotIn;
        Next();
      } else {
        break;
      }
      GALE_TRY(Enter(&depth, Cur().pos));
      Next();
      ExprPtr rhs;
      GALE_TRY(Math1(&rhs, depth));
      if (!cmp) {
        cmp = Make(ExprKind::kCompare, begin);
        cmp->args.push_back(std::move(first));
      }
      cmp->cmp_ops.push_back(op);
      cmp->args.push_back(std::move(rhs));
      Close(*cmp);
    }
    *out = cmp ? std::move(cmp) : std::move(first);
    return Status::Ok();
  }

  template <class Next_, class Match>
  Status Binary(ExprPtr* out, int depth, Next_ next, Match match) {
    std::size_t begin = Cur().pos;
    Status s = (this->*next)(out, depth);
    while (s.ok()) {
      BinOp op;
      if (!match(&op)) break;
      s = Enter(&depth, Cur().pos);
      if (!s.ok()) break;
      Next();
      ExprPtr rhs;
      s = (this->*next)(&rhs, depth);
      if (!s.ok()) break;
      auto e = Make(ExprKind::kBinary, begin);
      e->bin_op = op;
      e->args.push_back(std::move(*out));
      e->args.push_back(std::move(rhs));
      *out = std::move(e);
    }
    return s;
  }

  Status Math1(ExprPtr* out, int depth) {
    return Binary(out, depth, &Parser::Concat, [this](BinOp* op) {
      if (IsOp("+")) return *op = BinOp::kAdd, true;
      if (IsOp("-")) return *op = BinOp::kSub, true;
      return false;
    });
  }
  Status Concat(ExprPtr* out, int depth) {
    return Binary(out, depth, &Parser::Math2, [this](BinOp* op) {
      if (IsOp("~")) return *op = BinOp::kConcat, true;
      return false;
    });
  }
  Status Math2(ExprPtr* out, int depth) {
    return Binary(out, depth, &Parser::Pow, [this](BinOp* op) {
      if (IsOp("*")) return *op = BinOp::kMul, true;
      if (IsOp("/")) return *op = BinOp::kDiv, true;
      if (IsOp("//")) return *op = BinOp::kFloorDiv, true;
      if (IsOp("%")) return *op = BinOp::kMod, true;
      return false;
    });
  }
  Status Pow(ExprPtr* out, int depth) {
    return Binary(out, depth, &Parser::UnaryWithFilter, [this](BinOp* op) {
      if (IsOp("**")) return *op = BinOp::kPow, true;
      return false;
    });
  }
  Status UnaryWithFilter(ExprPtr* out, int depth) { return Unary(out, depth, true); }

  Status Unary(ExprPtr* out, int depth, bool with_filter) {
    Status s = Enter(&depth, Cur().pos);
    if (!s.ok()) return s;
    std::size_t begin = Cur().pos;
    if (IsOp("-") || IsOp("+")) {
      ExprKind kind = IsOp("-") ? ExprKind::kNeg : ExprKind::kPos;
      Next();
      ExprPtr inner;
      GALE_TRY(Unary(&inner, depth, false));
      auto e = Make(kind, begin);
      e->args.push_back(std::move(inner));
      *out = std::move(e);
    } else {
      GALE_TRY(Primary(out, depth));
    }
    GALE_TRY(Postfix(out, depth, begin));
    if (with_filter) s = FilterExpr(out, depth, begin);
    return s;
  }

  Status Primary(ExprPtr* out, int depth) {
    const Token& t = Cur();
    std::size_t begin = t.pos;
    switch (t.kind) {
      case Tok::kName: {
        auto e = std::make_unique<Expr>();
        e->begin = begin;
        e->end = t.end;
        const std::string& n = t.text;
        if (n == "true" || n == "True") {
          e->literal = true;
        } else if (n == "false" || n == "False") {
          e->literal = false;
        } else if (n == "none" || n == "None") {
          e->literal = nullptr;
        } else {
          e->kind = ExprKind::kName;
          e->name = n;
        }
        Next();
        *out = std::move(e);
        return Status::Ok();
      }
      case Tok::kString: {
        std::string value;
        std::size_t end = t.end;
        while (Cur().kind == Tok::kString) {  // adjacent literals concatenate
          value += Cur().text;
          end = Cur().end;
          Next();
        }
        auto e = std::make_unique<Expr>();
        e->begin = begin;
        e->end = end;
        e->literal = std::move(value);
        *out = std::move(e);
        return Status::Ok();
      }
      case Tok::kInt:
      case Tok::kFloat: {
        auto e = std::make_unique<Expr>();
        e->begin = begin;
        e->end = t.end;
        e->literal = t.number;
        Next();
        *out = std::move(e);
        return Status::Ok();
      }
      case Tok::kOp:
        if (t.text == "(") return Parenthesised(out, depth);
        if (t.text == "[") return ListLiteral(out, depth);
        if (t.text == "{") return DictLiteral(out, depth);
        return Unexpected();
      default:
        return Unexpected();
    }
  }

  Status Parenthesised(ExprPtr* out, int depth) {
    std::size_t begin = Cur().pos;
    Next();
    if (IsOp(")")) {
      Next();
      *out = Make(ExprKind::kTuple, begin);
      return Status::Ok();
    }
    ExprPtr first;
    Status s = Expression(&first, depth);
    if (!s.ok()) return s;
    if (IsOp(")")) {
      Next();
      *out = std::move(first);
      return Status::Ok();
    }
    auto tuple = std::make_unique<Expr>();
    tuple->kind = ExprKind::kTuple;
    tuple->begin = begin;
    tuple->args.push_back(std::move(first));
    while (IsOp(",")) {
      Next();
      if (IsOp(")")) break;
      ExprPtr item;
      GALE_TRY(Expression(&item, depth));
      tuple->args.push_back(std::move(item));
    }
    s = Expect(")");
    if (!s.ok()) return s;
    Close(*tuple);
    *out = std::move(tuple);
    return Status::Ok();
  }

  Status ListLiteral(ExprPtr* out, int depth) {
    std::size_t begin = Cur().pos;
    Next();
    auto list = std::make_unique<Expr>();
    list->kind = ExprKind::kList;
    list->begin = begin;
    while (!IsOp("]")) {
      if (!list->args.empty()) {
        GALE_TRY(Expect(","));
        if (IsOp("]")) break;
      }
      ExprPtr item;
      GALE_TRY(Expression(&item, depth));
      list->args.push_back(std::move(item));
    }
    Next();
    Close(*list);
    *out = std::move(list);
    return Status::Ok();
  }

  Status DictLiteral(ExprPtr* out, int depth) {
    std::size_t begin = Cur().pos;
    Next();
    auto dict = std::make_unique<Expr>();
    dict->kind = ExprKind::kDict;
    dict->begin = begin;
    while (!IsOp("}")) {
      if (!dict->args.empty()) {
        GALE_TRY(Expect(","));
        if (IsOp("}")) break;
      }
      ExprPtr key, value;
      GALE_TRY(Expression(&key, depth));
      GALE_TRY(Expect(":"));
      GALE_TRY(Expression(&value, depth));
      dict->args.push_back(std::move(key));
      dict->args.push_back(std::move(value));
    }
    Next();
    Close(*dict);
    *out = std::move(dict);
    return Status::Ok();
  }

  Status Postfix(ExprPtr* out, int depth, std::size_t begin) {
    while (true) {
      GALE_TRY(Enter(&depth, Cur().pos));
      if (IsOp(".")) {
        Next();
        if (Cur().kind == Tok::kName) {
          auto e = Make(ExprKind::kAttr, begin);
          e->name = Cur().text;
          Next();
          Close(*e);
          e->args.push_back(std::move(*out));
          *out = std::move(e);
        } else if (Cur().kind == Tok::kInt) {
          auto key = std::make_unique<Expr>();
          key->begin = Cur().pos;
          key->end = Cur().end;
          key->literal = Cur().number;
          Next();
          auto e = Make(ExprKind::kItem, begin);
          e->args.push_back(std::move(*out));
          e->args.push_back(std::move(key));
          *out = std::move(e);
        } else {
          return Err("expected a name after '.', got " + Describe(Cur()), Cur().pos);
        }
      } else if (IsOp("[")) {
        GALE_TRY(Subscript(out, depth, begin));
      } else if (IsOp("(")) {
        GALE_TRY(Call(out, depth, begin));
      } else {
        return Status::Ok();
      }
    }
  }

  Status Subscript(ExprPtr* out, int depth, std::size_t begin) {
    Next();  // '['
    ExprPtr parts[3];
    bool slice = false;
    for (int k = 0; k < 3; ++k) {
      if (!IsOp(":") && !IsOp("]")) {
        GALE_TRY(Expression(&parts[k], depth));
      }
      if (IsOp(":") && k < 2) {
        slice = true;
        Next();
        continue;
      }
      break;
    }
    GALE_TRY(Expect("]"));
    if (!slice) {
      if (!parts[0]) return Err("expected a subscript", Cur().pos);
      auto e = Make(ExprKind::kItem, begin);
      e->args.push_back(std::move(*out));
      e->args.push_back(std::move(parts[0]));
      *out = std::move(e);
      return Status::Ok();
    }
    auto e = Make(ExprKind::kSlice, begin);
    e->args.push_back(std::move(*out));
    for (auto& p : parts) e->args.push_back(std::move(p));
    *out = std::move(e);
    return Status::Ok();
  }

  // Positional and keyword arguments of a call: "(a, b, name=c)".
  Status Arguments(std::vector<ExprPtr>* args, std::vector<std::pair<std::string, ExprPtr>>* kwargs,
                   int depth) {
    GALE_TRY(Expect("("));
    while (!IsOp(")")) {
      if (!args->empty() || !kwargs->empty()) {
        GALE_TRY(Expect(","));
        if (IsOp(")")) break;
      }
      if (Cur().kind == Tok::kName && Peek().kind == Tok::kOp && Peek().text == "=") {
        std::string name = Cur().text;
        Next();
        Next();
        ExprPtr value;
        GALE_TRY(Expression(&value, depth));
        kwargs->emplace_back(std::move(name), std::move(value));
      } else {
        if (!kwargs->empty()) {
          return Err("positional argument follows keyword argument", Cur().pos);
        }
        ExprPtr value;
        GALE_TRY(Expression(&value, depth));
        args->push_back(std::move(value));
      }
    }
    Next();
    return Status::Ok();
  }

  Status Call(ExprPtr* out, int depth, std::size_t begin) {
    std::size_t at = Cur().pos;
    std::vector<ExprPtr> args;
    std::vector<std::pair<std::string, ExprPtr>> kwargs;
    GALE_TRY(Arguments(&args, &kwargs, depth));
    const Expr& callee = **out;
    if (functions_ && callee.kind == ExprKind::kName && callee.name != "range") {
      return HostCall(out, begin, at, std::move(args), std::move(kwargs));
    }
    if (!kwargs.empty()) return Err("keyword arguments are only supported for filters", at);
    auto e = Make(ExprKind::kCall, begin);
    e->args.push_back(std::move(*out));
    for (auto& a : args) e->args.push_back(std::move(a));
    *out = std::move(e);
    return Status::Ok();
  }

  // A call of a host function: its arguments placed in one slot per parameter.
  Status HostCall(ExprPtr* out, std::size_t begin, std::size_t at, std::vector<ExprPtr> args,
                  std::vector<std::pair<std::string, ExprPtr>> kwargs) {
    const std::string name = (*out)->name;
    const FunctionSignature* sig = functions_->Find(name);
    if (!sig) return Err("unknown function '" + name + "'", (*out)->begin);
    const std::size_t n = sig->params.size();
    if (args.size() > n) {
      return Err(name + "() takes at most " + std::to_string(n) + " argument" +
                     (n == 1 ? "" : "s") + " (" + std::to_string(args.size()) + " given)",
                 at);
    }
    auto e = Make(ExprKind::kCall, begin);
    e->host_function = true;
    e->name = name;
    e->args.push_back(std::move(*out));
    e->args.resize(n + 1);
    for (std::size_t k = 0; k < args.size(); ++k) e->args[k + 1] = std::move(args[k]);
    for (auto& [key, value] : kwargs) {
      std::size_t k = 0;
      while (k < n && sig->params[k] != key) ++k;
      if (k == n) return Err(name + "() got an unexpected keyword argument '" + key + "'", at);
      if (e->args[k + 1]) return Err(name + "() got multiple values for '" + key + "'", at);
      e->args[k + 1] = std::move(value);
    }
    for (std::size_t k = 0; k < sig->required; ++k) {
      if (!e->args[k + 1]) {
        return Err(name + "() missing required argument '" + std::string(sig->params[k]) + "'", at);
      }
    }
    *out = std::move(e);
    return Status::Ok();
  }

  Status FilterExpr(ExprPtr* out, int depth, std::size_t begin) {
    while (true) {
      Status s = Enter(&depth, Cur().pos);
      if (!s.ok()) return s;
      if (IsOp("|")) {
        Next();
        s = Filter(out, depth, begin);
      } else if (IsName("is")) {
        Next();
        s = Test(out, depth, begin);
      } else if (IsOp("(")) {
        s = Call(out, depth, begin);
      } else {
        return Status::Ok();
      }
      if (!s.ok()) return s;
    }
  }

  Status Filter(ExprPtr* out, int depth, std::size_t begin) {
    if (Cur().kind != Tok::kName)
      return Err("expected a filter name, got " + Describe(Cur()), Cur().pos);
    std::size_t at = Cur().pos;
    std::string name = Cur().text;
    const FilterSpec* spec = FindFilter(name);
    if (!spec) return Err("unknown filter '" + name + "'", at);
    Next();
    std::vector<ExprPtr> args;
    std::vector<std::pair<std::string, ExprPtr>> kwargs;
    if (IsOp("(")) {
      GALE_TRY(Arguments(&args, &kwargs, depth));
    }
    const std::size_t n = spec->params.size();
    if (args.size() > n) {
      return Err("filter '" + name + "' takes at most " + std::to_string(n) + " argument" +
                     (n == 1 ? "" : "s") + " (" + std::to_string(args.size()) + " given)",
                 at);
    }
    std::vector<ExprPtr> slots(n);
    for (std::size_t k = 0; k < args.size(); ++k) slots[k] = std::move(args[k]);
    for (auto& [kw, value] : kwargs) {
      auto it = std::find(spec->params.begin(), spec->params.end(), kw);
      if (it == spec->params.end()) {
        return Err("filter '" + name + "' got an unexpected keyword argument '" + kw + "'", at);
      }
      std::size_t k = static_cast<std::size_t>(it - spec->params.begin());
      if (slots[k]) return Err("filter '" + name + "' got multiple values for '" + kw + "'", at);
      slots[k] = std::move(value);
    }
    for (std::size_t k = 0; k < spec->required; ++k) {
      if (!slots[k]) {
        return Err(
            "filter '" + name + "' is missing its argument '" + std::string(spec->params[k]) + "'",
            at);
      }
    }
    auto e = Make(ExprKind::kFilter, begin);
    e->name = name;
    e->filter = spec;
    e->args.push_back(std::move(*out));
    for (auto& slot : slots) e->args.push_back(std::move(slot));
    *out = std::move(e);
    return Status::Ok();
  }

  Status Test(ExprPtr* out, int depth, std::size_t begin) {
    bool negated = false;
    if (IsName("not")) {
      negated = true;
      Next();
    }
    std::size_t at = Cur().pos;
    std::string name;
    if (Cur().kind == Tok::kName) {
      name = Cur().text;
    } else if (Cur().kind == Tok::kOp &&
               (Cur().text == "==" || Cur().text == "!=" || Cur().text == "<" ||
                Cur().text == "<=" || Cur().text == ">" || Cur().text == ">=")) {
      name = Cur().text;
    } else {
      return Err("expected a test name, got " + Describe(Cur()), at);
    }
    const TestSpec* spec = FindTest(name);
    if (!spec) return Err("unknown test '" + name + "'", at);
    Next();
    std::vector<ExprPtr> args;
    if (IsOp("(")) {
      std::vector<std::pair<std::string, ExprPtr>> kwargs;
      GALE_TRY(Arguments(&args, &kwargs, depth));
      if (!kwargs.empty()) return Err("tests take no keyword arguments", at);
    } else if ((Cur().kind == Tok::kName || Cur().kind == Tok::kString || Cur().kind == Tok::kInt ||
                Cur().kind == Tok::kFloat ||
                (Cur().kind == Tok::kOp &&
                 (Cur().text == "(" || Cur().text == "[" || Cur().text == "{"))) &&
               !IsName("else") && !IsName("or") && !IsName("and") && spec->params > 0) {
      if (IsName("is")) return Err("cannot chain multiple tests with 'is'", Cur().pos);
      std::size_t arg_begin = Cur().pos;
      ExprPtr arg;
      GALE_TRY(Primary(&arg, depth));
      GALE_TRY(Postfix(&arg, depth, arg_begin));
      args.push_back(std::move(arg));
    }
    if (args.size() != spec->params) {
      return Err("test '" + name + "' takes " + std::to_string(spec->params) + " argument" +
                     (spec->params == 1 ? "" : "s"),
                 at);
    }
    auto e = Make(ExprKind::kTest, begin);
    e->name = name;
    e->test = spec;
    e->negated = negated;
    e->args.push_back(std::move(*out));
    for (auto& a : args) e->args.push_back(std::move(a));
    *out = std::move(e);
    return Status::Ok();
  }

  const std::string& src_;
  std::vector<Token> toks_;
  const ExprFunctions* functions_ = nullptr;
  std::size_t i_ = 0;
};

bool AllSpace(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return IsSpace(c); });
}

}  // namespace

Result<std::shared_ptr<const Program>> ParseProgram(std::string_view source,
                                                    const ExprFunctions* functions) {
  if (source.size() > kMaxSourceBytes) {
    return Status::Error("template is too long (" + std::to_string(source.size()) + " bytes)");
  }
  auto prog = std::make_shared<Program>();
  // Jinja: newlines normalised to \n, and one trailing newline dropped.
  std::string& src = prog->source;
  src.reserve(source.size());
  for (std::size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      src.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      src.push_back(source[i]);
    }
  }
  if (!src.empty() && src.back() == '\n') src.pop_back();

  std::vector<Token> toks;
  Lexer lexer(src);
  GALE_TRY(lexer.Run(&toks));
  Parser parser(src, std::move(toks), functions);
  GALE_TRY(parser.ParseTemplate(&prog->nodes));

  bool only_text = true;
  int outputs = 0, output_at = -1;
  bool other_text = false;
  for (std::size_t k = 0; k < prog->nodes.size(); ++k) {
    const Node& n = prog->nodes[k];
    if (n.kind != NodeKind::kText) only_text = false;
    if (n.kind == NodeKind::kOutput) {
      ++outputs;
      output_at = static_cast<int>(k);
    } else if (n.kind != NodeKind::kText || !AllSpace(n.text)) {
      other_text = true;
    }
  }
  if (only_text) {
    prog->literal = true;
    for (const Node& n : prog->nodes) prog->literal_text += n.text;
  }
  if (outputs == 1 && !other_text) prog->single_expression = output_at;
  return std::shared_ptr<const Program>(std::move(prog));
}

}  // namespace gale::expr::tmpl

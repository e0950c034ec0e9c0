// YAQL lexer and parser: precedence climbing over YAQL 1.1's operator table, restricted to the
// supported subset (yaql.h). Function names are resolved here, so an unknown function, a wrong
// argument count or an invalid literal regex is a syntax error with its position.
#include <cctype>
#include <charconv>
#include <string>
#include <utility>
#include <vector>

#include "host/expr/py_value.h"
#include "host/expr/yaql/evaluator.h"

namespace gale::expr::yaql {

namespace {

// Nesting and chains (a + b + c nests as ((a + b) + c)) together: evaluation recurses this deep.
constexpr int kMaxNesting = 200;
constexpr std::size_t kMaxSourceBytes = 64 * 1024;

enum class Tok { kEnd, kInt, kFloat, kString, kIdent, kFunc, kDollar, kOp };

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;  // identifier, function name, operator, decoded string, `$` suffix
  Json value;        // numbers
  std::size_t pos = 0;
};

bool IdentStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool IdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

bool IsWordOp(const std::string& s) {
  return s == "and" || s == "or" || s == "not" || s == "in" || s == "mod";
}

class Lexer {
 public:
  Lexer(std::string_view text, std::size_t begin, std::size_t end)
      : text_(text), p_(begin), end_(end) {}

  Status Run(std::vector<Token>* out) {
    while (true) {
      while (p_ < end_ &&
             (text_[p_] == ' ' || text_[p_] == '\t' || text_[p_] == '\r' || text_[p_] == '\n')) {
        ++p_;
      }
      Token t;
      t.pos = p_;
      if (p_ >= end_) {
        out->push_back(std::move(t));
        return Status::Ok();
      }
      const char c = text_[p_];
      if (std::isdigit(static_cast<unsigned char>(c))) {
        GALE_TRY(Number(&t));
      } else if (IdentStart(c)) {
        std::size_t q = p_;
        while (q < end_ && IdentChar(text_[q])) ++q;
        t.text = std::string(text_.substr(p_, q - p_));
        // `not(x)` is the operator before a parenthesis, not a function called "not".
        if (q < end_ && text_[q] == '(' && !IsWordOp(t.text)) {
          t.kind = Tok::kFunc;
          ++q;
        } else {
          t.kind = Tok::kIdent;
        }
        p_ = q;
      } else if (c == '$') {
        std::size_t q = p_ + 1;
        while (q < end_ && IdentChar(text_[q])) ++q;
        t.kind = Tok::kDollar;
        t.text = std::string(text_.substr(p_ + 1, q - p_ - 1));
        p_ = q;
      } else if (c == '\'' || c == '"' || c == '`') {
        GALE_TRY(String(&t));
      } else {
        GALE_TRY(Operator(&t));
      }
      out->push_back(std::move(t));
    }
  }

 private:
  Status Err(const std::string& what, std::size_t at) const {
    return Status::Error(what + " at " + Where(text_, at));
  }

  Status Number(Token* t) {
    std::size_t q = p_;
    while (q < end_ && std::isdigit(static_cast<unsigned char>(text_[q]))) ++q;
    bool is_float = false;
    if (q + 1 < end_ && text_[q] == '.' && std::isdigit(static_cast<unsigned char>(text_[q + 1]))) {
      is_float = true;
      ++q;
      while (q < end_ && std::isdigit(static_cast<unsigned char>(text_[q]))) ++q;
    }
    if (q < end_ && IdentChar(text_[q])) return Err("invalid number", p_);
    const std::string_view digits = text_.substr(p_, q - p_);
    if (is_float) {
      auto d = py::ParseFloat(digits);
      if (!d) return Err("invalid number", p_);
      t->kind = Tok::kFloat;
      t->value = *d;
    } else {
      long long v = 0;
      auto r = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (r.ec != std::errc() || r.ptr != digits.data() + digits.size()) {
        return Err("integer literal out of range", p_);
      }
      t->kind = Tok::kInt;
      t->value = v;
    }
    p_ = q;
    return Status::Ok();
  }

  // Quoted strings with Python's escapes; a backquoted string is verbatim except for \`.
  Status String(Token* t) {
    const char quote = text_[p_];
    std::size_t q = p_ + 1;
    std::string value;
    while (true) {
      if (q >= end_) return Err("unterminated string", p_);
      char c = text_[q];
      if (c == quote) break;
      if (c != '\\' || q + 1 >= end_) {
        value.push_back(c);
        ++q;
        continue;
      }
      const char e = text_[q + 1];
      if (quote == '`') {
        if (e != '`') value.push_back('\\');
        value.push_back(e);
        q += 2;
        continue;
      }
      q += 2;
      switch (e) {
        case 'n':
          value.push_back('\n');
          break;
        case 't':
          value.push_back('\t');
          break;
        case 'r':
          value.push_back('\r');
          break;
        case 'a':
          value.push_back('\a');
          break;
        case 'b':
          value.push_back('\b');
          break;
        case 'f':
          value.push_back('\f');
          break;
        case 'v':
          value.push_back('\v');
          break;
        case '\\':
        case '\'':
        case '"':
          value.push_back(e);
          break;
        case 'x':
        case 'u':
        case 'U': {
          const std::size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (q + n > end_) return Err("truncated \\" + std::string(1, e) + " escape", q - 2);
          unsigned long cp = 0;
          for (std::size_t k = 0; k < n; ++k) {
            const char h = text_[q + k];
            if (!std::isxdigit(static_cast<unsigned char>(h))) {
              return Err("truncated \\" + std::string(1, e) + " escape", q - 2);
            }
            cp = cp * 16 + static_cast<unsigned long>(std::isdigit(static_cast<unsigned char>(h))
                                                          ? h - '0'
                                                          : (std::tolower(h) - 'a' + 10));
          }
          if (cp > 0x10ffff) return Err("invalid \\U escape", q - 2);
          // A lone surrogate is not text: it could not be stored or sent as JSON.
          if (cp >= 0xd800 && cp <= 0xdfff) return Err("surrogate escape in a string", q - 2);
          py::AppendUtf8(value, static_cast<char32_t>(cp));
          q += n;
          break;
        }
        default:  // unknown escapes stay as written, as Python's decoder leaves them
          value.push_back('\\');
          value.push_back(e);
      }
    }
    t->kind = Tok::kString;
    t->text = std::move(value);
    p_ = q + 1;
    return Status::Ok();
  }

  Status Operator(Token* t) {
    static constexpr std::string_view kOps[] = {"?.", "=>", ">=", "<=", "!=", "=~", "!~", "->",
                                                ".",  "[",  "]",  "{",  "}",  "(",  ")",  ",",
                                                "+",  "-",  "*",  "/",  ">",  "<",  "="};
    for (std::string_view op : kOps) {
      if (text_.substr(p_, op.size()) == op && p_ + op.size() <= end_) {
        t->kind = Tok::kOp;
        t->text = std::string(op);
        p_ += op.size();
        return Status::Ok();
      }
    }
    std::size_t i = p_;
    std::string ch;
    py::AppendUtf8(ch, py::DecodeUtf8(text_.substr(0, end_), i));
    return Err("unexpected character '" + ch + "'", p_);
  }

  std::string_view text_;
  std::size_t p_;
  std::size_t end_;
};

class Parser {
 public:
  Parser(std::string_view text, std::vector<Token> toks, const ExprFunctions* functions)
      : text_(text), toks_(std::move(toks)), functions_(functions) {}

  Status Parse(NodePtr* out) {
    GALE_TRY(Expr(out, 0));
    if (Cur().kind != Tok::kEnd) return Unexpected();
    return Status::Ok();
  }

 private:
  const Token& Cur() const { return toks_[i_]; }
  void Next() {
    if (i_ + 1 < toks_.size()) ++i_;
  }
  bool IsOp(std::string_view op) const { return Cur().kind == Tok::kOp && Cur().text == op; }
  bool IsWord(std::string_view w) const { return Cur().kind == Tok::kIdent && Cur().text == w; }

  Status Err(const std::string& what, std::size_t at) const {
    return Status::Error(what + " at " + Where(text_, at));
  }
  std::string Describe(const Token& t) const {
    switch (t.kind) {
      case Tok::kEnd:
        return "end of expression";
      case Tok::kInt:
      case Tok::kFloat:
        return "number";
      case Tok::kString:
        return "string";
      case Tok::kFunc:
        return "'" + t.text + "('";
      case Tok::kDollar:
        return "'$" + t.text + "'";
      default:
        return "'" + t.text + "'";
    }
  }
  Status Unexpected() const {
    const Token& t = Cur();
    if (t.kind == Tok::kOp && (t.text == "=~" || t.text == "!~" || t.text == "->")) {
      return Err("operator '" + t.text + "' is not supported", t.pos);
    }
    return Err("unexpected " + Describe(t), t.pos);
  }
  Status Expect(std::string_view op) {
    if (!IsOp(op)) {
      return Err("expected '" + std::string(op) + "', got " + Describe(Cur()), Cur().pos);
    }
    Next();
    return Status::Ok();
  }
  Status Enter(int depth) const {
    if (depth > kMaxNesting) return Err("expression nested too deeply", Cur().pos);
    return Status::Ok();
  }
  static NodePtr Make(NodeKind kind, std::size_t pos) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->pos = pos;
    return n;
  }
  static NodePtr MakeBinary(NodeKind kind, BinOp op, std::size_t pos, NodePtr a, NodePtr b) {
    auto n = Make(kind, pos);
    n->op = op;
    n->args.push_back(std::move(a));
    n->args.push_back(std::move(b));
    return n;
  }

  // or > and > not > comparisons > + - > * / mod > unary + - > . ?. []
  Status Expr(NodePtr* out, int depth) { return Or(out, depth + 1); }

  Status Or(NodePtr* out, int depth) {
    GALE_TRY(Enter(depth));
    GALE_TRY(And(out, depth));
    while (IsWord("or")) {
      GALE_TRY(Enter(++depth));
      const std::size_t at = Cur().pos;
      Next();
      NodePtr rhs;
      GALE_TRY(And(&rhs, depth + 1));
      *out = MakeBinary(NodeKind::kOr, BinOp::kAdd, at, std::move(*out), std::move(rhs));
    }
    return Status::Ok();
  }

  Status And(NodePtr* out, int depth) {
    GALE_TRY(Not(out, depth));
    while (IsWord("and")) {
      GALE_TRY(Enter(++depth));
      const std::size_t at = Cur().pos;
      Next();
      NodePtr rhs;
      GALE_TRY(Not(&rhs, depth + 1));
      *out = MakeBinary(NodeKind::kAnd, BinOp::kAdd, at, std::move(*out), std::move(rhs));
    }
    return Status::Ok();
  }

  Status Not(NodePtr* out, int depth) {
    GALE_TRY(Enter(depth));
    if (IsWord("not")) {
      auto n = Make(NodeKind::kNot, Cur().pos);
      Next();
      NodePtr operand;
      GALE_TRY(Not(&operand, depth + 1));
      n->args.push_back(std::move(operand));
      *out = std::move(n);
      return Status::Ok();
    }
    return Compare(out, depth);
  }

  bool CompareOp(BinOp* op) const {
    if (IsWord("in")) {
      *op = BinOp::kIn;
      return true;
    }
    if (Cur().kind != Tok::kOp) return false;
    const std::string& t = Cur().text;
    if (t == "=")
      *op = BinOp::kEq;
    else if (t == "!=")
      *op = BinOp::kNe;
    else if (t == "<")
      *op = BinOp::kLt;
    else if (t == "<=")
      *op = BinOp::kLe;
    else if (t == ">")
      *op = BinOp::kGt;
    else if (t == ">=")
      *op = BinOp::kGe;
    else
      return false;
    return true;
  }

  Status Compare(NodePtr* out, int depth) {
    GALE_TRY(Additive(out, depth));
    BinOp op;
    while (CompareOp(&op)) {
      GALE_TRY(Enter(++depth));
      const std::size_t at = Cur().pos;
      Next();
      NodePtr rhs;
      GALE_TRY(Additive(&rhs, depth + 1));
      *out = MakeBinary(NodeKind::kBinary, op, at, std::move(*out), std::move(rhs));
    }
    return Status::Ok();
  }

  Status Additive(NodePtr* out, int depth) {
    GALE_TRY(Multiplicative(out, depth));
    while (IsOp("+") || IsOp("-")) {
      GALE_TRY(Enter(++depth));
      const BinOp op = IsOp("+") ? BinOp::kAdd : BinOp::kSub;
      const std::size_t at = Cur().pos;
      Next();
      NodePtr rhs;
      GALE_TRY(Multiplicative(&rhs, depth + 1));
      *out = MakeBinary(NodeKind::kBinary, op, at, std::move(*out), std::move(rhs));
    }
    return Status::Ok();
  }

  Status Multiplicative(NodePtr* out, int depth) {
    GALE_TRY(Unary(out, depth));
    while (IsOp("*") || IsOp("/") || IsWord("mod")) {
      GALE_TRY(Enter(++depth));
      const BinOp op = IsOp("*") ? BinOp::kMul : IsOp("/") ? BinOp::kDiv : BinOp::kMod;
      const std::size_t at = Cur().pos;
      Next();
      NodePtr rhs;
      GALE_TRY(Unary(&rhs, depth + 1));
      *out = MakeBinary(NodeKind::kBinary, op, at, std::move(*out), std::move(rhs));
    }
    if (IsOp("=~") || IsOp("!~")) return Unexpected();
    return Status::Ok();
  }

  Status Unary(NodePtr* out, int depth) {
    GALE_TRY(Enter(depth));
    if (IsOp("-") || IsOp("+")) {
      auto n = Make(IsOp("-") ? NodeKind::kNeg : NodeKind::kPos, Cur().pos);
      Next();
      NodePtr operand;
      GALE_TRY(Unary(&operand, depth + 1));
      n->args.push_back(std::move(operand));
      *out = std::move(n);
      return Status::Ok();
    }
    // `not` where an operand is expected (`a = not b`) binds as YAQL's grammar does: looser
    // than everything but and/or.
    if (IsWord("not")) return Not(out, depth + 1);
    GALE_TRY(Primary(out, depth));
    return Postfix(out, depth);
  }

  Status Postfix(NodePtr* out, int depth) {
    while (true) {
      GALE_TRY(Enter(depth));
      if (IsOp(".") || IsOp("?.")) {
        const bool null_safe = IsOp("?.");
        const std::size_t at = Cur().pos;
        Next();
        if (Cur().kind == Tok::kIdent && !IsWordOp(Cur().text)) {
          auto n = Make(NodeKind::kAttr, at);
          n->name = Cur().text;
          n->null_safe = null_safe;
          n->args.push_back(std::move(*out));
          Next();
          *out = std::move(n);
        } else if (Cur().kind == Tok::kFunc) {
          if (null_safe) return Err("'?.' before a method call is not supported", at);
          NodePtr receiver = std::move(*out);
          GALE_TRY(Call(out, depth, std::move(receiver)));
        } else {
          return Err("expected an attribute or method name after '.', got " + Describe(Cur()),
                     Cur().pos);
        }
        ++depth;
      } else if (IsOp("[")) {
        auto n = Make(NodeKind::kIndex, Cur().pos);
        Next();
        NodePtr index;
        GALE_TRY(Expr(&index, depth + 1));
        if (IsOp(",")) return Err("indexing takes one value", Cur().pos);
        GALE_TRY(Expect("]"));
        n->args.push_back(std::move(*out));
        n->args.push_back(std::move(index));
        *out = std::move(n);
        ++depth;
      } else {
        return Status::Ok();
      }
    }
  }

  Status Primary(NodePtr* out, int depth) {
    const Token& t = Cur();
    switch (t.kind) {
      case Tok::kInt:
      case Tok::kFloat: {
        auto n = Make(NodeKind::kLiteral, t.pos);
        n->literal = t.value;
        Next();
        *out = std::move(n);
        return Status::Ok();
      }
      case Tok::kString: {
        auto n = Make(NodeKind::kLiteral, t.pos);
        n->literal = t.text;
        Next();
        *out = std::move(n);
        return Status::Ok();
      }
      case Tok::kIdent: {
        if (IsWordOp(t.text)) return Unexpected();
        auto n = Make(NodeKind::kLiteral, t.pos);
        if (t.text == "true") {
          n->literal = true;
        } else if (t.text == "false") {
          n->literal = false;
        } else if (t.text == "null") {
          n->literal = nullptr;
        } else {
          n->literal = t.text;  // YAQL's keyword string: a bare identifier is its own name
        }
        Next();
        *out = std::move(n);
        return Status::Ok();
      }
      case Tok::kDollar: {
        if (!t.text.empty()) {
          return Err("variable '$" + t.text + "' is not supported (only '$')", t.pos);
        }
        *out = Make(NodeKind::kRoot, t.pos);
        Next();
        return Status::Ok();
      }
      case Tok::kFunc:
        return Call(out, depth, nullptr);
      case Tok::kOp:
        if (t.text == "(") {
          Next();
          GALE_TRY(Expr(out, depth + 1));
          return Expect(")");
        }
        if (t.text == "[") return List(out, depth);
        if (t.text == "{") {
          auto n = Make(NodeKind::kDict, t.pos);
          Next();
          GALE_TRY(Pairs(n.get(), "}", depth));
          *out = std::move(n);
          return Status::Ok();
        }
        return Unexpected();
      case Tok::kEnd:
        return Unexpected();
    }
    return Unexpected();
  }

  Status List(NodePtr* out, int depth) {
    auto n = Make(NodeKind::kList, Cur().pos);
    Next();
    while (!IsOp("]")) {
      if (!n->args.empty()) GALE_TRY(Expect(","));
      NodePtr item;
      GALE_TRY(Expr(&item, depth + 1));
      n->args.push_back(std::move(item));
    }
    Next();
    *out = std::move(n);
    return Status::Ok();
  }

  // `key => value, ...` up to `close` (consumed).
  Status Pairs(Node* n, std::string_view close, int depth) {
    while (!IsOp(close)) {
      if (!n->args.empty()) GALE_TRY(Expect(","));
      NodePtr key, value;
      GALE_TRY(Expr(&key, depth + 1));
      GALE_TRY(Expect("=>"));
      GALE_TRY(Expr(&value, depth + 1));
      n->args.push_back(std::move(key));
      n->args.push_back(std::move(value));
    }
    Next();
    return Status::Ok();
  }

  struct Arg {
    NodePtr key;  // `key => value`
    NodePtr value;
    std::size_t pos = 0;
  };

  // A call `name(args)` (Cur() is the kFunc token), or a method call when `receiver` is set.
  Status Call(NodePtr* out, int depth, NodePtr receiver) {
    GALE_TRY(Enter(depth));
    const std::string name = Cur().text;
    const std::size_t at = Cur().pos;
    Next();
    std::vector<Arg> args;
    while (!IsOp(")")) {
      if (!args.empty()) GALE_TRY(Expect(","));
      Arg a;
      a.pos = Cur().pos;
      GALE_TRY(Expr(&a.value, depth + 1));
      if (IsOp("=>")) {
        Next();
        a.key = std::move(a.value);
        GALE_TRY(Expr(&a.value, depth + 1));
      }
      args.push_back(std::move(a));
    }
    Next();

    if (const FunctionSignature* sig = functions_ ? functions_->Find(name) : nullptr) {
      if (receiver) return Err(name + "() cannot be called as a method", at);
      return HostCall(out, name, at, *sig, std::move(args));
    }
    const Builtin* b = FindBuiltin(name);
    if (!b) return Err("unknown function '" + name + "'", at);
    if (name == "dict" && !receiver && (args.empty() || args[0].key)) {
      auto n = Make(NodeKind::kDict, at);
      for (Arg& a : args) {
        if (!a.key) return Err("dict() takes either key => value pairs or one list", a.pos);
        n->args.push_back(std::move(a.key));
        n->args.push_back(std::move(a.value));
      }
      *out = std::move(n);
      return Status::Ok();
    }
    auto n = Make(NodeKind::kCall, at);
    n->name = name;
    n->builtin = b;
    const bool method = receiver != nullptr;
    if (method) n->args.push_back(std::move(receiver));
    for (Arg& a : args) {
      if (a.key) return Err(name + "() takes no keyword arguments", a.pos);
      n->args.push_back(std::move(a.value));
    }
    const std::size_t count = n->args.size();
    if (count < b->min_args || count > b->max_args) {
      std::string range = std::to_string(b->min_args);
      if (b->max_args != b->min_args) {
        range = b->max_args == SIZE_MAX ? "at least " + range
                                        : range + " to " + std::to_string(b->max_args);
      }
      return Err(name + "() takes " + range + " argument" + (b->max_args == 1 ? "" : "s") +
                     (method ? " counting the receiver" : "") + " (" + std::to_string(count) +
                     " given)",
                 at);
    }
    if (name == "regex_match" && n->args[1]->kind == NodeKind::kLiteral &&
        n->args[1]->literal.is_string()) {
      auto re = Regex::Compile(n->args[1]->literal.get_ref<const std::string&>());
      if (!re.ok()) return Err("regex_match(): " + re.message(), n->args[1]->pos);
      n->regex = std::make_shared<const Regex>(std::move(re).value());
    }
    *out = std::move(n);
    return Status::Ok();
  }

  Status HostCall(NodePtr* out, const std::string& name, std::size_t at,
                  const FunctionSignature& sig, std::vector<Arg> args) {
    const std::size_t n_params = sig.params.size();
    auto n = Make(NodeKind::kHostCall, at);
    n->name = name;
    n->args.resize(n_params);
    std::size_t positional = 0;
    bool keywords = false;
    for (Arg& a : args) {
      std::size_t k = n_params;
      if (!a.key) {
        if (keywords) return Err(name + "(): positional argument follows keyword argument", a.pos);
        k = positional++;
        if (k >= n_params) {
          return Err(name + "() takes at most " + std::to_string(n_params) + " argument" +
                         (n_params == 1 ? "" : "s"),
                     a.pos);
        }
      } else {
        keywords = true;
        if (a.key->kind != NodeKind::kLiteral || !a.key->literal.is_string()) {
          return Err(name + "(): a keyword argument needs a name", a.pos);
        }
        const std::string& key = a.key->literal.get_ref<const std::string&>();
        k = 0;
        while (k < n_params && sig.params[k] != key) ++k;
        if (k == n_params) {
          return Err(name + "() got an unexpected keyword argument '" + key + "'", a.pos);
        }
      }
      if (n->args[k]) return Err(name + "() got multiple values for an argument", a.pos);
      n->args[k] = std::move(a.value);
    }
    for (std::size_t k = 0; k < sig.required; ++k) {
      if (!n->args[k]) {
        return Err(name + "() missing required argument '" + std::string(sig.params[k]) + "'", at);
      }
    }
    *out = std::move(n);
    return Status::Ok();
  }

  std::string_view text_;
  std::vector<Token> toks_;
  const ExprFunctions* functions_;
  std::size_t i_ = 0;
};

}  // namespace

std::string Where(std::string_view text, std::size_t pos) {
  std::size_t line = 1, line_start = 0;
  bool multiline = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      multiline = true;
      if (i < pos) {
        ++line;
        line_start = i + 1;
      }
    }
  }
  if (pos > text.size()) pos = text.size();
  const std::size_t column = py::CodePointCount(text.substr(line_start, pos - line_start)) + 1;
  if (multiline) return "line " + std::to_string(line) + ", column " + std::to_string(column);
  return "column " + std::to_string(column);
}

Result<Expression> Expression::Parse(std::string_view text, std::size_t begin, std::size_t end,
                                     const ExprFunctions* functions) {
  if (end > text.size() || begin > end) return Status::Error("invalid expression span");
  if (end - begin > kMaxSourceBytes) {
    return Status::Error("expression is too long (" + std::to_string(end - begin) + " bytes)");
  }
  try {
    std::vector<Token> toks;
    Lexer lexer(text, begin, end);
    GALE_TRY(lexer.Run(&toks));
    if (toks.size() == 1) {
      return Status::Error("empty expression at " + Where(text, begin));
    }
    Parser parser(text, std::move(toks), functions);
    auto prog = std::make_shared<Program>();
    GALE_TRY(parser.Parse(&prog->root));
    prog->text = std::string(text);
    return Expression(std::move(prog));
  } catch (const std::exception& e) {
    return Status::Error(std::string("internal error while parsing: ") + e.what());
  }
}

}  // namespace gale::expr::yaql

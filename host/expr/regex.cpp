#include "host/expr/regex.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "host/expr/py_value.h"

namespace gale::expr {

namespace {

constexpr std::size_t kMaxInstructions = 20'000;
constexpr int kMaxNesting = 200;
constexpr std::size_t kMaxPatternBytes = 64 * 1024;

enum class Assert : std::uint8_t {
  kBeginText,              // \A, and ^ without MULTILINE
  kEndText,                // \Z
  kEndTextOrFinalNewline,  // $ without MULTILINE
  kBeginLine,              // ^ with MULTILINE
  kEndLine,                // $ with MULTILINE
  kWordBoundary,           // \b
  kNotWordBoundary         // \B
};

enum Builtin : std::uint8_t {
  kDigit = 1,
  kNotDigit = 2,
  kSpace = 4,
  kNotSpace = 8,
  kWord = 16,
  kNotWord = 32,
};

bool IsWordChar(char32_t c) {
  return c == '_' || py::IsAlnum(c);
}

struct CharClass {
  std::vector<std::pair<char32_t, char32_t>> ranges;
  std::uint8_t builtins = 0;
  bool negated = false;
  bool icase = false;
  std::array<std::uint64_t, 2> ascii{};  // final answers for code points < 128

  bool Raw(char32_t c) const {
    for (const auto& [lo, hi] : ranges) {
      if (c >= lo && c <= hi) return true;
    }
    if (builtins == 0) return false;
    if ((builtins & kDigit) && py::IsDigit(c)) return true;
    if ((builtins & kNotDigit) && !py::IsDigit(c)) return true;
    if ((builtins & kSpace) && py::IsSpace(c)) return true;
    if ((builtins & kNotSpace) && !py::IsSpace(c)) return true;
    if ((builtins & kWord) && IsWordChar(c)) return true;
    if ((builtins & kNotWord) && !IsWordChar(c)) return true;
    return false;
  }
  bool Slow(char32_t c) const {
    bool in = Raw(c);
    if (!in && icase) {
      char32_t lo = py::ToLower(c), up = py::ToUpper(c);
      in = (lo != c && Raw(lo)) || (up != c && Raw(up));
    }
    return in != negated;
  }
  void Finish() {
    for (char32_t c = 0; c < 128; ++c) {
      if (Slow(c)) ascii[c >> 6] |= std::uint64_t{1} << (c & 63);
    }
  }
  bool Matches(char32_t c) const {
    if (c < 128) return (ascii[c >> 6] >> (c & 63)) & 1;
    return Slow(c);
  }
};

// ---- AST ----

struct Node {
  enum Kind : std::uint8_t {
    kEmpty,
    kChar,
    kAny,
    kClass,
    kConcat,
    kAlt,
    kRepeat,
    kCapture,
    kAssert
  };
  Kind kind = kEmpty;
  bool icase = false;
  bool dotall = false;
  bool greedy = true;
  Assert assertion = Assert::kBeginText;
  char32_t ch = 0;
  int cls = -1;
  int min = 0;
  int max = 0;  // -1: unbounded
  int cap = 0;
  std::vector<int> kids;
};

struct Flags {
  bool icase = false;
  bool dotall = false;
  bool multiline = false;
  bool verbose = false;
};

enum class Op : std::uint8_t {
  kChar,
  kCharFold,
  kAny,
  kAnyButNewline,
  kClass,
  kSplit,
  kJmp,
  kSave,
  kAssert,
  kMatch
};

struct Instruction {
  Op op;
  Assert assertion;
  std::uint32_t x;  // jump target / preferred branch
  std::uint32_t y;  // second branch / class index / save slot
  char32_t ch;
};

struct Dfa;

}  // namespace

struct Regex::Program {
  ~Program();
  std::string source;
  std::vector<Instruction> insts;
  std::vector<CharClass> classes;
  std::size_t groups = 0;
  std::map<std::string, int, std::less<>> names;
  bool anchored_start = false;   // every match must begin at offset 0
  bool has_first_bytes = false;  // a match must start with one of first_bytes
  std::array<bool, 256> first_bytes{};
  std::optional<std::string> literal;  // the pattern is this literal text, nothing else
  bool dfa_ok = false;                 // only \A \Z $ assertions: the DFA can run it
  std::unique_ptr<Dfa> dfa[2];         // [0] search, [1] anchored match; built lazily
};

namespace {

// ---- parser ----

class Parser {
 public:
  Parser(std::string_view pattern, Regex::Options options) {
    for (std::size_t i = 0; i < pattern.size();) cps_.push_back(py::DecodeUtf8(pattern, i));
    flags_.icase = options.ignore_case;
    flags_.dotall = options.dot_all;
    flags_.multiline = options.multiline;
  }

  Status Parse(Regex::Program& prog, int* root) {
    prog_ = &prog;
    GALE_TRY(GlobalFlags());
    int node = -1;
    GALE_TRY(ParseAlt(&node, 0));
    if (pos_ < cps_.size()) return Err("unbalanced parenthesis");
    *root = node;
    return Status::Ok();
  }

  std::vector<Node> nodes;

 private:
  Status Err(const std::string& what) const {
    return Status::Error(what + " at position " + std::to_string(pos_));
  }
  Status ErrAt(const std::string& what, std::size_t at) const {
    return Status::Error(what + " at position " + std::to_string(at));
  }
  bool AtEnd() const { return pos_ >= cps_.size(); }
  char32_t Peek(std::size_t ahead = 0) const {
    return pos_ + ahead < cps_.size() ? cps_[pos_ + ahead] : 0;
  }
  bool PeekIs(char32_t c, std::size_t ahead = 0) const {
    return pos_ + ahead < cps_.size() && cps_[pos_ + ahead] == c;
  }
  int Add(Node n) {
    nodes.push_back(std::move(n));
    return static_cast<int>(nodes.size() - 1);
  }

  void SkipVerbose() {
    if (!flags_.verbose) return;
    while (!AtEnd()) {
      char32_t c = Peek();
      if (py::IsSpace(c)) {
        ++pos_;
      } else if (c == '#') {
        while (!AtEnd() && Peek() != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  static bool FlagLetter(char32_t c) {
    return c == 'a' || c == 'i' || c == 'L' || c == 'm' || c == 's' || c == 'u' || c == 'x';
  }

  Status ApplyFlag(char32_t c, bool on, Flags& f) const {
    switch (c) {
      case 'i':
        f.icase = on;
        break;
      case 's':
        f.dotall = on;
        break;
      case 'm':
        f.multiline = on;
        break;
      case 'x':
        f.verbose = on;
        break;
      case 'a':
      case 'u':
        break;  // ASCII/Unicode matching: accepted, Unicode classes are always used
      case 'L':
        return Err("bad inline flags: cannot use 'L' flag with a str pattern");
      default:
        return Err("unknown flag");
    }
    return Status::Ok();
  }

  // Python applies (?flags) groups at the start of the pattern to the whole pattern.
  Status GlobalFlags() {
    while (PeekIs('(') && PeekIs('?', 1) && FlagLetter(Peek(2))) {
      std::size_t save = pos_;
      pos_ += 2;
      Flags f = flags_;
      while (!AtEnd() && FlagLetter(Peek())) {
        GALE_TRY(ApplyFlag(Peek(), true, f));
        ++pos_;
      }
      if (!PeekIs(')')) {  // a scoped group such as (?i:...): parsed as an atom
        pos_ = save;
        break;
      }
      ++pos_;
      flags_ = f;
    }
    return Status::Ok();
  }

  Status ParseAlt(int* out, int depth) {
    if (depth > kMaxNesting) return Err("too many nested groups");
    std::vector<int> branches;
    int first = -1;
    GALE_TRY(ParseConcat(&first, depth));
    branches.push_back(first);
    while (PeekIs('|')) {
      ++pos_;
      int next = -1;
      GALE_TRY(ParseConcat(&next, depth));
      branches.push_back(next);
    }
    if (branches.size() == 1) {
      *out = branches[0];
    } else {
      Node n;
      n.kind = Node::kAlt;
      n.kids = std::move(branches);
      *out = Add(std::move(n));
    }
    return Status::Ok();
  }

  Status ParseConcat(int* out, int depth) {
    std::vector<int> items;
    while (true) {
      SkipVerbose();
      if (AtEnd() || PeekIs('|') || PeekIs(')')) break;
      int atom = -1;
      bool quantifiable = true;
      GALE_TRY(ParseAtom(&atom, &quantifiable, depth));
      if (atom < 0) continue;  // a comment
      GALE_TRY(ParseQuantifiers(&atom, quantifiable));
      items.push_back(atom);
    }
    if (items.size() == 1) {
      *out = items[0];
    } else {
      Node n;
      n.kind = items.empty() ? Node::kEmpty : Node::kConcat;
      n.kids = std::move(items);
      *out = Add(std::move(n));
    }
    return Status::Ok();
  }

  // Parses "{m}", "{m,}", "{,n}", "{m,n}" at pos_ (pointing at '{'); false if it is not one.
  bool ParseBraces(int* min, int* max, std::size_t* end, bool* overflow) const {
    std::size_t i = pos_ + 1;
    auto digits = [&](long long* v, bool* any) {
      *any = false;
      *v = 0;
      while (i < cps_.size() && cps_[i] >= '0' && cps_[i] <= '9') {
        *v = *v * 10 + (cps_[i] - '0');
        if (*v > 1'000'000'000) *overflow = true, *v = 1'000'000'000;
        *any = true;
        ++i;
      }
    };
    long long lo = 0, hi = 0;
    bool has_lo = false, has_hi = false;
    digits(&lo, &has_lo);
    if (i < cps_.size() && cps_[i] == '}') {
      if (!has_lo) return false;
      *min = *max = static_cast<int>(lo);
      *end = i + 1;
      return true;
    }
    if (i >= cps_.size() || cps_[i] != ',') return false;
    ++i;
    digits(&hi, &has_hi);
    if (i >= cps_.size() || cps_[i] != '}') return false;
    *min = has_lo ? static_cast<int>(lo) : 0;
    *max = has_hi ? static_cast<int>(hi) : -1;
    *end = i + 1;
    return true;
  }

  Status ParseQuantifiers(int* atom, bool quantifiable) {
    bool repeated = false;
    while (true) {
      SkipVerbose();
      if (AtEnd()) break;
      char32_t c = Peek();
      int min = 0, max = 0;
      std::size_t end = pos_ + 1;
      if (c == '*') {
        min = 0, max = -1;
      } else if (c == '+') {
        min = 1, max = -1;
      } else if (c == '?') {
        min = 0, max = 1;
      } else if (c == '{') {
        bool overflow = false;
        if (!ParseBraces(&min, &max, &end, &overflow)) break;
        if (overflow) return Err("the repetition number is too large");
        if (max >= 0 && min > max) return Err("min repeat greater than max repeat");
      } else {
        break;
      }
      if (!quantifiable) return Err("nothing to repeat");
      if (repeated) return Err("multiple repeat");
      std::size_t at = pos_;
      pos_ = end;
      bool greedy = true;
      if (PeekIs('?')) {
        greedy = false;
        ++pos_;
      } else if (PeekIs('+')) {
        return ErrAt("possessive quantifiers are not supported", at);
      }
      Node n;
      n.kind = Node::kRepeat;
      n.min = min;
      n.max = max;
      n.greedy = greedy;
      n.kids = {*atom};
      *atom = Add(std::move(n));
      repeated = true;
    }
    return Status::Ok();
  }

  int Char(char32_t c) {
    Node n;
    n.kind = Node::kChar;
    n.ch = c;
    n.icase = flags_.icase;
    return Add(std::move(n));
  }

  int ClassNode(CharClass cls) {
    cls.icase = flags_.icase;
    cls.Finish();
    prog_->classes.push_back(std::move(cls));
    Node n;
    n.kind = Node::kClass;
    n.cls = static_cast<int>(prog_->classes.size() - 1);
    return Add(std::move(n));
  }

  int AssertNode(Assert a) {
    Node n;
    n.kind = Node::kAssert;
    n.assertion = a;
    return Add(std::move(n));
  }

  static int HexValue(char32_t c) {
    if (c >= '0' && c <= '9') return static_cast<int>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<int>(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return static_cast<int>(c - 'A' + 10);
    return -1;
  }

  // Reads exactly `n` hex digits after pos_.
  Status Hex(int n, char32_t* out) {
    char32_t v = 0;
    for (int k = 0; k < n; ++k) {
      int h = HexValue(Peek());
      if (AtEnd() || h < 0) return Err("incomplete escape");
      v = v * 16 + static_cast<char32_t>(h);
      ++pos_;
    }
    if (v > 0x10ffff) return Err("bad escape");
    *out = v;
    return Status::Ok();
  }

  // An escape producing one code point (shared by atoms and classes). pos_ is past the
  // backslash and at the escape letter. Returns false in *handled when it is not such an escape.
  Status CodePointEscape(char32_t* out, bool* handled, bool in_class) {
    *handled = true;
    char32_t c = Peek();
    ++pos_;
    switch (c) {
      case 'n':
        *out = '\n';
        return Status::Ok();
      case 't':
        *out = '\t';
        return Status::Ok();
      case 'r':
        *out = '\r';
        return Status::Ok();
      case 'f':
        *out = '\f';
        return Status::Ok();
      case 'v':
        *out = '\v';
        return Status::Ok();
      case 'a':
        *out = '\a';
        return Status::Ok();
      case 'x':
        return Hex(2, out);
      case 'u':
        return Hex(4, out);
      case 'U':
        return Hex(8, out);
      case 'N':
        return Err("\\N{...} escapes are not supported");
      case '0': {
        char32_t v = 0;
        for (int k = 0; k < 2 && Peek() >= '0' && Peek() <= '7' && !AtEnd(); ++k) {
          v = v * 8 + (Peek() - '0');
          ++pos_;
        }
        *out = v;
        return Status::Ok();
      }
      default:
        break;
    }
    if (c >= '1' && c <= '9') {
      // Three octal digits form an octal escape; anything else is a back-reference.
      if (c <= '7' && Peek() >= '0' && Peek() <= '7' && Peek(1) >= '0' && Peek(1) <= '7' &&
          pos_ + 1 < cps_.size()) {
        char32_t v = (c - '0') * 64 + (Peek() - '0') * 8 + (Peek(1) - '0');
        if (v > 0377) return Err("octal escape value outside of range 0-0o377");
        pos_ += 2;
        *out = v;
        return Status::Ok();
      }
      if (in_class) return Err("bad escape \\" + std::string(1, static_cast<char>(c)));
      return Err("back-references are not supported");
    }
    if (c < 128 && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
      --pos_;
      *handled = false;
      return Status::Ok();
    }
    *out = c;  // an escaped non-letter is itself
    return Status::Ok();
  }

  Status ParseEscape(int* out) {
    std::size_t at = pos_;
    ++pos_;  // the backslash
    if (AtEnd()) return ErrAt("bad escape (end of pattern)", at);
    char32_t c = Peek();
    auto builtin = [&](std::uint8_t b) {
      ++pos_;
      CharClass cls;
      cls.builtins = b;
      *out = ClassNode(std::move(cls));
      return Status::Ok();
    };
    switch (c) {
      case 'A':
        ++pos_;
        *out = AssertNode(Assert::kBeginText);
        return Status::Ok();
      case 'Z':
        ++pos_;
        *out = AssertNode(Assert::kEndText);
        return Status::Ok();
      case 'b':
        ++pos_;
        *out = AssertNode(Assert::kWordBoundary);
        return Status::Ok();
      case 'B':
        ++pos_;
        *out = AssertNode(Assert::kNotWordBoundary);
        return Status::Ok();
      case 'd':
        return builtin(kDigit);
      case 'D':
        return builtin(kNotDigit);
      case 's':
        return builtin(kSpace);
      case 'S':
        return builtin(kNotSpace);
      case 'w':
        return builtin(kWord);
      case 'W':
        return builtin(kNotWord);
      default:
        break;
    }
    char32_t cp = 0;
    bool handled = false;
    GALE_TRY(CodePointEscape(&cp, &handled, false));
    if (!handled) return ErrAt("bad escape \\" + std::string(1, static_cast<char>(c)), at);
    *out = Char(cp);
    return Status::Ok();
  }

  // One class member: a code point, or a builtin (\d...) reported through *builtin.
  Status ClassAtom(char32_t* cp, std::uint8_t* builtin) {
    *builtin = 0;
    if (Peek() != '\\') {
      *cp = Peek();
      ++pos_;
      return Status::Ok();
    }
    std::size_t at = pos_;
    ++pos_;
    if (AtEnd()) return ErrAt("bad escape (end of pattern)", at);
    switch (Peek()) {
      case 'd':
        *builtin = kDigit;
        break;
      case 'D':
        *builtin = kNotDigit;
        break;
      case 's':
        *builtin = kSpace;
        break;
      case 'S':
        *builtin = kNotSpace;
        break;
      case 'w':
        *builtin = kWord;
        break;
      case 'W':
        *builtin = kNotWord;
        break;
      case 'b':
        ++pos_;
        *cp = '\b';
        return Status::Ok();
      default: {
        char32_t letter = Peek();
        bool handled = false;
        GALE_TRY(CodePointEscape(cp, &handled, true));
        if (!handled) {
          return ErrAt("bad escape \\" + std::string(1, static_cast<char>(letter)), at);
        }
        return Status::Ok();
      }
    }
    ++pos_;
    return Status::Ok();
  }

  Status ParseClass(int* out) {
    std::size_t start = pos_;
    ++pos_;  // '['
    CharClass cls;
    if (PeekIs('^')) {
      cls.negated = true;
      ++pos_;
    }
    bool first = true;
    while (true) {
      if (AtEnd()) return ErrAt("unterminated character set", start);
      if (Peek() == ']' && !first) {
        ++pos_;
        break;
      }
      first = false;
      std::size_t item_at = pos_;
      char32_t lo = 0;
      std::uint8_t b = 0;
      GALE_TRY(ClassAtom(&lo, &b));
      if (PeekIs('-') && pos_ + 1 < cps_.size() && cps_[pos_ + 1] != ']') {
        ++pos_;  // '-'
        char32_t hi = 0;
        std::uint8_t b2 = 0;
        GALE_TRY(ClassAtom(&hi, &b2));
        if (b || b2 || hi < lo) return ErrAt("bad character range", item_at);
        cls.ranges.emplace_back(lo, hi);
      } else if (b) {
        cls.builtins |= b;
      } else {
        cls.ranges.emplace_back(lo, lo);
      }
    }
    *out = ClassNode(std::move(cls));
    return Status::Ok();
  }

  Status ParseGroup(int* out, bool* quantifiable, int depth) {
    std::size_t start = pos_;
    ++pos_;  // '('
    Flags saved = flags_;
    int cap = -1;
    if (PeekIs('?')) {
      ++pos_;
      char32_t c = Peek();
      if (c == ':') {
        ++pos_;
      } else if (c == 'P' && PeekIs('<', 1)) {
        pos_ += 2;
        std::string name;
        while (!AtEnd() && Peek() != '>') {
          char32_t n = Peek();
          bool ok = n == '_' || py::IsAlnum(n);
          if (!ok || (name.empty() && py::IsDigit(n))) return Err("bad character in group name");
          py::AppendUtf8(name, n);
          ++pos_;
        }
        if (AtEnd()) return Err("missing >, unterminated name");
        if (name.empty()) return Err("missing group name");
        ++pos_;
        if (prog_->names.count(name)) return Err("redefinition of group name '" + name + "'");
        cap = static_cast<int>(++prog_->groups);
        prog_->names.emplace(name, cap);
      } else if (c == 'P' && PeekIs('=', 1)) {
        return ErrAt("back-references are not supported", start);
      } else if (c == '#') {
        while (!AtEnd() && Peek() != ')') ++pos_;
        if (AtEnd()) return ErrAt("missing ), unterminated comment", start);
        ++pos_;
        *out = -1;
        return Status::Ok();
      } else if (c == '=' || c == '!' || (c == '<' && (PeekIs('=', 1) || PeekIs('!', 1)))) {
        return ErrAt("lookahead and lookbehind assertions are not supported", start);
      } else if (c == '(') {
        return ErrAt("conditional groups are not supported", start);
      } else if (c == '>') {
        return ErrAt("atomic groups are not supported", start);
      } else if (FlagLetter(c) || c == '-') {
        bool on = true;
        while (!AtEnd() && (FlagLetter(Peek()) || Peek() == '-')) {
          if (Peek() == '-') {
            on = false;
          } else {
            GALE_TRY(ApplyFlag(Peek(), on, flags_));
          }
          ++pos_;
        }
        if (PeekIs(')')) return ErrAt("global flags not at the start of the expression", start);
        if (!PeekIs(':')) return Err("missing :");
        ++pos_;
      } else {
        return ErrAt("unknown extension ?" + std::string(1, static_cast<char>(c)), start);
      }
    } else {
      cap = static_cast<int>(++prog_->groups);
    }
    int inner = -1;
    GALE_TRY(ParseAlt(&inner, depth + 1));
    if (!PeekIs(')')) return ErrAt("missing ), unterminated subpattern", start);
    ++pos_;
    flags_ = saved;
    if (cap >= 0) {
      Node n;
      n.kind = Node::kCapture;
      n.cap = cap;
      n.kids = {inner};
      *out = Add(std::move(n));
    } else {
      *out = inner;
    }
    *quantifiable = true;
    return Status::Ok();
  }

  Status ParseAtom(int* out, bool* quantifiable, int depth) {
    char32_t c = Peek();
    *quantifiable = true;
    switch (c) {
      case '(':
        return ParseGroup(out, quantifiable, depth);
      case '[':
        return ParseClass(out);
      case '.': {
        ++pos_;
        Node n;
        n.kind = Node::kAny;
        n.dotall = flags_.dotall;
        *out = Add(std::move(n));
        return Status::Ok();
      }
      case '^':
        ++pos_;
        *quantifiable = false;
        *out = AssertNode(flags_.multiline ? Assert::kBeginLine : Assert::kBeginText);
        return Status::Ok();
      case '$':
        ++pos_;
        *quantifiable = false;
        *out = AssertNode(flags_.multiline ? Assert::kEndLine : Assert::kEndTextOrFinalNewline);
        return Status::Ok();
      case '\\': {
        Status s = ParseEscape(out);
        if (s.ok() && nodes[static_cast<std::size_t>(*out)].kind == Node::kAssert) {
          *quantifiable = false;
        }
        return s;
      }
      case '*':
      case '+':
      case '?':
        return Err("nothing to repeat");
      case '{': {
        int min = 0, max = 0;
        std::size_t end = 0;
        bool overflow = false;
        if (ParseBraces(&min, &max, &end, &overflow)) return Err("nothing to repeat");
        ++pos_;
        *out = Char('{');
        return Status::Ok();
      }
      default:
        ++pos_;
        *out = Char(c);
        return Status::Ok();
    }
  }

  std::vector<char32_t> cps_;
  std::size_t pos_ = 0;
  Flags flags_;
  Regex::Program* prog_ = nullptr;
};

// ---- compiler ----

class Compiler {
 public:
  Compiler(const std::vector<Node>& nodes, Regex::Program& prog) : nodes_(nodes), prog_(prog) {}

  // Instructions a node compiles to, saturating at kMaxInstructions + 1.
  std::size_t Size(int id, int depth = 0) const {
    if (id < 0 || depth > 4 * kMaxNesting) return kMaxInstructions + 1;
    const Node& n = nodes_[static_cast<std::size_t>(id)];
    auto sat = [](std::size_t v) { return std::min(v, kMaxInstructions + 1); };
    switch (n.kind) {
      case Node::kEmpty:
        return 0;
      case Node::kConcat: {
        std::size_t total = 0;
        for (int k : n.kids) total = sat(total + Size(k, depth + 1));
        return total;
      }
      case Node::kAlt: {
        std::size_t total = 0;
        for (int k : n.kids) total = sat(total + Size(k, depth + 1) + 2);
        return total;
      }
      case Node::kCapture:
        return sat(Size(n.kids[0], depth + 1) + 2);
      case Node::kRepeat: {
        std::size_t body = Size(n.kids[0], depth + 1) + 2;
        std::size_t copies = static_cast<std::size_t>(n.max < 0 ? n.min + 1 : n.max);
        if (copies == 0) return 0;
        if (body > kMaxInstructions || copies > kMaxInstructions) return kMaxInstructions + 1;
        return sat(body * copies);
      }
      default:
        return 1;
    }
  }

  void Emit(int id) {
    const Node& n = nodes_[static_cast<std::size_t>(id)];
    switch (n.kind) {
      case Node::kEmpty:
        break;
      case Node::kChar: {
        char32_t lower = py::ToLower(n.ch);
        // Non-ASCII letters always fold: another code point may lower to this one (U+1E9E to ß).
        if (n.icase && (lower != n.ch || py::ToUpper(n.ch) != n.ch || n.ch >= 128)) {
          Push({Op::kCharFold, Assert::kBeginText, 0, 0, lower});
        } else {
          Push({Op::kChar, Assert::kBeginText, 0, 0, n.ch});
        }
        break;
      }
      case Node::kAny:
        Push({n.dotall ? Op::kAny : Op::kAnyButNewline, Assert::kBeginText, 0, 0, 0});
        break;
      case Node::kClass:
        Push({Op::kClass, Assert::kBeginText, 0, static_cast<std::uint32_t>(n.cls), 0});
        break;
      case Node::kAssert:
        Push({Op::kAssert, n.assertion, 0, 0, 0});
        break;
      case Node::kConcat:
        for (int k : n.kids) Emit(k);
        break;
      case Node::kCapture:
        Push({Op::kSave, Assert::kBeginText, 0, static_cast<std::uint32_t>(2 * n.cap), 0});
        Emit(n.kids[0]);
        Push({Op::kSave, Assert::kBeginText, 0, static_cast<std::uint32_t>(2 * n.cap + 1), 0});
        break;
      case Node::kAlt: {
        std::vector<std::size_t> jumps;
        for (std::size_t k = 0; k < n.kids.size(); ++k) {
          if (k + 1 < n.kids.size()) {
            std::size_t split = Push({Op::kSplit, Assert::kBeginText, 0, 0, 0});
            Inst(split).x = Here();
            Emit(n.kids[k]);
            jumps.push_back(Push({Op::kJmp, Assert::kBeginText, 0, 0, 0}));
            Inst(split).y = Here();
          } else {
            Emit(n.kids[k]);
          }
        }
        for (std::size_t j : jumps) Inst(j).x = Here();
        break;
      }
      case Node::kRepeat:
        EmitRepeat(n);
        break;
    }
  }

  std::uint32_t Here() const { return static_cast<std::uint32_t>(prog_.insts.size()); }
  std::size_t Push(const Instruction& in) {
    prog_.insts.push_back(in);
    return prog_.insts.size() - 1;
  }
  Instruction& Inst(std::size_t at) { return prog_.insts[at]; }

 private:
  // Split whose preferred branch is the body when greedy.
  void SetSplit(std::size_t at, std::uint32_t body, std::uint32_t skip, bool greedy) {
    Inst(at).x = greedy ? body : skip;
    Inst(at).y = greedy ? skip : body;
  }

  void EmitRepeat(const Node& n) {
    int child = n.kids[0];
    int mandatory = n.min;
    if (n.max < 0 && mandatory > 0) --mandatory;  // x{m,} = x{m-1} then x+
    for (int k = 0; k < mandatory; ++k) Emit(child);
    if (n.max < 0) {
      if (n.min > 0) {
        // x+: L: x; split(L, out)
        std::uint32_t loop = Here();
        Emit(child);
        std::size_t split = Push({Op::kSplit, Assert::kBeginText, 0, 0, 0});
        SetSplit(split, loop, Here(), n.greedy);
      } else {
        // x*: L: split(body, out); body: x; jmp L
        std::size_t split = Push({Op::kSplit, Assert::kBeginText, 0, 0, 0});
        std::uint32_t body = Here();
        Emit(child);
        Push({Op::kJmp, Assert::kBeginText, static_cast<std::uint32_t>(split), 0, 0});
        SetSplit(split, body, Here(), n.greedy);
      }
      return;
    }
    // x{m,n}: n-m nested optional copies, all skipping to the end.
    std::vector<std::size_t> splits;
    for (int k = n.min; k < n.max; ++k) {
      std::size_t split = Push({Op::kSplit, Assert::kBeginText, 0, 0, 0});
      splits.push_back(split);
      Inst(split).x = Here();  // provisional; fixed below
      Emit(child);
    }
    for (std::size_t split : splits)
      SetSplit(split, static_cast<std::uint32_t>(split + 1), Here(), n.greedy);
  }

  const std::vector<Node>& nodes_;
  Regex::Program& prog_;
};

// Which bytes can start a match (UTF-8 lead bytes only, so a skip lands on a character start).
void ComputeFirstBytes(Regex::Program& prog) {
  std::vector<bool> seen(prog.insts.size(), false);
  std::vector<std::uint32_t> stack{0};
  std::array<bool, 256>& fb = prog.first_bytes;
  auto non_ascii = [&] {
    for (int b = 0xc2; b <= 0xf4; ++b) fb[static_cast<std::size_t>(b)] = true;
  };
  auto add_cp = [&](char32_t c) {
    std::string enc;
    py::AppendUtf8(enc, c);
    fb[static_cast<unsigned char>(enc[0])] = true;
  };
  while (!stack.empty()) {
    std::uint32_t pc = stack.back();
    stack.pop_back();
    if (pc >= prog.insts.size() || seen[pc]) continue;
    seen[pc] = true;
    const Instruction& in = prog.insts[pc];
    switch (in.op) {
      case Op::kJmp:
        stack.push_back(in.x);
        break;
      case Op::kSplit:
        stack.push_back(in.x);
        stack.push_back(in.y);
        break;
      case Op::kSave:
      case Op::kAssert:
        stack.push_back(pc + 1);
        break;
      case Op::kMatch:
      case Op::kAny:
      case Op::kAnyButNewline:
        prog.has_first_bytes = false;  // an empty match or any character: no prefilter
        return;
      case Op::kChar:
        add_cp(in.ch);
        break;
      case Op::kCharFold:
        if (in.ch < 128) {
          add_cp(in.ch);
          add_cp(py::ToUpper(in.ch));
        }
        non_ascii();  // other code points may fold to it (e.g. KELVIN SIGN to 'k')
        break;
      case Op::kClass: {
        const CharClass& cls = prog.classes[in.y];
        for (char32_t c = 0; c < 128; ++c) {
          if (cls.Matches(c)) fb[c] = true;
        }
        bool maybe_non_ascii = cls.negated || cls.icase || cls.builtins != 0;
        for (const auto& r : cls.ranges) maybe_non_ascii = maybe_non_ascii || r.second >= 128;
        if (maybe_non_ascii) non_ascii();
        break;
      }
    }
  }
  prog.has_first_bytes = true;
}

// ---- matcher ----

struct ThreadList {
  std::vector<std::uint32_t> sparse;
  std::vector<std::uint32_t> dense;
  std::vector<std::ptrdiff_t> caps;  // ncap slots per pc
  std::size_t n = 0;

  void Reset(std::size_t insts, std::size_t ncap) {
    if (sparse.size() < insts) {
      sparse.assign(insts, 0);
      dense.assign(insts, 0);
    }
    if (caps.size() < insts * ncap) caps.resize(insts * ncap);
    n = 0;
  }
  bool Contains(std::uint32_t pc) const { return sparse[pc] < n && dense[sparse[pc]] == pc; }
  void Add(std::uint32_t pc) {
    sparse[pc] = static_cast<std::uint32_t>(n);
    dense[n++] = pc;
  }
};

struct Frame {
  std::uint32_t pc;
  std::int32_t slot;  // >= 0: restore caps[slot] = old
  std::ptrdiff_t old;
};

struct Scratch {
  ThreadList a, b;
  std::vector<Frame> stack;
  std::vector<std::ptrdiff_t> cur;
};

class Matcher {
 public:
  Matcher(const Regex::Program& prog, std::string_view text, std::size_t ncap, Scratch& s)
      : prog_(prog), text_(text), ncap_(ncap), s_(s) {}

  // Returns 1 match, 0 none, -1 budget exhausted.
  int Run(std::size_t start, bool anchored, std::vector<std::ptrdiff_t>* best) {
    const std::size_t n_insts = prog_.insts.size();
    ThreadList* clist = &s_.a;
    ThreadList* nlist = &s_.b;
    clist->Reset(n_insts, ncap_);
    nlist->Reset(n_insts, ncap_);
    s_.cur.assign(ncap_, -1);
    if (prog_.anchored_start) {
      if (start != 0) return 0;
      anchored = true;
    }
    bool matched = false;
    std::size_t pos = start;
    const std::size_t len = text_.size();
    while (true) {
      if (!matched && (!anchored || pos == start)) {
        if (clist->n == 0 && !anchored && prog_.has_first_bytes) {
          while (pos < len && !prog_.first_bytes[static_cast<unsigned char>(text_[pos])]) ++pos;
          if (pos >= len) break;
        }
        std::fill(s_.cur.begin(), s_.cur.end(), -1);
        if (!AddThread(*clist, 0, pos)) return -1;
      }
      if (clist->n == 0) {
        if (matched || anchored || pos >= len) break;
        std::size_t next = pos;
        py::DecodeUtf8(text_, next);
        pos = next;
        continue;
      }
      std::size_t next = pos;
      char32_t c = 0;
      if (pos < len) c = py::DecodeUtf8(text_, next);
      nlist->n = 0;
      for (std::size_t i = 0; i < clist->n; ++i) {
        std::uint32_t pc = clist->dense[i];
        const Instruction& in = prog_.insts[pc];
        bool step = false;
        switch (in.op) {
          case Op::kMatch:
            if (ncap_ == 0) return 1;
            matched = true;
            best->assign(clist->caps.begin() + static_cast<std::ptrdiff_t>(pc * ncap_),
                         clist->caps.begin() + static_cast<std::ptrdiff_t>((pc + 1) * ncap_));
            i = clist->n;  // lower-priority threads are cut off
            continue;
          case Op::kChar:
            step = pos < len && c == in.ch;
            break;
          case Op::kCharFold:
            step = pos < len && (c == in.ch || py::ToLower(c) == in.ch);
            break;
          case Op::kAny:
            step = pos < len;
            break;
          case Op::kAnyButNewline:
            step = pos < len && c != '\n';
            break;
          case Op::kClass:
            step = pos < len && prog_.classes[in.y].Matches(c);
            break;
          default:
            break;
        }
        if (!step) continue;
        if (++steps_ > Regex::kStepBudget) return -1;
        if (ncap_ > 0) {
          std::copy(clist->caps.begin() + static_cast<std::ptrdiff_t>(pc * ncap_),
                    clist->caps.begin() + static_cast<std::ptrdiff_t>((pc + 1) * ncap_),
                    s_.cur.begin());
        }
        if (!AddThread(*nlist, pc + 1, next)) return -1;
      }
      if (pos >= len) break;
      std::swap(clist, nlist);
      pos = next;
    }
    return matched ? 1 : 0;
  }

 private:
  char32_t PrevChar(std::size_t pos) const {
    std::size_t p = pos;
    int back = 0;
    do {
      --p;
      ++back;
    } while (p > 0 && back < 4 && (static_cast<unsigned char>(text_[p]) & 0xc0) == 0x80);
    std::size_t i = p;
    return py::DecodeUtf8(text_, i);
  }

  bool Holds(Assert a, std::size_t pos) const {
    const std::size_t len = text_.size();
    switch (a) {
      case Assert::kBeginText:
        return pos == 0;
      case Assert::kEndText:
        return pos == len;
      case Assert::kEndTextOrFinalNewline:
        return pos == len || (pos + 1 == len && text_[pos] == '\n');
      case Assert::kBeginLine:
        return pos == 0 || text_[pos - 1] == '\n';
      case Assert::kEndLine:
        return pos == len || text_[pos] == '\n';
      case Assert::kWordBoundary:
      case Assert::kNotWordBoundary: {
        bool before = pos > 0 && IsWordChar(PrevChar(pos));
        bool after = false;
        if (pos < len) {
          std::size_t i = pos;
          after = IsWordChar(py::DecodeUtf8(text_, i));
        }
        return (before != after) == (a == Assert::kWordBoundary);
      }
    }
    return false;
  }

  // Follows empty transitions from pc at `pos`, adding threads to `list` in priority order.
  bool AddThread(ThreadList& list, std::uint32_t pc0, std::size_t pos) {
    auto& stack = s_.stack;
    auto& cur = s_.cur;
    stack.clear();
    stack.push_back({pc0, -1, 0});
    while (!stack.empty()) {
      Frame f = stack.back();
      stack.pop_back();
      if (f.slot >= 0) {
        cur[static_cast<std::size_t>(f.slot)] = f.old;
        continue;
      }
      if (list.Contains(f.pc)) continue;
      list.Add(f.pc);
      if (++steps_ > Regex::kStepBudget) return false;
      const Instruction& in = prog_.insts[f.pc];
      switch (in.op) {
        case Op::kJmp:
          stack.push_back({in.x, -1, 0});
          break;
        case Op::kSplit:
          stack.push_back({in.y, -1, 0});
          stack.push_back({in.x, -1, 0});
          break;
        case Op::kSave:
          if (in.y < ncap_) {
            stack.push_back({0, static_cast<std::int32_t>(in.y), cur[in.y]});
            cur[in.y] = static_cast<std::ptrdiff_t>(pos);
          }
          stack.push_back({f.pc + 1, -1, 0});
          break;
        case Op::kAssert:
          if (Holds(in.assertion, pos)) stack.push_back({f.pc + 1, -1, 0});
          break;
        default:
          if (ncap_ > 0) {
            std::copy(cur.begin(), cur.end(),
                      list.caps.begin() + static_cast<std::ptrdiff_t>(f.pc * ncap_));
          }
          break;
      }
    }
    return true;
  }

  const Regex::Program& prog_;
  std::string_view text_;
  std::size_t ncap_;
  Scratch& s_;
  std::size_t steps_ = 0;
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// The literal a pattern reduces to, if it is nothing but case-sensitive characters.
std::optional<std::string> LiteralOf(const std::vector<Node>& nodes, int root) {
  std::vector<int> items;
  const Node& r = nodes[static_cast<std::size_t>(root)];
  if (r.kind == Node::kChar) {
    items.push_back(root);
  } else if (r.kind == Node::kConcat) {
    items = r.kids;
  } else {
    return std::nullopt;
  }
  std::string lit;
  for (int id : items) {
    const Node& n = nodes[static_cast<std::size_t>(id)];
    if (n.kind != Node::kChar) return std::nullopt;
    if (n.icase && (py::ToLower(n.ch) != n.ch || py::ToUpper(n.ch) != n.ch || n.ch >= 128)) {
      return std::nullopt;
    }
    py::AppendUtf8(lit, n.ch);
  }
  return lit;
}

// ---- lazy DFA for yes/no questions on ASCII text ----
//
// A state is the set of NFA instructions alive at a position (consuming instructions, Match,
// and end-of-text assertions waiting for the end). Transitions on ASCII characters are computed
// on first use and cached in atomics, so concurrent matchers share the cache without locking on
// the fast path; a mutex serialises the construction of new states. Text with a non-ASCII byte,
// or a pattern that needs more than kMaxDfaStates states, goes to the Pike VM instead.

constexpr int kMaxDfaStates = 256;
constexpr std::size_t kMaxDfaBytes = 1 << 20;  // per DFA: states plus their NFA sets
constexpr std::int32_t kUnknown = -1;
constexpr std::int32_t kGiveUp = -2;

struct DfaState {
  std::vector<std::uint32_t> set;
  bool match = false;           // a match ends here
  bool end_match = false;       // a match ends here if this is the end of the text
  bool final_nl_match = false;  // ... or if only a final "\n" follows ($ without MULTILINE)
  std::atomic<std::int32_t> next[128];
  DfaState() {
    for (auto& n : next) n.store(kUnknown, std::memory_order_relaxed);
  }
};

struct Dfa {
  std::mutex mu;
  std::unique_ptr<std::unique_ptr<DfaState>[]> states {
    new std::unique_ptr<DfaState>[ kMaxDfaStates ]
  };
  int count = 0;
  std::size_t bytes = 0;
  std::map<std::vector<std::uint32_t>, std::int32_t> index;
  std::vector<std::uint32_t> restart;  // search mode: threads starting at each position > 0
  bool search = false;
  std::int32_t start = kGiveUp;
};

enum class EndMode { kNotEnd, kEnd, kFinalNewline };

// Visits, each once, the instructions reachable from `seeds` through jumps, splits and saves;
// every other one (an assertion, or one that consumes or matches) goes to `at(pc)`, which says
// whether to go on to pc + 1. Shared by the DFA's closures and BuildDfas' look-ahead.
template <class At>
void Walk(const Regex::Program& prog, const std::vector<std::uint32_t>& seeds, At at) {
  std::vector<bool> seen(prog.insts.size(), false);
  std::vector<std::uint32_t> stack(seeds.rbegin(), seeds.rend());
  while (!stack.empty()) {
    std::uint32_t pc = stack.back();
    stack.pop_back();
    if (seen[pc]) continue;
    seen[pc] = true;
    const Instruction& in = prog.insts[pc];
    switch (in.op) {
      case Op::kJmp:
        stack.push_back(in.x);
        break;
      case Op::kSplit:
        stack.push_back(in.y);
        stack.push_back(in.x);
        break;
      case Op::kSave:
        stack.push_back(pc + 1);
        break;
      default:
        if (at(pc)) stack.push_back(pc + 1);
    }
  }
}

// Closure of `seeds` at a position: follows jumps, splits, saves and the assertions that hold.
// End assertions are kept as pending members unless `end` says whether they hold.
std::vector<std::uint32_t> Closure(const Regex::Program& prog, std::vector<std::uint32_t> seeds,
                                   bool at_begin, EndMode end) {
  std::vector<std::uint32_t> out;
  Walk(prog, seeds, [&](std::uint32_t pc) {
    const Instruction& in = prog.insts[pc];
    if (in.op != Op::kAssert) {
      out.push_back(pc);
      return false;
    }
    if (in.assertion == Assert::kBeginText) return at_begin;
    if (end == EndMode::kNotEnd) {
      out.push_back(pc);  // pending until the end of the text
      return false;
    }
    return in.assertion == Assert::kEndTextOrFinalNewline ||
           (in.assertion == Assert::kEndText && end == EndMode::kEnd);
  });
  std::sort(out.begin(), out.end());
  return out;
}

bool SetMatches(const Regex::Program& prog, const std::vector<std::uint32_t>& set) {
  for (std::uint32_t pc : set) {
    if (prog.insts[pc].op == Op::kMatch) return true;
  }
  return false;
}

// Adds the state for `set` (mu held). Returns its id, or kGiveUp past kMaxDfaStates.
std::int32_t Intern(const Regex::Program& prog, Dfa& dfa, std::vector<std::uint32_t> set) {
  auto it = dfa.index.find(set);
  if (it != dfa.index.end()) return it->second;
  std::size_t cost = sizeof(DfaState) + 2 * set.size() * sizeof(std::uint32_t);
  if (dfa.count >= kMaxDfaStates || dfa.bytes + cost > kMaxDfaBytes) return kGiveUp;
  dfa.bytes += cost;
  auto st = std::make_unique<DfaState>();
  st->match = SetMatches(prog, set);
  std::vector<std::uint32_t> pending;
  for (std::uint32_t pc : set) {
    if (prog.insts[pc].op == Op::kAssert) pending.push_back(pc);
  }
  if (!pending.empty()) {
    // Re-run the pending assertions as they would hold at the end / before a final newline.
    auto resume = [&](EndMode mode) {
      std::vector<std::uint32_t> seeds;
      for (std::uint32_t pc : pending) seeds.push_back(pc);
      return SetMatches(prog, Closure(prog, seeds, false, mode));
    };
    st->end_match = resume(EndMode::kEnd);
    st->final_nl_match = resume(EndMode::kFinalNewline);
  }
  st->set = std::move(set);
  std::int32_t id = dfa.count++;
  dfa.index.emplace(st->set, id);
  dfa.states[static_cast<std::size_t>(id)] = std::move(st);
  return id;
}

Dfa& GetDfa(const Regex::Program& prog, bool anchored) {
  return *prog.dfa[anchored ? 1 : 0];
}

std::int32_t Transition(const Regex::Program& prog, Dfa& dfa, std::int32_t from, unsigned char c) {
  std::lock_guard<std::mutex> lock(dfa.mu);
  DfaState& st = *dfa.states[static_cast<std::size_t>(from)];
  std::int32_t known = st.next[c].load(std::memory_order_acquire);
  if (known != kUnknown) return known;
  std::vector<std::uint32_t> seeds;
  for (std::uint32_t pc : st.set) {
    const Instruction& in = prog.insts[pc];
    bool step = false;
    switch (in.op) {
      case Op::kChar:
        step = c == in.ch;
        break;
      case Op::kCharFold:
        step = c == in.ch || py::ToLower(c) == in.ch;
        break;
      case Op::kAny:
        step = true;
        break;
      case Op::kAnyButNewline:
        step = c != '\n';
        break;
      case Op::kClass:
        step = prog.classes[in.y].Matches(c);
        break;
      default:
        break;
    }
    if (step) seeds.push_back(pc + 1);
  }
  std::vector<std::uint32_t> set = Closure(prog, seeds, false, EndMode::kNotEnd);
  if (dfa.search) {
    set.insert(set.end(), dfa.restart.begin(), dfa.restart.end());
    std::sort(set.begin(), set.end());
    set.erase(std::unique(set.begin(), set.end()), set.end());
  }
  std::int32_t id = Intern(prog, dfa, std::move(set));
  st.next[c].store(id, std::memory_order_release);
  return id;
}

// nullopt: the DFA cannot answer (non-ASCII text or too many states); use the Pike VM.
std::optional<bool> RunDfa(const Regex::Program& prog, std::string_view text, bool anchored) {
  Dfa& dfa = GetDfa(prog, anchored);
  std::int32_t s = dfa.start;
  if (s < 0) return std::nullopt;
  const std::size_t len = text.size();
  for (std::size_t pos = 0;; ++pos) {
    const DfaState& st = *dfa.states[static_cast<std::size_t>(s)];
    if (st.match) return true;
    if (pos == len) return st.end_match;
    auto c = static_cast<unsigned char>(text[pos]);
    if (c >= 128) return std::nullopt;
    if (c == '\n' && pos + 1 == len && st.final_nl_match) return true;
    if (st.set.empty() && !dfa.search) return false;
    std::int32_t next = st.next[c].load(std::memory_order_acquire);
    if (next == kUnknown) next = Transition(prog, dfa, s, c);
    if (next == kGiveUp) return std::nullopt;
    s = next;
  }
}

// What can run right after `pc` (through jumps, splits, saves and assertions): an instruction
// that consumes a character, and \A.
struct Following {
  bool consumes = false;
  bool begin_text = false;
};

Following WhatFollows(const Regex::Program& prog, std::uint32_t pc) {
  Following out;
  Walk(prog, {pc + 1}, [&](std::uint32_t at) {
    const Instruction& in = prog.insts[at];
    if (in.op == Op::kAssert) {
      if (in.assertion == Assert::kBeginText) out.begin_text = true;
      return true;
    }
    if (in.op != Op::kMatch) out.consumes = true;
    return false;
  });
  return out;
}

void BuildDfas(Regex::Program& prog) {
  for (std::uint32_t pc = 0; pc < prog.insts.size(); ++pc) {
    const Instruction& in = prog.insts[pc];
    if (in.op != Op::kAssert || in.assertion == Assert::kBeginText) continue;
    if (in.assertion != Assert::kEndText && in.assertion != Assert::kEndTextOrFinalNewline) {
      return;  // line and word assertions depend on neighbours: Pike VM only
    }
    // The DFA holds end assertions pending until the end of the text and resumes them as if
    // not at the beginning, so it cannot run `$\n` (`$` before the final newline, then that
    // newline) nor \A after an end assertion (`\Z^` on empty text). Both found by
    // test/fuzz/regex; such patterns run on the Pike VM only.
    const Following after = WhatFollows(prog, pc);
    if (after.begin_text || (in.assertion == Assert::kEndTextOrFinalNewline && after.consumes)) {
      return;
    }
  }
  prog.dfa_ok = true;
  for (int anchored = 0; anchored < 2; ++anchored) {
    auto dfa = std::make_unique<Dfa>();
    dfa->search = anchored == 0 && !prog.anchored_start;
    if (dfa->search) dfa->restart = Closure(prog, {0}, false, EndMode::kNotEnd);
    dfa->start = Intern(prog, *dfa, Closure(prog, {0}, true, EndMode::kNotEnd));
    prog.dfa[anchored] = std::move(dfa);
  }
}

}  // namespace

Regex::Program::~Program() = default;

Result<Regex> Regex::Compile(std::string_view pattern, Options options) {
  if (pattern.size() > kMaxPatternBytes) {
    return Status::Error("regular expression is too long (" + std::to_string(pattern.size()) +
                         " bytes, at most " + std::to_string(kMaxPatternBytes) + ")");
  }
  auto prog = std::make_shared<Program>();
  prog->source = std::string(pattern);
  Parser parser(pattern, options);
  int root = -1;
  GALE_TRY(parser.Parse(*prog, &root));
  Compiler compiler(parser.nodes, *prog);
  if (compiler.Size(root) + 3 > kMaxInstructions) {
    return Status::Error("regular expression is too large (more than " +
                         std::to_string(kMaxInstructions) + " instructions once compiled)");
  }
  compiler.Push({Op::kSave, Assert::kBeginText, 0, 0, 0});
  compiler.Emit(root);
  compiler.Push({Op::kSave, Assert::kBeginText, 0, 1, 0});
  compiler.Push({Op::kMatch, Assert::kBeginText, 0, 0, 0});
  // Anchored when the first real instruction is \A (or ^ without MULTILINE).
  for (const Instruction& in : prog->insts) {
    if (in.op == Op::kSave) continue;
    prog->anchored_start = in.op == Op::kAssert && in.assertion == Assert::kBeginText;
    break;
  }
  ComputeFirstBytes(*prog);
  BuildDfas(*prog);
  if (prog->groups == 0) prog->literal = LiteralOf(parser.nodes, root);
  return Regex(std::move(prog));
}

std::optional<bool> Regex::Find(std::string_view text, std::size_t start, bool anchored,
                                std::vector<Group>* groups) const {
  const Program& prog = *program_;
  if (start > text.size()) return false;
  if (prog.literal) {
    const std::string& lit = *prog.literal;
    std::size_t at = std::string_view::npos;
    if (anchored) {
      if (text.substr(start, lit.size()) == lit) at = start;
    } else {
      at = text.find(lit, start);
    }
    if (at == std::string_view::npos) return false;
    if (groups) {
      groups->assign(
          1, Group{static_cast<std::ptrdiff_t>(at), static_cast<std::ptrdiff_t>(at + lit.size())});
    }
    return true;
  }
  std::size_t ncap = groups ? 2 * (prog.groups + 1) : 0;
  Scratch& scratch = ThreadScratch();
  Matcher m(prog, text, ncap, scratch);
  std::vector<std::ptrdiff_t> best;
  int r = m.Run(start, anchored, &best);
  if (r < 0) return std::nullopt;
  if (r == 0) return false;
  if (groups) {
    groups->assign(prog.groups + 1, Group{});
    for (std::size_t g = 0; g <= prog.groups; ++g) {
      std::ptrdiff_t b = best[2 * g], e = best[2 * g + 1];
      if (b >= 0 && e >= 0) (*groups)[g] = Group{b, e};
    }
  }
  return true;
}

std::optional<bool> Regex::Search(std::string_view text) const {
  if (!program_->literal && program_->dfa_ok) {
    if (auto r = RunDfa(*program_, text, false)) return r;
  }
  return Find(text, 0, false, nullptr);
}

std::optional<bool> Regex::Match(std::string_view text) const {
  if (!program_->literal && program_->dfa_ok) {
    if (auto r = RunDfa(*program_, text, true)) return r;
  }
  return Find(text, 0, true, nullptr);
}

std::size_t Regex::group_count() const {
  return program_->groups;
}

int Regex::GroupIndex(std::string_view name) const {
  auto it = program_->names.find(name);
  return it == program_->names.end() ? -1 : it->second;
}

const std::string& Regex::pattern() const {
  return program_->source;
}

std::string GlobToRegex(std::string_view glob) {
  std::vector<char32_t> p;
  for (std::size_t i = 0; i < glob.size();) p.push_back(py::DecodeUtf8(glob, i));
  auto escaped = [](std::string& out, char32_t c) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "\\U%08X", static_cast<unsigned>(c));
    out += buf;
  };
  std::string out = "(?s:";
  std::size_t i = 0, n = p.size();
  bool last_star = false;
  while (i < n) {
    char32_t c = p[i++];
    if (c == '*') {
      if (!last_star) out += ".*";
      last_star = true;
      continue;
    }
    last_star = false;
    if (c == '?') {
      out += ".";
    } else if (c == '[') {
      std::size_t j = i;
      if (j < n && p[j] == '!') ++j;
      if (j < n && p[j] == ']') ++j;
      while (j < n && p[j] != ']') ++j;
      if (j >= n) {
        out += "\\[";
        continue;
      }
      std::size_t k = i;
      bool negated = false;
      if (p[k] == '!') {
        negated = true;
        ++k;
      }
      std::string set;
      bool any = false;
      while (k < j) {
        char32_t lo = p[k++];
        if (k + 1 < j && p[k] == '-') {
          char32_t hi = p[k + 1];
          k += 2;
          if (lo > hi) continue;  // an empty range matches nothing, as in Python 3.9+
          escaped(set, lo);
          set += "-";
          escaped(set, hi);
        } else {
          escaped(set, lo);
        }
        any = true;
      }
      i = j + 1;
      if (!any) {
        out += negated ? "." : "[^\\s\\S]";
      } else {
        out += negated ? "[^" : "[";
        out += set;
        out += "]";
      }
    } else if (c < 128 && !py::IsAlnum(c) && c != '_') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else {
      py::AppendUtf8(out, c);
    }
  }
  out += ")\\Z";
  return out;
}

}  // namespace gale::expr

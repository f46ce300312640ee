// Lexer and recursive-descent parser for CEL (https://github.com/google/cel-spec
// doc/langdef.md, "Syntax").
#include "expr/parser.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <deque>
#include <limits>

#include "expr/internal.h"

namespace cairn::expr::internal {

std::string_view BinOpText(BinOp op) {
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
      return "%";
    case BinOp::kEq:
      return "==";
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

namespace {

enum class Tok : uint8_t {
  kEnd,
  kInt,
  kUint,
  kDouble,
  kString,
  kBytes,
  kIdent,
  kQuotedIdent,  // `content-type`, only as a field name
  kTrue,
  kFalse,
  kNull,
  kIn,
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kLBrace,
  kRBrace,
  kDot,
  kComma,
  kColon,
  kQuestion,
  kPlus,
  kMinus,
  kStar,
  kSlash,
  kPercent,
  kNot,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kAnd,
  kOr,
};

struct Token {
  Tok kind = Tok::kEnd;
  int32_t begin = 0;
  int32_t end = 0;
  bool reserved = false;     // kIdent that CEL reserves (if, for, ...)
  bool int_too_big = false;  // kInt/kUint beyond uint64
  uint64_t magnitude = 0;    // kInt / kUint
  double number = 0;         // kDouble
  std::string text;          // kIdent, kQuotedIdent, kString, kBytes (decoded)
};

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || (c >= '0' && c <= '9'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsReserved(std::string_view w) {
  static constexpr std::string_view kReserved[] = {
      "as",  "break", "const",   "continue",  "else",   "for", "function", "if",   "import",
      "let", "loop",  "package", "namespace", "return", "var", "void",     "while"};
  return std::find(std::begin(kReserved), std::end(kReserved), w) != std::end(kReserved);
}

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  // The next token (kEnd at the end). False with `error` set when the text
  // is not a token.
  bool Next(Token& t, ParseError& error) {
    SkipSpaceAndComments();
    t.begin = static_cast<int32_t>(pos_);
    if (pos_ >= src_.size()) {
      t.kind = Tok::kEnd;
      t.end = t.begin;
      return true;
    }
    if (!Lex(t, prev_)) {
      error.offset = error_offset_;
      error.message = std::move(error_);
      return false;
    }
    t.end = static_cast<int32_t>(pos_);
    prev_ = t.kind;
    return true;
  }

 private:
  bool Fail(size_t at, std::string message) {
    error_offset_ = static_cast<int32_t>(at);
    error_ = std::move(message);
    return false;
  }

  char Peek(size_t ahead = 0) const {
    return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : '\0';
  }

  void SkipSpaceAndComments() {
    while (pos_ < src_.size()) {
      const char c = src_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
        ++pos_;
      } else if (c == '/' && Peek(1) == '/') {
        while (pos_ < src_.size() && src_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  bool Lex(Token& t, Tok prev) {
    const char c = src_[pos_];
    // String and bytes literals, with optional r/b prefixes.
    if (IsIdentStart(c)) {
      size_t p = pos_;
      bool raw = false, bytes = false;
      for (int i = 0; i < 2 && p < src_.size(); ++i) {
        const char q = src_[p];
        if ((q == 'r' || q == 'R') && !raw) {
          raw = true;
          ++p;
        } else if ((q == 'b' || q == 'B') && !bytes) {
          bytes = true;
          ++p;
        } else {
          break;
        }
      }
      if (p > pos_ && p < src_.size() && (src_[p] == '\'' || src_[p] == '"')) {
        pos_ = p;
        return LexString(t, raw, bytes);
      }
      return LexIdent(t);
    }
    if (IsDigit(c) ||
        (c == '.' && IsDigit(Peek(1)) && prev != Tok::kIdent && prev != Tok::kRParen &&
         prev != Tok::kRBracket && prev != Tok::kQuotedIdent)) {
      return LexNumber(t);
    }
    if (c == '\'' || c == '"') return LexString(t, false, false);
    if (c == '`') return LexQuotedIdent(t);
    const auto two = [&](char second, Tok yes, Tok no) {
      if (Peek(1) == second) {
        pos_ += 2;
        t.kind = yes;
      } else {
        ++pos_;
        t.kind = no;
      }
      return true;
    };
    switch (c) {
      case '(':
        t.kind = Tok::kLParen;
        break;
      case ')':
        t.kind = Tok::kRParen;
        break;
      case '[':
        t.kind = Tok::kLBracket;
        break;
      case ']':
        t.kind = Tok::kRBracket;
        break;
      case '{':
        t.kind = Tok::kLBrace;
        break;
      case '}':
        t.kind = Tok::kRBrace;
        break;
      case '.':
        t.kind = Tok::kDot;
        break;
      case ',':
        t.kind = Tok::kComma;
        break;
      case ':':
        t.kind = Tok::kColon;
        break;
      case '?':
        t.kind = Tok::kQuestion;
        break;
      case '+':
        t.kind = Tok::kPlus;
        break;
      case '-':
        t.kind = Tok::kMinus;
        break;
      case '*':
        t.kind = Tok::kStar;
        break;
      case '/':
        t.kind = Tok::kSlash;
        break;
      case '%':
        t.kind = Tok::kPercent;
        break;
      case '!':
        return two('=', Tok::kNe, Tok::kNot);
      case '<':
        return two('=', Tok::kLe, Tok::kLt);
      case '>':
        return two('=', Tok::kGe, Tok::kGt);
      case '=':
        if (Peek(1) == '=') {
          pos_ += 2;
          t.kind = Tok::kEq;
          return true;
        }
        return Fail(pos_, "unexpected '='; compare with '=='");
      case '&':
        if (Peek(1) == '&') {
          pos_ += 2;
          t.kind = Tok::kAnd;
          return true;
        }
        return Fail(pos_, "unexpected '&'; 'and' is written '&&'");
      case '|':
        if (Peek(1) == '|') {
          pos_ += 2;
          t.kind = Tok::kOr;
          return true;
        }
        return Fail(pos_, "unexpected '|'; 'or' is written '||'");
      default: {
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x20 && u < 0x7f)
          return Fail(pos_, std::string("unexpected character '") + c + "'");
        return Fail(pos_, "unexpected character (outside a string)");
      }
    }
    ++pos_;
    return true;
  }

  bool LexIdent(Token& t) {
    const size_t start = pos_;
    while (pos_ < src_.size() && IsIdentChar(src_[pos_])) ++pos_;
    const std::string_view word = src_.substr(start, pos_ - start);
    if (word == "true") {
      t.kind = Tok::kTrue;
    } else if (word == "false") {
      t.kind = Tok::kFalse;
    } else if (word == "null") {
      t.kind = Tok::kNull;
    } else if (word == "in") {
      t.kind = Tok::kIn;
    } else {
      t.kind = Tok::kIdent;
      t.reserved = IsReserved(word);
    }
    t.text.assign(word);
    return true;
  }

  bool LexQuotedIdent(Token& t) {
    const size_t start = pos_++;
    while (pos_ < src_.size() && src_[pos_] != '`') {
      const char c = src_[pos_];
      if (!(IsIdentChar(c) || c == '.' || c == '-' || c == '/' || c == ' ')) {
        return Fail(pos_,
                    "a `quoted` field name may hold letters, digits, '_', '.', '-', '/' and "
                    "spaces only");
      }
      ++pos_;
    }
    if (pos_ >= src_.size()) return Fail(start, "unterminated `quoted` field name");
    t.kind = Tok::kQuotedIdent;
    t.text.assign(src_.substr(start + 1, pos_ - start - 1));
    ++pos_;
    if (t.text.empty()) return Fail(start, "empty `quoted` field name");
    return true;
  }

  bool LexNumber(Token& t) {
    const size_t start = pos_;
    if (Peek() == '0' && (Peek(1) == 'x' || Peek(1) == 'X')) {
      pos_ += 2;
      const size_t digits = pos_;
      uint64_t v = 0;
      while (pos_ < src_.size() && HexValue(src_[pos_]) >= 0) {
        if (v > (std::numeric_limits<uint64_t>::max() >> 4)) t.int_too_big = true;
        v = (v << 4) | static_cast<uint64_t>(HexValue(src_[pos_]));
        ++pos_;
      }
      if (pos_ == digits) return Fail(start, "hexadecimal literal needs digits after '0x'");
      t.magnitude = v;
      t.kind = Tok::kInt;
      if (Peek() == 'u' || Peek() == 'U') {
        ++pos_;
        t.kind = Tok::kUint;
      }
      return CheckNumberEnd(start);
    }
    while (IsDigit(Peek())) ++pos_;
    bool is_double = false;
    if (Peek() == '.' && IsDigit(Peek(1))) {
      is_double = true;
      ++pos_;
      while (IsDigit(Peek())) ++pos_;
    }
    if (Peek() == 'e' || Peek() == 'E') {
      size_t p = pos_ + 1;
      if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
      if (p < src_.size() && IsDigit(src_[p])) {
        is_double = true;
        pos_ = p;
        while (IsDigit(Peek())) ++pos_;
      } else {
        return Fail(start, "malformed exponent in number");
      }
    }
    const std::string_view text = src_.substr(start, pos_ - start);
    if (is_double) {
      double d = 0;
      std::string buf(text);
      if (buf[0] == '.') buf.insert(buf.begin(), '0');
      const auto r = std::from_chars(buf.data(), buf.data() + buf.size(), d);
      if (r.ec == std::errc::result_out_of_range) {
        // Underflow to zero is fine; overflow is not.
        if (std::abs(std::strtod(buf.c_str(), nullptr)) > 1) {
          return Fail(start, "number " + buf + " is too large for a double");
        }
        d = 0;
      } else if (r.ec != std::errc() || r.ptr != buf.data() + buf.size()) {
        return Fail(start, "malformed number");
      }
      t.kind = Tok::kDouble;
      t.number = d;
      return CheckNumberEnd(start);
    }
    uint64_t v = 0;
    for (const char c : text) {
      const uint64_t digit = static_cast<uint64_t>(c - '0');
      if (v > (std::numeric_limits<uint64_t>::max() - digit) / 10) t.int_too_big = true;
      v = v * 10 + digit;
    }
    t.magnitude = v;
    t.kind = Tok::kInt;
    if (Peek() == 'u' || Peek() == 'U') {
      ++pos_;
      t.kind = Tok::kUint;
    }
    return CheckNumberEnd(start);
  }

  bool CheckNumberEnd(size_t start) {
    if (pos_ < src_.size() && (IsIdentChar(src_[pos_]))) {
      return Fail(start, "malformed number");
    }
    return true;
  }

  bool LexString(Token& t, bool raw, bool bytes) {
    const size_t start = pos_;
    const char quote = src_[pos_];
    const bool triple = Peek(1) == quote && Peek(2) == quote;
    pos_ += triple ? 3 : 1;
    t.kind = bytes ? Tok::kBytes : Tok::kString;
    std::string& out = t.text;
    while (true) {
      if (pos_ >= src_.size()) return Fail(start, "unterminated string");
      const char c = src_[pos_];
      if (c == quote) {
        if (!triple) {
          ++pos_;
          return true;
        }
        if (Peek(1) == quote && Peek(2) == quote) {
          pos_ += 3;
          return true;
        }
      }
      if (!triple && (c == '\n' || c == '\r')) {
        return Fail(pos_,
                    "line break inside a string; use ''' or \"\"\" for text on several lines");
      }
      if (c == '\\' && !raw) {
        if (!Escape(out, bytes)) return false;
        continue;
      }
      out += c;
      ++pos_;
    }
  }

  // Decodes one escape at pos_ (a backslash) into `out`.
  bool Escape(std::string& out, bool bytes) {
    const size_t at = pos_;
    ++pos_;
    if (pos_ >= src_.size()) return Fail(at, "unterminated string");
    const char c = src_[pos_++];
    switch (c) {
      case '\\':
      case '\'':
      case '"':
      case '`':
      case '?':
        out += c;
        return true;
      case 'a':
        out += '\a';
        return true;
      case 'b':
        out += '\b';
        return true;
      case 'f':
        out += '\f';
        return true;
      case 'n':
        out += '\n';
        return true;
      case 'r':
        out += '\r';
        return true;
      case 't':
        out += '\t';
        return true;
      case 'v':
        out += '\v';
        return true;
      case 'x':
      case 'X':
      case 'u':
      case 'U': {
        const int n = (c == 'x' || c == 'X') ? 2 : (c == 'u' ? 4 : 8);
        if (bytes && (c == 'u' || c == 'U')) {
          return Fail(at, "\\u and \\U escapes are not allowed in bytes; use \\x");
        }
        uint32_t v = 0;
        for (int i = 0; i < n; ++i) {
          const int h = HexValue(Peek());
          if (h < 0)
            return Fail(at, "escape \\" + std::string(1, c) + " needs " + std::to_string(n) +
                                " hexadecimal digits");
          v = v * 16 + static_cast<uint32_t>(h);
          ++pos_;
        }
        return Emit(at, v, out, bytes);
      }
      default:
        if (c >= '0' && c <= '3') {
          uint32_t v = static_cast<uint32_t>(c - '0');
          for (int i = 0; i < 2; ++i) {
            const char d = Peek();
            if (d < '0' || d > '7') return Fail(at, "octal escape needs 3 digits, like \\101");
            v = v * 8 + static_cast<uint32_t>(d - '0');
            ++pos_;
          }
          return Emit(at, v, out, bytes);
        }
        return Fail(at, "unknown escape \\" + Snippet(std::string_view(&c, 1)));
    }
  }

  bool Emit(size_t at, uint32_t v, std::string& out, bool bytes) {
    if (bytes && v <= 0xff) {
      out += static_cast<char>(v);
      return true;
    }
    if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
      return Fail(at, "escape is not a valid Unicode code point");
    }
    AppendUtf8(v, out);
    return true;
  }

  std::string_view src_;
  size_t pos_ = 0;
  Tok prev_ = Tok::kEnd;
  int32_t error_offset_ = 0;
  std::string error_;
};

class Parser {
 public:
  Parser(std::string_view src, int max_depth, ParseError& error)
      : src_(src), lexer_(src), max_depth_(max_depth), error_(error) {}

  std::unique_ptr<Ast> ParseAll() {
    auto e = ParseExpr();
    if (!e || failed_) return nullptr;
    if (Cur().kind != Tok::kEnd) return Fail(Cur().begin, "unexpected " + Describe(Cur()));
    return failed_ ? nullptr : std::move(e);
  }

 private:
  using Node = std::unique_ptr<Ast>;

  // Tokens are lexed on demand, so input that fails early (too deep) is not
  // lexed to its end. A deque keeps references to earlier tokens valid.
  const Token& Cur() {
    while (tokens_.size() <= pos_) {
      Token t;
      ParseError lex_error;
      if (!lexer_.Next(t, lex_error)) {
        Fail(lex_error.offset, std::move(lex_error.message));
        t = Token();
        t.kind = Tok::kEnd;
        t.begin = t.end = lex_error.offset;
      }
      tokens_.push_back(std::move(t));
    }
    return tokens_[pos_];
  }
  const Token& Take() {
    const Token& t = Cur();
    if (t.kind != Tok::kEnd) ++pos_;
    last_end_ = t.end;
    return t;
  }
  bool Accept(Tok k) {
    if (Cur().kind != k) return false;
    Take();
    return true;
  }

  std::nullptr_t Fail(int32_t offset, std::string message) {
    if (!failed_) {
      failed_ = true;
      error_.offset = offset;
      error_.message = std::move(message);
    }
    return nullptr;
  }

  std::string Describe(const Token& t) const {
    if (t.kind == Tok::kEnd) return "end of expression";
    return "'" + Snippet(src_.substr(t.begin, t.end - t.begin), true) + "'";
  }

  bool Expect(Tok k, std::string_view what) {
    if (Accept(k)) return true;
    Fail(Cur().begin, "expected " + std::string(what) + " but found " + Describe(Cur()));
    return false;
  }

  // A node over `kids`; fails when the tree grows deeper than the limit.
  Node Make(AstKind kind, int32_t offset, int32_t begin, std::vector<Node> kids) {
    auto n = std::make_unique<Ast>();
    n->kind = kind;
    n->offset = offset;
    n->begin = begin;
    n->end = last_end_;
    int depth = 0;
    for (const auto& k : kids) depth = std::max<int>(depth, k->depth);
    n->depth = depth + 1;
    n->kids = std::move(kids);
    if (n->depth > max_depth_) return TooDeep(offset);
    return n;
  }

  std::nullptr_t TooDeep(int32_t offset) {
    return Fail(offset, "expression is nested too deeply (more than " + std::to_string(max_depth_) +
                            " levels)");
  }

  static std::vector<Node> Kids(Node a) {
    std::vector<Node> v;
    v.push_back(std::move(a));
    return v;
  }
  static std::vector<Node> Kids(Node a, Node b) {
    std::vector<Node> v;
    v.push_back(std::move(a));
    v.push_back(std::move(b));
    return v;
  }

  Node ParseExpr() {
    if (++nesting_ > max_depth_) return TooDeep(Cur().begin);
    Node n = ParseTernary();
    --nesting_;
    return n;
  }

  Node ParseTernary() {
    const int32_t begin = Cur().begin;
    Node cond = ParseLogical(Tok::kOr);
    if (!cond) return nullptr;
    if (Cur().kind != Tok::kQuestion) return cond;
    const int32_t at = Take().begin;
    Node yes = ParseLogical(Tok::kOr);
    if (!yes) return nullptr;
    if (!Expect(Tok::kColon, "':' of '?:'")) return nullptr;
    Node no = ParseExpr();
    if (!no) return nullptr;
    std::vector<Node> kids = Kids(std::move(cond), std::move(yes));
    kids.push_back(std::move(no));
    return Make(AstKind::kTernary, at, begin, std::move(kids));
  }

  // `||` over `&&` chains, `&&` over relations; each chain is balanced.
  Node ParseLogical(Tok op) {
    std::vector<Node> terms;
    std::vector<int32_t> ops;
    Node first = op == Tok::kOr ? ParseLogical(Tok::kAnd) : ParseRelation();
    if (!first) return nullptr;
    terms.push_back(std::move(first));
    while (Cur().kind == op) {
      ops.push_back(Take().begin);
      Node next = op == Tok::kOr ? ParseLogical(Tok::kAnd) : ParseRelation();
      if (!next) return nullptr;
      terms.push_back(std::move(next));
    }
    if (terms.size() == 1) return std::move(terms[0]);
    return Balance(op == Tok::kOr ? AstKind::kOr : AstKind::kAnd, terms, ops, 0, terms.size());
  }

  Node Balance(AstKind kind, std::vector<Node>& terms, const std::vector<int32_t>& ops, size_t lo,
               size_t hi) {
    if (hi - lo == 1) return std::move(terms[lo]);
    const size_t mid = (lo + hi) / 2;
    const int32_t begin = terms[lo]->begin;
    Node left = Balance(kind, terms, ops, lo, mid);
    if (!left) return nullptr;
    Node right = Balance(kind, terms, ops, mid, hi);
    if (!right) return nullptr;
    const int32_t saved_end = last_end_;
    last_end_ = right->end;
    Node n = Make(kind, ops[mid - 1], begin, Kids(std::move(left), std::move(right)));
    last_end_ = saved_end;
    return n;
  }

  Node ParseRelation() {
    const int32_t begin = Cur().begin;
    Node left = ParseAddition();
    if (!left) return nullptr;
    while (true) {
      BinOp op;
      switch (Cur().kind) {
        case Tok::kEq:
          op = BinOp::kEq;
          break;
        case Tok::kNe:
          op = BinOp::kNe;
          break;
        case Tok::kLt:
          op = BinOp::kLt;
          break;
        case Tok::kLe:
          op = BinOp::kLe;
          break;
        case Tok::kGt:
          op = BinOp::kGt;
          break;
        case Tok::kGe:
          op = BinOp::kGe;
          break;
        case Tok::kIn:
          op = BinOp::kIn;
          break;
        default:
          return left;
      }
      const int32_t at = Take().begin;
      Node right = ParseAddition();
      if (!right) return nullptr;
      left = Binary(op, at, begin, std::move(left), std::move(right));
      if (!left) return nullptr;
    }
  }

  Node Binary(BinOp op, int32_t at, int32_t begin, Node a, Node b) {
    Node n = Make(AstKind::kBinary, at, begin, Kids(std::move(a), std::move(b)));
    if (n) n->op = op;
    return n;
  }

  Node ParseAddition() {
    const int32_t begin = Cur().begin;
    Node left = ParseMultiplication();
    if (!left) return nullptr;
    while (Cur().kind == Tok::kPlus || Cur().kind == Tok::kMinus) {
      const BinOp op = Cur().kind == Tok::kPlus ? BinOp::kAdd : BinOp::kSub;
      const int32_t at = Take().begin;
      Node right = ParseMultiplication();
      if (!right) return nullptr;
      left = Binary(op, at, begin, std::move(left), std::move(right));
      if (!left) return nullptr;
    }
    return left;
  }

  Node ParseMultiplication() {
    const int32_t begin = Cur().begin;
    Node left = ParseUnary();
    if (!left) return nullptr;
    while (Cur().kind == Tok::kStar || Cur().kind == Tok::kSlash || Cur().kind == Tok::kPercent) {
      const BinOp op = Cur().kind == Tok::kStar    ? BinOp::kMul
                       : Cur().kind == Tok::kSlash ? BinOp::kDiv
                                                   : BinOp::kMod;
      const int32_t at = Take().begin;
      Node right = ParseUnary();
      if (!right) return nullptr;
      left = Binary(op, at, begin, std::move(left), std::move(right));
      if (!left) return nullptr;
    }
    return left;
  }

  // '!'+ Member | '-'+ Member | Member. As in cel-go, an even run of the
  // same operator cancels out; a '-' right before a number is its sign.
  Node ParseUnary() {
    const int32_t begin = Cur().begin;
    if (Cur().kind == Tok::kNot || Cur().kind == Tok::kMinus) {
      const Tok op = Cur().kind;
      int count = 0;
      while (Cur().kind == op) {
        ++count;
        Take();
      }
      bool negative_literal = false;
      if (op == Tok::kMinus && (Cur().kind == Tok::kInt || Cur().kind == Tok::kDouble)) {
        negative_literal = true;
        --count;
      }
      Node operand = ParseMember(negative_literal);
      if (!operand) return nullptr;
      if (count % 2 == 0) return operand;
      return Make(op == Tok::kNot ? AstKind::kNot : AstKind::kNeg, begin, begin,
                  Kids(std::move(operand)));
    }
    return ParseMember(false);
  }

  Node ParseMember(bool negative_literal) {
    const int32_t begin = Cur().begin;
    Node n = ParsePrimary(negative_literal);
    if (!n) return nullptr;
    while (true) {
      if (Cur().kind == Tok::kDot) {
        Take();
        const Token& field = Cur();
        if (field.kind != Tok::kIdent && field.kind != Tok::kQuotedIdent &&
            field.kind != Tok::kTrue && field.kind != Tok::kFalse && field.kind != Tok::kNull &&
            field.kind != Tok::kIn) {
          return Fail(field.begin,
                      "expected a field or function name after '.' but found " + Describe(field));
        }
        Take();
        const bool quoted = field.kind == Tok::kQuotedIdent;
        std::string name = field.text.empty()
                               ? std::string(src_.substr(field.begin, field.end - field.begin))
                               : field.text;
        if (!quoted && Cur().kind == Tok::kLParen) {
          std::vector<Node> args;
          args.push_back(std::move(n));
          if (!ParseArgs(args)) return nullptr;
          n = Make(AstKind::kCall, field.begin, begin, std::move(args));
          if (!n) return nullptr;
          n->receiver = true;
          n->name = std::move(name);
        } else {
          n = Make(AstKind::kSelect, field.begin, begin, Kids(std::move(n)));
          if (!n) return nullptr;
          n->name = std::move(name);
        }
      } else if (Cur().kind == Tok::kLBracket) {
        const int32_t at = Take().begin;
        Node index = ParseExpr();
        if (!index) return nullptr;
        if (!Expect(Tok::kRBracket, "']'")) return nullptr;
        n = Make(AstKind::kIndex, at, begin, Kids(std::move(n), std::move(index)));
        if (!n) return nullptr;
      } else if (Cur().kind == Tok::kLBrace &&
                 (n->kind == AstKind::kIdent || n->kind == AstKind::kSelect)) {
        return Fail(Cur().begin,
                    "creating messages (Name{field: ...}) is not supported; use a "
                    "map literal {'field': ...}");
      } else {
        return n;
      }
    }
  }

  // '(' [Expr {',' Expr}] ')' appended to `args`.
  bool ParseArgs(std::vector<Node>& args) {
    if (!Expect(Tok::kLParen, "'('")) return false;
    if (Accept(Tok::kRParen)) return true;
    while (true) {
      Node a = ParseExpr();
      if (!a) return false;
      args.push_back(std::move(a));
      if (Accept(Tok::kRParen)) return true;
      if (!Expect(Tok::kComma, "',' or ')'")) return false;
    }
  }

  Node Literal(const Value& v, const Token& t, int32_t begin) {
    Node n = Make(AstKind::kConst, begin, begin, {});
    if (n) n->value = v;
    (void)t;
    return n;
  }

  Node ParsePrimary(bool negative) {
    const int32_t begin = negative ? tokens_[pos_ - 1].begin : Cur().begin;
    const Token& t = Cur();
    switch (t.kind) {
      case Tok::kInt: {
        Take();
        const uint64_t limit = negative ? (uint64_t{1} << 63) : (uint64_t{1} << 63) - 1;
        if (t.int_too_big || t.magnitude > limit) {
          return Fail(begin, "integer " + std::string(src_.substr(begin, t.end - begin)) +
                                 " is out of range (int is 64-bit; use a double or 'u' for uint)");
        }
        const int64_t v =
            negative ? static_cast<int64_t>(0 - t.magnitude) : static_cast<int64_t>(t.magnitude);
        return Literal(Value::Int(v), t, begin);
      }
      case Tok::kUint:
        Take();
        if (t.int_too_big) return Fail(begin, "unsigned integer is out of range (max 2^64-1)");
        return Literal(Value::Uint(t.magnitude), t, begin);
      case Tok::kDouble:
        Take();
        return Literal(Value::Double(negative ? -t.number : t.number), t, begin);
      case Tok::kString:
        Take();
        return Literal(Value::String(t.text), t, begin);
      case Tok::kBytes:
        Take();
        return Literal(Value::Bytes(t.text), t, begin);
      case Tok::kTrue:
        Take();
        return Literal(Value::Bool(true), t, begin);
      case Tok::kFalse:
        Take();
        return Literal(Value::Bool(false), t, begin);
      case Tok::kNull:
        Take();
        return Literal(Value::Null(), t, begin);
      case Tok::kDot:
      case Tok::kIdent: {
        const bool root = t.kind == Tok::kDot;
        if (root) Take();
        const Token& id = Cur();
        if (id.kind != Tok::kIdent) {
          return Fail(id.begin, "expected a name after '.' but found " + Describe(id));
        }
        if (id.reserved) {
          return Fail(id.begin,
                      "'" + id.text + "' is a reserved word and cannot be used as a name");
        }
        Take();
        if (Cur().kind == Tok::kLParen) {
          std::vector<Node> args;
          if (!ParseArgs(args)) return nullptr;
          Node n = Make(AstKind::kCall, id.begin, begin, std::move(args));
          if (!n) return nullptr;
          n->name = id.text;
          n->root_scope = root;
          return n;
        }
        Node n = Make(AstKind::kIdent, id.begin, begin, {});
        if (!n) return nullptr;
        n->name = id.text;
        n->root_scope = root;
        return n;
      }
      case Tok::kLParen: {
        Take();
        Node e = ParseExpr();
        if (!e) return nullptr;
        if (!Expect(Tok::kRParen, "')'")) return nullptr;
        return e;
      }
      case Tok::kLBracket: {
        Take();
        std::vector<Node> items;
        while (!Accept(Tok::kRBracket)) {
          Node e = ParseExpr();
          if (!e) return nullptr;
          items.push_back(std::move(e));
          if (Accept(Tok::kRBracket)) break;
          if (!Expect(Tok::kComma, "',' or ']'")) return nullptr;
        }
        return Make(AstKind::kList, begin, begin, std::move(items));
      }
      case Tok::kLBrace: {
        Take();
        std::vector<Node> items;
        while (!Accept(Tok::kRBrace)) {
          Node k = ParseExpr();
          if (!k) return nullptr;
          if (!Expect(Tok::kColon, "':' after a map key")) return nullptr;
          Node v = ParseExpr();
          if (!v) return nullptr;
          items.push_back(std::move(k));
          items.push_back(std::move(v));
          if (Accept(Tok::kRBrace)) break;
          if (!Expect(Tok::kComma, "',' or '}'")) return nullptr;
        }
        return Make(AstKind::kMap, begin, begin, std::move(items));
      }
      case Tok::kQuotedIdent:
        return Fail(t.begin, "a `quoted` name is only allowed as a field, like m.`content-type`");
      case Tok::kEnd:
        return Fail(t.begin, "unexpected end of expression");
      default:
        return Fail(t.begin, "unexpected " + Describe(t));
    }
  }

  std::string_view src_;
  Lexer lexer_;
  std::deque<Token> tokens_;
  size_t pos_ = 0;
  int32_t last_end_ = 0;
  int max_depth_;
  int nesting_ = 0;
  bool failed_ = false;
  ParseError& error_;
};

}  // namespace

std::unique_ptr<Ast> Parse(std::string_view source, int max_depth, ParseError& error) {
  if (!ValidUtf8(source)) {
    error.offset = 0;
    error.message = "the expression is not valid UTF-8 text";
    return nullptr;
  }
  Parser parser(source, max_depth, error);
  return parser.ParseAll();
}

}  // namespace cairn::expr::internal

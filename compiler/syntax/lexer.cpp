#include "compiler/syntax/lexer.h"

#include <array>
#include <string_view>

namespace allot::syntax {
namespace {

bool is_letter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_name_char(unsigned char c) { return is_letter(c) || is_digit(c) || c == '_' || c == '-'; }

// The keywords of the grammar, which win over IDENT at equal length.
TokenKind word_kind(std::string_view word) {
  struct Keyword {
    std::string_view text;
    TokenKind kind;
  };
  static constexpr std::array<Keyword, 8> kKeywords{{{"import", TokenKind::import_kw},
                                                     {"assert", TokenKind::assert_kw},
                                                     {"on", TokenKind::on_kw},
                                                     {"as", TokenKind::as_kw},
                                                     {"and", TokenKind::and_kw},
                                                     {"or", TokenKind::or_kw},
                                                     {"not", TokenKind::not_kw},
                                                     {"x", TokenKind::x_kw}}};
  if (word.size() > 6) return TokenKind::ident;
  for (const Keyword& k : kKeywords) {
    if (k.text == word) return k.kind;
  }
  return TokenKind::ident;
}

// Bytes in the UTF-8 sequence that starts with `lead` (input is valid UTF-8).
std::size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  return 4;
}

class Lexer {
 public:
  Lexer(std::string_view text, const LexOptions& options) : text_(text), options_(options) {}

  std::vector<Lexeme> run() {
    std::vector<Lexeme> out;
    // Policies run about 3.5 bytes a token; reserving more than is used
    // costs address space, not memory, while growing copies every token.
    out.reserve(text_.size() / 2 + 1);
    // A UTF-8 byte order mark, which some editors write, is not part of the
    // text; the generated lexer's input stream drops it the same way.
    if (text_.substr(0, 3) == "\xef\xbb\xbf") pos_ = 3;
    while (pos_ < text_.size()) {
      const unsigned char c = at(pos_);
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        advance(1);
        continue;
      }
      if (c == '#' || (c == '/' && at(pos_ + 1) == '/')) {
        const std::size_t begin = pos_;
        const std::uint32_t line = line_, column = column_;
        while (pos_ < text_.size() && at(pos_) != '\r' && at(pos_) != '\n') advance_code_point();
        if (options_.keep_comments) out.push_back(comment(begin, line, column));
        continue;
      }
      if (c == '/' && at(pos_ + 1) == '*') {
        // An unclosed `/*` is not a comment: it lexes as `/` and `*`.
        const std::size_t close = text_.find("*/", pos_ + 2);
        if (close != std::string_view::npos) {
          const std::size_t begin = pos_;
          const std::uint32_t line = line_, column = column_;
          while (pos_ < close + 2) advance_code_point();
          if (options_.keep_comments) out.push_back(comment(begin, line, column));
          continue;
        }
      }
      out.push_back(next_token());
    }
    out.push_back(Lexeme{TokenKind::end_of_file, static_cast<std::uint32_t>(pos_), static_cast<std::uint32_t>(pos_),
                         line_, column_});
    return out;
  }

 private:
  Lexeme comment(std::size_t begin, std::uint32_t line, std::uint32_t column) const {
    return Lexeme{TokenKind::comment, static_cast<std::uint32_t>(begin), static_cast<std::uint32_t>(pos_), line,
                  column};
  }

  unsigned char at(std::size_t i) const { return i < text_.size() ? static_cast<unsigned char>(text_[i]) : 0; }

  // Moves over `n` single-byte (ASCII) characters.
  void advance(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      if (text_[pos_] == '\n') {
        ++line_;
        column_ = 0;
      } else {
        ++column_;
      }
      ++pos_;
    }
  }
  void advance_code_point() {
    const unsigned char c = at(pos_);
    if (c < 0x80) {
      advance(1);
      return;
    }
    pos_ += sequence_length(c);
    if (pos_ > text_.size()) pos_ = text_.size();
    ++column_;
  }

  Lexeme next_token() {
    const std::size_t begin = pos_;
    const std::uint32_t line = line_, column = column_;
    const TokenKind kind = scan();
    return Lexeme{kind, static_cast<std::uint32_t>(begin), static_cast<std::uint32_t>(pos_), line, column};
  }

  TokenKind scan() {
    const unsigned char c = at(pos_);
    if (is_digit(c)) return number();
    if (is_letter(c) || c == '_') return word();
    if (c == '"') return string();
    const unsigned char next = at(pos_ + 1);
    auto one = [&](TokenKind k) {
      advance(1);
      return k;
    };
    auto two = [&](TokenKind k) {
      advance(2);
      return k;
    };
    switch (c) {
      case '{':
        return one(TokenKind::lbrace);
      case '}':
        return one(TokenKind::rbrace);
      case '[':
        return one(TokenKind::lbrack);
      case ']':
        return one(TokenKind::rbrack);
      case '(':
        return one(TokenKind::lparen);
      case ')':
        return one(TokenKind::rparen);
      case ',':
        return one(TokenKind::sep);
      case '.':
        return next == '.' ? two(TokenKind::range) : one(TokenKind::dot);
      case '=':
        return next == '=' ? two(TokenKind::eqeq) : one(TokenKind::eq);
      case '!':
        return next == '=' ? two(TokenKind::neq) : one(TokenKind::unexpected_char);
      case '<':
        return next == '=' ? two(TokenKind::le) : one(TokenKind::lt);
      case '>':
        return next == '=' ? two(TokenKind::ge) : one(TokenKind::gt);
      case '+':
        return one(TokenKind::plus);
      case '-':
        return one(TokenKind::minus);
      case '*':
        return one(TokenKind::star);
      case '/':
        return one(TokenKind::slash);
      default:
        advance_code_point();
        return TokenKind::unexpected_char;
    }
  }

  // NUMBER : [0-9]+ ('.' [0-9]+)? [a-zA-Z]* ; a `.` not followed by a digit
  // ends the number (`1..8` is a range).
  TokenKind number() {
    std::size_t end = pos_;
    while (is_digit(at(end))) ++end;
    if (at(end) == '.' && is_digit(at(end + 1))) {
      ++end;
      while (is_digit(at(end))) ++end;
    }
    while (is_letter(at(end))) ++end;
    advance(end - pos_);
    return TokenKind::number;
  }

  // IDENT : [a-zA-Z_] ([a-zA-Z0-9_-]* [a-zA-Z0-9_])? ; a name never ends in `-`.
  TokenKind word() {
    std::size_t end = pos_ + 1;
    while (is_name_char(at(end))) ++end;
    while (text_[end - 1] == '-') --end;
    const std::string_view w = text_.substr(pos_, end - pos_);
    advance(end - pos_);
    return word_kind(w);
  }

  // STRING : '"' (~["\\\r\n] | '\\' ~[\r\n])* '"' ; without the closing quote
  // the longest match is UNTERMINATED_STRING, which stops before a line end
  // and before a `\` that escapes nothing.
  TokenKind string() {
    advance(1);
    for (;;) {
      const unsigned char c = at(pos_);
      if (pos_ >= text_.size() || c == '\r' || c == '\n') return TokenKind::unterminated_string;
      if (c == '"') {
        advance(1);
        return TokenKind::string;
      }
      if (c == '\\') {
        const unsigned char escaped = at(pos_ + 1);
        if (pos_ + 1 >= text_.size() || escaped == '\r' || escaped == '\n') return TokenKind::unterminated_string;
        advance(1);
        advance_code_point();
        continue;
      }
      advance_code_point();
    }
  }

  std::string_view text_;
  LexOptions options_;
  std::size_t pos_ = 0;
  std::uint32_t line_ = 1;
  std::uint32_t column_ = 0;
};

}  // namespace

std::vector<Lexeme> lex(std::string_view text, const LexOptions& options) { return Lexer(text, options).run(); }

}  // namespace allot::syntax

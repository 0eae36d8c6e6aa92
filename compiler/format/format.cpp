#include "compiler/format/format.h"

#include <cstddef>
#include <vector>

#include "compiler/syntax/lexer.h"

namespace allot::format {
namespace {

using syntax::Lexeme;
using syntax::TokenKind;

bool is_opener(TokenKind k) { return k == TokenKind::lbrace || k == TokenKind::lbrack || k == TokenKind::lparen; }
bool is_closer(TokenKind k) { return k == TokenKind::rbrace || k == TokenKind::rbrack || k == TokenKind::rparen; }

// After these a `-` is a sign, not a subtraction.
bool expects_operand(TokenKind k) {
  switch (k) {
    case TokenKind::lparen:
    case TokenKind::lbrack:
    case TokenKind::sep:
    case TokenKind::eq:
    case TokenKind::range:
    case TokenKind::eqeq:
    case TokenKind::neq:
    case TokenKind::le:
    case TokenKind::ge:
    case TokenKind::lt:
    case TokenKind::gt:
    case TokenKind::plus:
    case TokenKind::minus:
    case TokenKind::star:
    case TokenKind::slash:
    case TokenKind::and_kw:
    case TokenKind::or_kw:
    case TokenKind::not_kw:
    case TokenKind::assert_kw:
      return true;
    default:
      return false;
  }
}

class Formatter {
 public:
  explicit Formatter(std::string_view text) : text_(text), tokens_(syntax::lex(text, syntax::LexOptions{true})) {
    tokens_.pop_back();  // end of file
  }

  std::string run() {
    std::vector<TokenKind> open;
    for (std::size_t i = 0; i < tokens_.size(); ++i) {
      const Lexeme& t = tokens_[i];
      if (t.kind == TokenKind::sep && droppable_comma(i, open)) continue;
      if (is_closer(t.kind) && !open.empty()) open.pop_back();
      if (i == 0) {
        indent(open.size());
      } else if (starts_line(i)) {
        newline();
        if (blank_before(i) && !after_opener() && !is_closer(t.kind)) newline();
        indent(open.size());
      } else if (space_between(i)) {
        out_ += ' ';
      }
      out_.append(text_.substr(t.begin, t.end - t.begin));
      last_ = t.kind;
      if (is_opener(t.kind)) open.push_back(t.kind);
      // A new line is no separator: `8` then `- 1` on the next line is `8 - 1`.
      if (t.kind == TokenKind::minus) unary_minus_ = i == 0 || expects_operand(previous_kind(i));
    }
    if (!out_.empty()) out_ += '\n';
    return out_;
  }

 private:
  std::size_t newlines_between(std::size_t a, std::size_t b) const {
    std::size_t n = 0;
    for (std::size_t p = tokens_[a].end; p < tokens_[b].begin; ++p) n += text_[p] == '\n';
    return n;
  }
  // Index of the token written before token i (a dropped comma is skipped).
  std::size_t written_before(std::size_t i) const { return i - 1 - (dropped_.size() > i - 1 && dropped_[i - 1]); }
  TokenKind previous_kind(std::size_t i) const { return tokens_[written_before(i)].kind; }

  // A token starts a line where the author broke the line before it, except
  // a block's `{`, which joins its declaration (unless a line comment ends
  // the line before it).
  bool starts_line(std::size_t i) const {
    if (newlines_between(i - 1, i) == 0) return false;
    if (tokens_[i].kind == TokenKind::lbrace && !is_line_comment(written_before(i))) return false;
    return true;
  }
  bool blank_before(std::size_t i) const { return newlines_between(i - 1, i) >= 2; }
  bool after_opener() const { return is_opener(last_); }
  bool is_line_comment(std::size_t i) const {
    const Lexeme& t = tokens_[i];
    return t.kind == TokenKind::comment && (text_[t.begin] == '#' || text_[t.begin + 1] == '/');
  }

  // A `,` before a closing bracket, or at the end of a line inside a block,
  // separates nothing: the grammar makes it optional there.
  bool droppable_comma(std::size_t i, const std::vector<TokenKind>& open) {
    if (dropped_.size() <= i) dropped_.resize(tokens_.size(), false);
    std::size_t next = i + 1;
    while (next < tokens_.size() && tokens_[next].kind == TokenKind::comment && newlines_between(next - 1, next) == 0)
      ++next;
    const bool line_ends = next >= tokens_.size() || newlines_between(next - 1, next) > 0;
    const bool in_block = open.empty() || open.back() == TokenKind::lbrace;
    const bool before_closer = next < tokens_.size() && next == i + 1 && is_closer(tokens_[next].kind);
    // Between a list's last item and its `]` on a later line the comma may
    // go too; elsewhere in a list it separates items.
    const bool before_list_end = !in_block && next < tokens_.size() && is_closer(tokens_[next].kind);
    dropped_[i] = before_closer || before_list_end || (in_block && line_ends);
    return dropped_[i];
  }

  bool space_between(std::size_t i) const {
    const TokenKind prev = last_;
    const TokenKind cur = tokens_[i].kind;
    if (cur == TokenKind::comment) return true;
    if (cur == TokenKind::sep || cur == TokenKind::rparen || cur == TokenKind::rbrack) return false;
    if (cur == TokenKind::dot || cur == TokenKind::range || prev == TokenKind::dot || prev == TokenKind::range)
      return false;
    if (prev == TokenKind::lparen || prev == TokenKind::lbrack) return false;
    if (cur == TokenKind::lparen && prev == TokenKind::ident) return false;  // a call
    if (prev == TokenKind::minus && unary_minus_) return false;
    if (prev == TokenKind::lbrace && cur == TokenKind::rbrace) return false;
    return true;
  }

  void newline() {
    while (!out_.empty() && out_.back() == ' ') out_.pop_back();
    out_ += '\n';
  }
  void indent(std::size_t depth) { out_.append(2 * depth, ' '); }

  std::string_view text_;
  std::vector<Lexeme> tokens_;
  std::vector<bool> dropped_;
  std::string out_;
  TokenKind last_ = TokenKind::end_of_file;
  bool unary_minus_ = false;
};

}  // namespace

std::string format_policy(std::string_view text) { return Formatter(text).run(); }

}  // namespace allot::format

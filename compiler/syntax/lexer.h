// The lexer of the policy language: the token rules of grammar/Allot.g4,
// written by hand.
//
// Why by hand: ANTLR's generated lexer cost 29% of `allot check` on a
// 100k-quota policy (a DFA walk per character, a lock per DFA edge, a heap
// token per word); this one runs in a few percent of it (docs/benchmarks.md).
// The grammar stays the specification: `reference_lex` runs the generated
// lexer, and a unit test and the policy fuzz harness hold the two to the
// same tokens on every input.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace allot::syntax {

// One kind per token rule of grammar/Allot.g4 that is not skipped.
enum class TokenKind : std::uint8_t {
  import_kw,
  assert_kw,
  on_kw,
  as_kw,
  and_kw,
  or_kw,
  not_kw,
  x_kw,
  lbrace,
  rbrace,
  lbrack,
  rbrack,
  lparen,
  rparen,
  sep,
  range,
  dot,
  eqeq,
  neq,
  le,
  ge,
  lt,
  gt,
  eq,
  plus,
  minus,
  star,
  slash,
  number,
  ident,
  string,
  unterminated_string,
  unexpected_char,
  end_of_file,
  comment,  // `//`, `#` or `/* */`: only with LexOptions::keep_comments
};

// A token: its kind and the bytes [begin, end) of the source it covers, with
// the 1-based line and 0-based column (in code points) where it starts.
struct Lexeme {
  TokenKind kind;
  std::uint32_t begin;
  std::uint32_t end;
  std::uint32_t line;
  std::uint32_t column;
};

// Tokens of `text`, which must be valid UTF-8 of at most 4 GiB, ending with
// one `end_of_file` lexeme. Comments and white space are skipped, as the
// grammar's `-> skip` rules do.
struct LexOptions {
  bool keep_comments = false;  // for the formatter, which must keep them
};
std::vector<Lexeme> lex(std::string_view text, const LexOptions& options = {});

// The same tokens, from the ANTLR lexer generated from the grammar (slow;
// for differential tests and fuzzing).
std::vector<Lexeme> reference_lex(std::string_view text);

}  // namespace allot::syntax

// The hand-written lexer against the ANTLR lexer generated from the grammar,
// which is its specification: the same tokens, offsets, lines and columns on
// every policy of the repository and on random text.
#include "compiler/syntax/lexer.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "compiler/base/source.h"
#include "repository_files.h"

using namespace allot::syntax;

namespace {

std::string describe(const std::vector<Lexeme>& tokens, std::size_t i) {
  if (i >= tokens.size()) return "(none)";
  const Lexeme& t = tokens[i];
  std::ostringstream out;
  out << "kind " << static_cast<int>(t.kind) << " bytes [" << t.begin << ", " << t.end << ") line " << t.line
      << " column " << t.column;
  return out.str();
}

// Index of the first token where the two lexers differ, or npos.
std::size_t first_difference(const std::vector<Lexeme>& a, const std::vector<Lexeme>& b) {
  for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    if (i >= a.size() || i >= b.size()) return i;
    const Lexeme& x = a[i];
    const Lexeme& y = b[i];
    if (x.kind != y.kind || x.begin != y.begin || x.end != y.end || x.line != y.line || x.column != y.column) return i;
  }
  return std::string::npos;
}

void require_same(const std::string& text, const std::string& what) {
  const std::vector<Lexeme> fast = lex(text);
  const std::vector<Lexeme> reference = reference_lex(text);
  const std::size_t at = first_difference(fast, reference);
  INFO(what << ": token " << at << ": lexer " << describe(fast, at) << ", grammar " << describe(reference, at));
  REQUIRE(at == std::string::npos);
}

std::filesystem::path source_root() { return allot::testing::kRepository; }

}  // namespace

TEST_CASE("the lexer agrees with the grammar on every policy of the repository") {
  std::size_t files = 0;
  for (const char* dir : {"policies", "examples", "tests/golden", "fuzz"}) {
    const std::filesystem::path root = source_root() / dir;
    if (!std::filesystem::exists(root)) continue;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
      if (!entry.is_regular_file() || entry.path().extension() != ".allot") continue;
      const std::string text = allot::testing::read_repository_file(entry.path());
      // The parser refuses invalid UTF-8 before lexing (E0001).
      if (allot::find_invalid_utf8(text) != std::string_view::npos) continue;
      require_same(text, entry.path().string());
      ++files;
    }
  }
  REQUIRE(files > 50);
}

TEST_CASE("the lexer agrees with the grammar on the edges of its rules") {
  for (const char* text : {"",
                           "x",
                           "x8",
                           "a-b",
                           "a- b",
                           "a--",
                           "_",
                           "import importx",
                           "1..8",
                           "1.5x",
                           "1.",
                           "1.x",
                           "12mo",
                           "2x",
                           "\"abc",
                           "\"a\\\"b\"",
                           "\"a\\",
                           "\"a\\\nb\"",
                           "\"é\" é",
                           "/* open",
                           "/*/",
                           "/**/x",
                           "// c\nx",
                           "# c\r\ny",
                           "a!b",
                           "a != b",
                           "<= >= < > == =",
                           "..",
                           "...",
                           "\t\r\n",
                           "€",
                           "x\xc3\xa9y",
                           "a.b.c",
                           "-1",
                           "not-a",
                           "on_",
                           "assert1",
                           "\"\"",
                           "\"\\t\"",
                           "\xef\xbb\xbfx",
                           "x \xef\xbb\xbf y",
                           "a =\x1a"
                           "12mo",
                           "\xef\xbb\xbf"
                           "flavor a10-1 { gpus = 1 }linel burst {\n  billing = subscription { term =\x1a"
                           "12mo }\n  node "
                           "gpus = 1 }linel burst {\n , expires = \"2027-02-30\" }\n}\nl"}) {
    require_same(text, std::string("`") + text + "`");
  }
}

TEST_CASE("the lexer agrees with the grammar on random text") {
  // Characters that start, end or break every rule, and some UTF-8.
  const std::vector<std::string> pieces = {
      "a",  "Z",   "_",  "x",  "on", "as", "and", "or", "not", "import", "assert", "0",    "9",           "1.5",
      "mo", "GiB", "-",  ".",  "..", "=",  "==",  "!",  "!=",  "<",      "<=",     ">",    ">=",          "+",
      "*",  "/",   "//", "/*", "*/", "#",  "{",   "}",  "[",   "]",      "(",      ")",    ",",           "\"",
      "\\", " ",   "\t", "\n", "\r", "é",  "€",   "😀",  ";",   "'",      "@",      "\x01", "\xef\xbb\xbf"};
  const std::uint64_t seed = GENERATE(take(400, random<std::uint64_t>(0, 1u << 31)));
  std::mt19937_64 random_engine(seed);
  std::uniform_int_distribution<std::size_t> piece(0, pieces.size() - 1);
  std::uniform_int_distribution<int> length(0, 60);
  std::string text;
  for (int i = length(random_engine); i > 0; --i) text += pieces[piece(random_engine)];
  INFO("seed " << seed);
  require_same(text, "random text");
}

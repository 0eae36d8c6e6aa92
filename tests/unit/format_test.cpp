// `allot fmt`'s layout: hand-written cases, and on every policy of the
// repository that parses: idempotent, the same tokens (less the optional
// commas it drops), and the same comments.
#include "compiler/format/format.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "compiler/base/diagnostic.h"
#include "compiler/base/source.h"
#include "compiler/syntax/lexer.h"
#include "compiler/syntax/parser.h"
#include "repository_files.h"

using namespace allot;

namespace {

bool parses(const std::string& text) {
  SourceManager sources;
  DiagnosticSink sink;
  const FileId file = sources.add("case.allot", text);
  return syntax::parse(sources, file, sink).has_value();
}

// The token texts of `text`, comments included, commas left out.
std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  for (const syntax::Lexeme& t : syntax::lex(text, syntax::LexOptions{true})) {
    if (t.kind == syntax::TokenKind::sep || t.kind == syntax::TokenKind::end_of_file) continue;
    out.push_back(text.substr(t.begin, t.end - t.begin));
  }
  return out;
}

std::size_t commas(const std::string& text) {
  std::size_t n = 0;
  for (const syntax::Lexeme& t : syntax::lex(text)) n += t.kind == syntax::TokenKind::sep;
  return n;
}

}  // namespace

TEST_CASE("fmt fixes spacing and indentation and keeps line breaks and comments") {
  const std::string in =
      "// header\n\n\n"
      "quota   lab on  gpu-pool\n{\n\n"
      "gpu=8 , cpu = 4..  # trailing\n"
      "\t  quota a { gpu = 1 .. 8, }\n"
      "  roles=[ x , y ]\n"
      "\n}\n"
      "assert sum ( children(lab).gpu )<=lab.gpu -1 as \"fits\"\n"
      "priority p = -5\n";
  const std::string want =
      "// header\n\n"
      "quota lab on gpu-pool {\n"
      "  gpu = 8, cpu = 4.. # trailing\n"
      "  quota a { gpu = 1..8 }\n"
      "  roles = [x, y]\n"
      "}\n"
      "assert sum(children(lab).gpu) <= lab.gpu - 1 as \"fits\"\n"
      "priority p = -5\n";
  REQUIRE(parses(in));
  CHECK(format::format_policy(in) == want);
  CHECK(format::format_policy(want) == want);
}

TEST_CASE("fmt drops only the commas the grammar makes optional") {
  CHECK(format::format_policy("a b {\n  x = 1,\n  y = [1,\n    2,\n  ],\n}\n") ==
        "a b {\n  x = 1\n  y = [1,\n    2\n  ]\n}\n");
  CHECK(format::format_policy("a b { x = 1, y = 2, }\n") == "a b { x = 1, y = 2 }\n");
  CHECK(format::format_policy("a b { x = 1, // why\n y = 2 }\n") == "a b { x = 1 // why\n  y = 2 }\n");
}

TEST_CASE("fmt keeps block comments verbatim and a `{` after a line comment where it is") {
  const std::string in = "/* a\n   b */\nquota q // note\n{ gpu = 1 }\n";
  CHECK(format::format_policy(in) == "/* a\n   b */\nquota q // note\n{ gpu = 1 }\n");
}

TEST_CASE("fmt removes a byte order mark and keeps the rest") {
  CHECK(format::format_policy("\xef\xbb\xbf"
                              "a b { x = 1 }\n") == "a b { x = 1 }\n");
  CHECK(format::format_policy("\xef\xbb\xbf"
                              "// c\na b { x = 1 }\n") == "// c\na b { x = 1 }\n");
}

TEST_CASE("fmt is idempotent and keeps every token on the repository's policies") {
  std::size_t files = 0;
  for (const char* dir : {"policies", "examples", "tests/golden"}) {
    const std::filesystem::path root = allot::testing::kRepository / dir;
    if (!std::filesystem::exists(root)) continue;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
      if (!entry.is_regular_file() || entry.path().extension() != ".allot") continue;
      const std::string text = allot::testing::read_repository_file(entry.path());
      if (!parses(text)) continue;
      INFO(entry.path().string());
      const std::string once = format::format_policy(text);
      CHECK(format::format_policy(once) == once);
      CHECK(words(once) == words(text));
      CHECK(commas(once) <= commas(text));
      CHECK(parses(once));
      ++files;
    }
  }
  REQUIRE(files > 40);
}

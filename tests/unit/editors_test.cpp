// The editor files of editors/vscode: the TextMate grammar and the
// extension manifest are valid JSON, and the grammar highlights every keyword
// of grammar/Allot.g4 and every declaration kind the language server knows.
#include <catch2/catch.hpp>
#include <regex>
#include <set>
#include <string>
#include <variant>

#include "compiler/lsp/vocabulary.h"
#include "json/json.h"
#include "repository_files.h"

using namespace allot;
using allot::testing::kRepository;
using allot::testing::read_repository_file;

namespace {

json::Value read_json(const std::string& path) {
  const std::string text = read_repository_file(kRepository / path);
  REQUIRE_FALSE(text.empty());
  json::ParseResult r = json::parse(text);
  if (const auto* e = std::get_if<json::ParseError>(&r)) FAIL(path << ": byte " << e->offset << ": " << e->message);
  return std::get<json::Value>(std::move(r));
}

// Every `match`, `begin` and `end` pattern of the grammar.
void patterns(const json::Value& v, std::string& out) {
  if (const json::Object* o = v.as_object()) {
    for (const auto& [key, value] : *o) {
      if ((key == "match" || key == "begin" || key == "end") && value.as_string()) out += *value.as_string() + "\n";
      patterns(value, out);
    }
  } else if (const json::Array* a = v.as_array()) {
    for (const json::Value& item : *a) patterns(item, out);
  }
}

// The keywords of the grammar: lexer rules whose literal is a word (`ON : 'on' ;`).
std::set<std::string> grammar_keywords() {
  const std::string g4 = read_repository_file(kRepository / "grammar/Allot.g4");
  const std::regex rule(R"(\n[A-Z_]+\s*:\s*'([a-z]+)'\s*;)");
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(g4.begin(), g4.end(), rule); it != std::sregex_iterator(); ++it) {
    out.insert((*it)[1].str());
  }
  return out;
}

}  // namespace

TEST_CASE("editors: the TextMate grammar covers the keywords and declaration kinds") {
  const json::Value grammar = read_json("editors/vscode/syntaxes/allot.tmLanguage.json");
  CHECK(*grammar.find("scopeName")->as_string() == "source.allot");
  std::string all;
  patterns(grammar, all);
  std::set<std::string> words = grammar_keywords();
  CHECK(words.size() == 8);  // import, assert, on, as, and, or, not, x
  for (const lsp::KindWords& k : lsp::kinds()) words.insert(std::string(k.kind));
  for (const std::string& word : words) {
    INFO(word);
    // The word as an alternative of a pattern: `(a|word|b)`, `\bword\b`.
    const std::regex alternative("(\\(|\\||\\\\b)" + word + "(\\)|\\||\\\\b)");
    CHECK(std::regex_search(all, alternative));
  }
}

TEST_CASE("editors: the VS Code manifest starts `allot lsp` for `.allot` files") {
  const json::Value manifest = read_json("editors/vscode/package.json");
  const json::Value& language = (*manifest.find("contributes")->find("languages")->as_array())[0];
  CHECK(*language.find("id")->as_string() == "allot");
  CHECK(*(*language.find("extensions")->as_array())[0].as_string() == ".allot");
  const json::Value& grammar = (*manifest.find("contributes")->find("grammars")->as_array())[0];
  CHECK(*grammar.find("scopeName")->as_string() == "source.allot");
  CHECK(*grammar.find("path")->as_string() == "./syntaxes/allot.tmLanguage.json");
  read_json("editors/vscode/language-configuration.json");
  const std::string extension = read_repository_file(kRepository / "editors/vscode/extension.js");
  CHECK(extension.find("\"lsp\"") != std::string::npos);
  // The manifest's version is the project's.
  const std::string cmake = read_repository_file(kRepository / "CMakeLists.txt");
  std::smatch version;
  REQUIRE(std::regex_search(cmake, version, std::regex(R"(project\(allot VERSION ([0-9.]+))")));
  CHECK(*manifest.find("version")->as_string() == version[1].str());
}

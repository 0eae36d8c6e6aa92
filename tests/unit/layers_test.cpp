// The include rule of the compiler: each library includes only the libraries
// below it (base -> syntax -> sema -> verify -> plan -> emit -> diff ->
// backend -> driver, with smt beside syntax and sema, above base, and lsp on
// verify, below driver), and only compiler/smt/z3_backend.cpp includes <z3++.h>.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "repository_files.h"

namespace {

namespace fs = std::filesystem;

const fs::path& kRoot = allot::testing::kRepository;
using allot::testing::read_repository_file;

bool is_source(const fs::path& p) { return p.extension() == ".cpp" || p.extension() == ".h"; }

}  // namespace

TEST_CASE("layers: a compiler library includes only the libraries below it") {
  const std::vector<std::string> order{"base", "smt",  "syntax",  "sema",   "verify", "plan",
                                       "emit", "diff", "backend", "format", "lsp",    "driver"};
  std::map<std::string, std::set<std::string>> allowed;
  for (std::size_t i = 0; i < order.size(); ++i) {
    for (std::size_t j = 0; j <= i; ++j) allowed[order[i]].insert(order[j]);
  }
  // smt knows nothing of the policy; syntax and sema need no solver.
  allowed["smt"] = {"base", "smt"};
  allowed["syntax"] = {"base", "syntax"};
  allowed["sema"] = {"base", "syntax", "sema"};
  // The semantic diff compares checked models: it needs no plan.
  allowed["diff"] = {"base", "smt", "syntax", "sema", "emit", "diff"};
  // The formatter works on tokens alone; only the driver uses it.
  allowed["format"] = {"base", "syntax", "format"};
  // The language server runs the checking stages; it plans and renders nothing.
  allowed["lsp"] = {"base", "smt", "syntax", "sema", "verify", "lsp"};

  const std::regex include(R"re(#include "compiler/([a-z_]+)/)re");
  std::size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(kRoot / "compiler")) {
    if (!entry.is_regular_file() || !is_source(entry.path())) continue;
    const std::string library = fs::relative(entry.path(), kRoot / "compiler").begin()->string();
    REQUIRE(allowed.count(library) == 1);
    ++files;
    const std::string text = read_repository_file(entry.path());
    for (auto it = std::sregex_iterator(text.begin(), text.end(), include); it != std::sregex_iterator(); ++it) {
      INFO(entry.path().string() << " includes compiler/" << (*it)[1].str());
      CHECK(allowed[library].count((*it)[1].str()) == 1);
    }
  }
  CHECK(files > 50);
}

TEST_CASE("layers: only compiler/smt/z3_backend.cpp includes <z3++.h>") {
  const std::string needle = std::string("#include <z3") + "++.h>";  // split, so that this file does not match

  std::set<std::string> including;
  for (const char* dir : {"compiler", "runtime", "tests", "bench", "fuzz"}) {
    for (const auto& entry : fs::recursive_directory_iterator(kRoot / dir)) {
      if (!entry.is_regular_file() || !is_source(entry.path())) continue;
      if (read_repository_file(entry.path()).find(needle) != std::string::npos) {
        including.insert(fs::relative(entry.path(), kRoot).generic_string());
      }
    }
  }
  CHECK(including == std::set<std::string>{"compiler/smt/z3_backend.cpp"});
}

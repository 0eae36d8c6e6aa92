// The one list of diagnostic codes (compiler/base/codes.def) held against the
// documentation, the sources that report the codes and the golden tests.
#include "compiler/base/codes.h"

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

std::set<std::string> table_codes() {
  std::set<std::string> out;
  for (const allot::CodeInfo& c : allot::all_codes()) out.emplace(c.code);
  return out;
}

// Every match of group 1 of `pattern` in `text`.
void matches(const std::string& text, const std::regex& pattern, std::set<std::string>& out) {
  for (auto it = std::sregex_iterator(text.begin(), text.end(), pattern); it != std::sregex_iterator(); ++it) {
    out.insert((*it)[1].str());
  }
}

std::string join(const std::set<std::string>& codes) {
  std::string out;
  for (const std::string& c : codes) out += (out.empty() ? "" : " ") + c;
  return out;
}

std::set<std::string> minus(const std::set<std::string>& a, const std::set<std::string>& b) {
  std::set<std::string> out;
  for (const std::string& x : a) {
    if (b.count(x) == 0) out.insert(x);
  }
  return out;
}

// Codes that no policy can reach, because sema rejects the cause first or
// the cause cannot be produced on demand. The verifier keeps these checks
// for models that do not come from sema (the migration planner's
// intermediate states); unit tests build such models.
const std::map<std::string, std::string> kUnitTestedOnly{
    {"E0013",
     "reported without a source line, which text output shows without its code, by `compile`, which has no JSON "
     "output"},
    {"E0203", "sema rejects an inverted range first (E0126)"},
    {"E0207", "sema gives every namespace a default-queue"},
    {"E0208", "sema rejects a queue accepting what its pool does not host first (E0128)"},
    {"E0209", "sema rejects preempting an equal or higher class first (E0129)"},
    {"E0210", "a cycle needs a class preempting a higher one, which sema rejects (E0129)"},
    {"E0212", "a solver timeout cannot be produced deterministically"},
    {"E0222", "sema gives every namespace a default-queue"},
};

}  // namespace

TEST_CASE("codes: the table is well formed") {
  const std::regex shape("[EWN][0-9]{4}");
  std::set<std::string> seen;
  for (const allot::CodeInfo& c : allot::all_codes()) {
    INFO(c.code);
    CHECK(std::regex_match(std::string(c.code), shape));
    CHECK(seen.insert(std::string(c.code)).second);
    if (c.code[0] == 'W') CHECK(c.severity == allot::Severity::warning);
    if (c.code[0] == 'N') CHECK(c.severity == allot::Severity::note);
    REQUIRE(!c.title.empty());
    CHECK(c.title.back() != '.');
    CHECK(allot::find_code(c.code) == &c);
  }
  CHECK(seen.size() > 100);
  CHECK(allot::find_code("E9999") == nullptr);
  CHECK(std::string(allot::code::E0114) == "E0114");
}

TEST_CASE("codes: docs/diagnostics.md documents exactly the codes of codes.def") {
  const std::string doc = read_repository_file(kRoot / "docs" / "diagnostics.md");
  REQUIRE(!doc.empty());
  std::set<std::string> documented;
  matches(doc, std::regex(R"(\n\| ([EWN][0-9]{4}) \|)"), documented);
  const std::set<std::string> table = table_codes();
  INFO("in codes.def, not documented: " << join(minus(table, documented)));
  INFO("documented, not in codes.def: " << join(minus(documented, table)));
  CHECK(documented == table);

  // Where the page gives a severity, it is the table's.
  const std::regex row(R"(\n\| ([EWN][0-9]{4}) \| (error|warning|note) \|)");
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), row); it != std::sregex_iterator(); ++it) {
    const allot::CodeInfo* c = allot::find_code((*it)[1].str());
    REQUIRE(c != nullptr);
    INFO((*it)[1].str());
    const std::string severity = (*it)[2].str();
    CHECK(c->severity == (severity == "error"     ? allot::Severity::error
                          : severity == "warning" ? allot::Severity::warning
                                                  : allot::Severity::note));
  }
}

TEST_CASE("codes: the sources report exactly the codes of codes.def") {
  // A literal "E0123" or a constant code::E0123 (sema names its codes
  // through compiler/sema/codes.h, which uses the constants).
  const std::regex literal(R"re("([EWN][0-9]{4})")re");
  const std::regex constant(R"(code::([EWN][0-9]{4}))");
  std::set<std::string> reported;
  for (const char* dir : {"compiler", "runtime"}) {
    for (const auto& entry : fs::recursive_directory_iterator(kRoot / dir)) {
      const std::string ext = entry.path().extension().string();
      if (!entry.is_regular_file() || (ext != ".cpp" && ext != ".h")) continue;
      if (entry.path().filename() == "codes.h" && entry.path().parent_path().filename() == "base") continue;
      const std::string text = read_repository_file(entry.path());
      matches(text, literal, reported);
      matches(text, constant, reported);
    }
  }
  const std::set<std::string> table = table_codes();
  INFO("reported, not in codes.def: " << join(minus(reported, table)));
  INFO("in codes.def, never reported: " << join(minus(table, reported)));
  CHECK(reported == table);
}

TEST_CASE("codes: every code has a golden test") {
  // The output of a golden case names a code as `error[E0104]` in text and
  // as "E0104" in JSON and SARIF.
  const std::regex named(R"re((?:\[|")([EWN][0-9]{4})(?:\]|"))re");
  std::set<std::string> golden;
  for (const auto& entry : fs::recursive_directory_iterator(kRoot / "tests" / "golden")) {
    if (entry.is_regular_file() && entry.path().filename().string().rfind("expected", 0) == 0) {
      matches(read_repository_file(entry.path()), named, golden);
    }
  }
  std::string unit;
  for (const auto& entry : fs::directory_iterator(kRoot / "tests" / "unit")) {
    if (entry.path().extension() == ".cpp" && entry.path().filename() != "codes_test.cpp")
      unit += read_repository_file(entry.path());
  }
  for (const allot::CodeInfo& c : allot::all_codes()) {
    const std::string code(c.code);
    INFO(code);
    const auto exempt = kUnitTestedOnly.find(code);
    if (exempt == kUnitTestedOnly.end()) {
      CHECK(golden.count(code) == 1);
      continue;
    }
    // Unit-tested instead, and only while no golden case exists.
    INFO(exempt->second);
    CHECK(unit.find('"' + code + '"') != std::string::npos);
    CHECK(golden.count(code) == 0);
  }
}

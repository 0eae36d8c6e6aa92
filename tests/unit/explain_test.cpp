// `allot explain CODE`: every code of compiler/base/codes.def is explained
// from the docs/diagnostics.md embedded in the binary; the new commands are
// in the generated shell completions.
#include "compiler/driver/explain.h"

#include <catch2/catch.hpp>
#include <string>

#include "compiler/base/codes.h"
#include "compiler/driver/cli.h"

using namespace allot;

TEST_CASE("explain: every diagnostic code has an explanation with its meaning") {
  std::size_t codes = 0;
  for (const CodeInfo& info : all_codes()) {
    INFO(info.code);
    const std::optional<std::string> text = driver::explain_code(info.code);
    REQUIRE(text);
    CHECK(text->rfind(std::string(info.code) + ": " + std::string(info.title), 0) == 0);
    // A meaning line from the page, not only the title.
    CHECK(text->find("\n\n") != std::string::npos);
    CHECK(text->size() > info.title.size() + 40);
    ++codes;
  }
  CHECK(codes > 100);
}

TEST_CASE("explain: a code's own section and example come with it") {
  const std::optional<std::string> e0211 = driver::explain_code("E0211");
  REQUIRE(e0211);
  CHECK(e0211->find("A usage state gives every scope") != std::string::npos);
  CHECK(e0211->find("error[E0211]: with `workspace-c/dev/notebooks`") != std::string::npos);
  const std::optional<std::string> e0105 = driver::explain_code("E0105");
  REQUIRE(e0105);
  CHECK(e0105->find("example: `flavor f { gpu = 8 }`") != std::string::npos);
  CHECK_FALSE(driver::explain_code("E9999"));
}

TEST_CASE("explain: only `E` or `W` and four digits is a code; anything else is left to other forms") {
  CHECK(driver::is_diagnostic_code("E0211"));
  CHECK(driver::is_diagnostic_code("W0105"));
  CHECK_FALSE(driver::is_diagnostic_code("e0211"));
  CHECK_FALSE(driver::is_diagnostic_code("E021"));
  CHECK_FALSE(driver::is_diagnostic_code("E02111"));
  CHECK_FALSE(driver::is_diagnostic_code("job-42"));
  CHECK_FALSE(driver::is_diagnostic_code("42"));
}

TEST_CASE("explain: the shell completions offer `diff` and `explain`") {
  for (const char* shell : {"bash", "zsh"}) {
    INFO(shell);
    const std::optional<std::string> script = driver::completion_script(shell);
    REQUIRE(script);
    CHECK(script->find("diff") != std::string::npos);
    CHECK(script->find("explain") != std::string::npos);
    CHECK(script->find("--format") != std::string::npos);
  }
}

// `allot explain`: the documentation of a diagnostic code (`allot explain
// E0211`), from docs/diagnostics.md as embedded in the binary at build time.
// A subject that is not a code is left to the other forms of `explain`
// (run_explain dispatches on is_diagnostic_code).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace allot::driver {

// `E0211`, `W0105`: a letter E or W and four digits.
bool is_diagnostic_code(std::string_view subject);

// The code's title and severity (codes.def), its row of docs/diagnostics.md
// (meaning and example) and its own section there, if any; nothing for a
// code the list does not have.
std::optional<std::string> explain_code(std::string_view code);

}  // namespace allot::driver

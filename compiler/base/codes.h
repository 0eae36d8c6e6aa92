// The diagnostic codes of every stage (compiler/base/codes.def): a constant
// per code, so that a code the list lacks does not compile, and a table for
// tools and tests.
#pragma once

#include <span>
#include <string_view>

#include "compiler/base/diagnostic.h"

namespace allot {

// `code::E0104` is "E0104".
namespace code {
#define ALLOT_CODE(id, severity, title) inline constexpr char id[] = #id;
#include "compiler/base/codes.def"
#undef ALLOT_CODE
}  // namespace code

struct CodeInfo {
  std::string_view code;
  Severity severity;
  std::string_view title;
};

// Every code, in the order of codes.def (by stage, then by number).
std::span<const CodeInfo> all_codes();
// The entry of `code`, or null.
const CodeInfo* find_code(std::string_view code);

}  // namespace allot

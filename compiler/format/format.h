// `allot fmt`: the canonical layout of a policy file.
//
// The layout keeps the author's line breaks and comments and fixes
// everything else: two spaces of indentation per open block or bracket,
// single spaces between tokens (none inside `(`, `[`, around `..` and `.`,
// before `,`, or after a unary `-`), a block's `{` on the line of its
// declaration, no `,` at the end of a line inside a block or before a
// closing bracket, at most one blank line in a row and none at the start or
// end of a block, no trailing white space, and one newline at the end.
// Formatting is idempotent and changes no token but those commas, which
// the grammar makes optional there.
#pragma once

#include <string>
#include <string_view>

namespace allot::format {

// The canonical layout of `text`, which must be a policy file that parses
// (syntax::parse reports no error); comments are kept verbatim.
std::string format_policy(std::string_view text);

}  // namespace allot::format

// Hover, go-to-definition and completion on one document, from its text (the
// tokens around the cursor, which need not parse) and its latest analysis
// (the declared names and, when the policy checks, the model).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/lsp/protocol.h"
#include "compiler/lsp/workspace.h"
#include "json/json.h"

namespace allot::lsp {

// Where the cursor is, as far as completion and name lookup care.
struct Context {
  enum class Where {
    top,         // start of a top-level item
    body,        // start of a member of a declaration of `kind`
    object,      // start of a member of the object value of `key` (tagged `tag`)
    value,       // after `key =`
    list,        // an item of the list value of `key`
    target,      // after `kind NAME on`
    flavor,      // after `N x`
    expression,  // in an assertion
    none,
  };
  Where where = Where::none;
  std::string kind;
  std::string key;
  std::string tag;
  std::uint32_t word_begin = 0;  // start of the word being typed (the cursor when none)
};
Context context_at(std::string_view text, std::uint32_t offset);

// The word (a name or keyword) the cursor is on or right after; empty when none.
struct Word {
  std::string text;
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
};
Word word_at(std::string_view text, std::uint32_t offset);

// The LSP results: a `Hover` or null, a `Location[]`, a `CompletionItem[]`.
json::Value hover(const Analysis& analysis, std::string_view text, std::uint32_t offset);
json::Value definition(const Analysis& analysis, std::string_view text, std::uint32_t offset, const FileUris& uris);
json::Value completion(const Analysis& analysis, std::string_view text, std::uint32_t offset);

}  // namespace allot::lsp

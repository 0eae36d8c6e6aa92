// The words of the policy language an editor completes: the declaration
// kinds, each kind's property keys and nested declarations, the values a
// property takes, and the kind of declaration a property refers to. The
// keys are those sema reads (compiler/sema/declarations.cpp, scopes.cpp);
// tests/unit/lsp_test.cpp holds the two together.
#pragma once

#include <string_view>
#include <vector>

namespace allot::lsp {

struct KindWords {
  std::string_view kind;                     // `quota`
  bool top_level = true;                     // declared at the top of a file
  std::vector<std::string_view> properties;  // keys besides resource amounts
  std::vector<std::string_view> nested;      // kinds declared in its body
  bool resources = false;                    // takes `gpu = 8`, `memory = 64GiB`, ...
};

const std::vector<KindWords>& kinds();
const KindWords* find_kind(std::string_view kind);

// The keys inside a tagged or plain object value: `billing = subscription {
// term = 12mo }` is (`billing`, `subscription`) -> `term`, `auto_renew`.
// `resources` says whether resource names are keys there (`ceiling`, `lend`).
struct ObjectWords {
  std::vector<std::string_view> properties;
  bool resources = false;
};
ObjectWords object_words(std::string_view key, std::string_view tag);

// The fixed words a property's value may be (`type` -> `shared`,
// `dedicated`); the tags of a tagged value (`billing`); `true`/`false`.
std::vector<std::string_view> value_words(std::string_view key);

// The declaration kinds a property's value names (`pool` -> `pool`,
// `preempts` -> `priority`); the target of `quota Q on T` is a pool, of
// `workspace W on T` a quota. Empty: not a reference.
std::vector<std::string_view> referenced_kinds(std::string_view key);
std::vector<std::string_view> target_kinds(std::string_view declaration_kind);

}  // namespace allot::lsp

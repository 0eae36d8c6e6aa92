// Internal to sema: the names of one kind of declaration, and a name as
// written in a reference.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "compiler/base/source.h"
#include "compiler/sema/model.h"
#include "compiler/syntax/ast.h"

namespace allot::sema {

using model::Index;
using model::kNone;

// A name and where it was written, as found in a list or a reference.
struct NameUse {
  std::string name;
  SourceRange range;
};

// One symbol table per kind of declaration. Index i of `decls` is index i of
// the kind's model vector (`Policy::flavors`, ...); a null entry is built in.
// The declarations are those of the syntax trees, which outlive the table.
// Lets a map keyed by std::string be searched with a std::string_view.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

struct SymbolTable {
  StringMap<Index> index;
  std::vector<const ast::Declaration*> decls;
  // Whether anything refers to entry i (for the unused-declaration lints).
  std::vector<bool> used;

  Index find(std::string_view name) const {
    auto it = index.find(name);
    return it == index.end() ? kNone : it->second;
  }
  // Where entry i is named; invalid for a built-in.
  SourceRange range(Index i) const { return decls[i] != nullptr ? decls[i]->name.range : SourceRange{}; }
  Index add(std::string_view name, const ast::Declaration* decl) {
    const auto i = static_cast<Index>(decls.size());
    index.emplace(std::string(name), i);
    decls.push_back(decl);
    used.push_back(false);
    return i;
  }
};

}  // namespace allot::sema

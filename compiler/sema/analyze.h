// Semantic analysis: from syntax trees to a checked `model::Policy`.
#pragma once

#include <optional>
#include <vector>

#include "compiler/base/diagnostic.h"
#include "compiler/base/source.h"
#include "compiler/sema/model.h"
#include "compiler/syntax/ast.h"

namespace allot::sema {

// Resolves names across all files, converts units, checks ranges and types,
// expands implicit `default-queue`s and reports lint warnings. Returns the
// policy when no error was reported, otherwise nothing.
std::optional<model::Policy> analyze(const SourceManager& sources, const std::vector<ast::File>& files,
                                     DiagnosticSink& sink);

// Checks what parsed of a policy some of whose top-level items were left out
// for syntax errors (syntax::parse_recovering), so that one syntax error does
// not hide the other mistakes. Reports only errors that cannot be caused by
// the missing items: no unknown references (the name may be declared in a
// left-out item), no unknown properties (they may be resources declared
// there), no warnings.
void analyze_partial(const SourceManager& sources, const std::vector<ast::File>& files, DiagnosticSink& sink);

}  // namespace allot::sema

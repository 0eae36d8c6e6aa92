// The parser facade: the only way into the generated ANTLR code. Nothing of
// ANTLR leaks through this header.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "compiler/base/diagnostic.h"
#include "compiler/base/source.h"
#include "compiler/syntax/ast.h"

namespace allot::syntax {

struct ParseLimits {
  std::size_t max_file_bytes = 16u << 20;  // larger files are refused, not truncated
  std::size_t max_nesting = 128;           // brackets and blocks
  std::size_t max_expression_operators = 500;
  std::size_t max_syntax_errors_per_file = 20;
};

// Parses one file already held by `sources`. Returns no tree when the file
// has lexical or syntax errors (they are reported to `sink`).
std::optional<ast::File> parse(const SourceManager& sources, FileId file, DiagnosticSink& sink,
                               const ParseLimits& limits = {});

// Reads `paths` and every file they import (transitively, relative to the
// importing file), parses them, and rejects cyclic imports. Files are
// returned in a stable order: each file after the files it imports.
struct LoadResult {
  std::vector<ast::File> files;
  bool io_error = false;  // a file named on the command line could not be read
};
LoadResult load(SourceManager& sources, const std::vector<std::string>& paths, DiagnosticSink& sink,
                const ParseLimits& limits = {});

}  // namespace allot::syntax

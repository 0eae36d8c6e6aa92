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
  std::size_t max_file_bytes = 16u << 20;  // larger files are refused, not truncated (applied while reading)
  std::size_t max_nesting = 128;           // brackets and blocks
  std::size_t max_expression_operators = 500;
  std::size_t max_syntax_errors_per_file = 20;
};

// Parses one file already held by `sources`. Returns no tree when the file
// has lexical or syntax errors (they are reported to `sink`).
std::optional<ast::File> parse(const SourceManager& sources, FileId file, DiagnosticSink& sink,
                               const ParseLimits& limits = {});

// Parses like `parse`, but goes on after a top-level item that does not
// parse: that item is reported once (its first syntax error) and left out,
// and the items after it are parsed. `file` is empty only when nothing could
// be parsed at all (too large, not UTF-8, nested too deep); `complete` is
// false when an item was left out or a lexical error reported. For checking
// what did parse of a broken file.
struct ParsedFile {
  std::optional<ast::File> file;
  bool complete = false;
};
ParsedFile parse_recovering(const SourceManager& sources, FileId file, DiagnosticSink& sink,
                            const ParseLimits& limits = {});

// Where imports may lead. By default an import must stay inside the
// directory of a file named in `paths` (symbolic links resolved); `roots`
// replaces those directories, `extra_roots` adds to them.
struct ImportPolicy {
  std::vector<std::string> roots;
  std::vector<std::string> extra_roots;
};

// Reads `paths` and every file they import (transitively, relative to the
// importing file), parses them, and rejects cyclic imports. Files are
// returned in a stable order: each file after the files it imports. Only
// regular files are read, never more than limits.max_file_bytes of them.
// An imported file that does not parse is reported at its import without
// quoting it: it may be anything (`/etc/shadow`), not a policy.
struct LoadResult {
  std::vector<ast::File> files;
  bool io_error = false;  // a file named on the command line could not be read
  // A file named on the command line had top-level items left out for
  // syntax errors (reported); `files` holds the rest of it.
  bool partial = false;
};
LoadResult load(SourceManager& sources, const std::vector<std::string>& paths, DiagnosticSink& sink,
                const ParseLimits& limits = {}, const ImportPolicy& imports = {});

// Why a file could not be read (empty: it was).
struct ReadOutcome {
  bool ok = false;
  bool too_large = false;
  std::string problem;  // "not a regular file", strerror text, ...
};
// Reads a regular file of at most `max_bytes` bytes; never blocks on a FIFO
// and never reads more than max_bytes + 1 bytes of anything.
ReadOutcome read_source_file(const std::string& path, std::size_t max_bytes, std::string& out);

}  // namespace allot::syntax

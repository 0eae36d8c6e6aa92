// What the Language Server Protocol writes differently from the compiler:
// positions as (line, UTF-16 code unit) from 0, files as `file://` URIs, and
// diagnostics as LSP `Diagnostic` objects.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "compiler/base/diagnostic.h"
#include "compiler/base/source.h"
#include "json/json.h"

namespace allot::lsp {

struct Position {
  std::uint32_t line = 0;
  std::uint32_t character = 0;  // UTF-16 code units
};

// The byte offset of `position` in `text`: clamped to the end of its line and
// of the text, never past either.
std::uint32_t offset_of(std::string_view text, Position position);
// The position of byte `offset` (clamped to the text).
Position position_of(std::string_view text, std::uint32_t offset);

// The path of a `file://` URI, percent-decoded; nothing for another scheme,
// a remote host or a path with a NUL.
std::optional<std::string> path_of_uri(std::string_view uri);
// `file://` and the absolute path, percent-encoded where needed.
std::string uri_of_path(std::string_view path);

json::Value position_json(Position p);
json::Value range_json(std::string_view text, SourceRange range);

// The URI of each file of an analysis, for locations in other files.
struct FileUris {
  virtual ~FileUris() = default;
  virtual std::string uri(FileId file) const = 0;
};
// One LSP `Diagnostic` for `d`, shown at `at` (a range of the document) with
// `prefix` before its message: help lines and notes without a location join
// the message, notes with one become related information.
json::Value diagnostic_json(const SourceManager& sources, const Diagnostic& d, SourceRange at, std::string_view prefix,
                            const FileUris& uris);

}  // namespace allot::lsp

// Rendering diagnostics for people (text, optionally coloured) and for tools
// (JSON). Both are deterministic for the same diagnostics.
#pragma once

#include <string>
#include <vector>

#include "compiler/base/diagnostic.h"
#include "compiler/base/source.h"

namespace allot::emit {

struct TextOptions {
  bool color = false;
};

// `file:line:col: error[CODE]: message`, the source line with a caret under
// the range, then `note:` and `help:` lines; a summary line at the end when
// anything was reported.
std::string render_text(const SourceManager& sources, const DiagnosticSink& sink, const TextOptions& options = {});

// `text` with control characters (C0, DEL, C1) and bytes of invalid UTF-8
// written as `\xNN` or `\u{NN}`: safe to print to a terminal.
std::string escape_controls(std::string_view text);

// {"diagnostics": [...], "errors": N, "warnings": N}
std::string render_json(const SourceManager& sources, const DiagnosticSink& sink);

}  // namespace allot::emit

// SARIF 2.1.0 output (for code scanning in CI): one run, one rule per
// diagnostic code, one result per diagnostic with its notes as related
// locations. Deterministic for the same diagnostics.
#pragma once

#include <string>

#include "compiler/base/diagnostic.h"
#include "compiler/base/source.h"

namespace allot::emit {

std::string render_sarif(const SourceManager& sources, const DiagnosticSink& sink, const std::string& tool_version);

}  // namespace allot::emit

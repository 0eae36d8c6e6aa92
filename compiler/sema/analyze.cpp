#include "compiler/sema/analyze.h"

#include "compiler/sema/analyzer.h"
#include "compiler/sema/codes.h"

namespace allot::sema {

std::optional<model::Policy> Analyzer::run(const std::vector<ast::File>& files) {
  collect(files);
  create_entries();
  read_declarations();
  build_scopes();
  for (const ast::Assertion* a : assertions_) check_assertion(*a);
  if (!sink_.has_errors()) lint();
  if (sink_.has_errors()) return std::nullopt;
  return std::move(policy_);
}

std::optional<model::Policy> analyze(const SourceManager& sources, const std::vector<ast::File>& files,
                                     DiagnosticSink& sink) {
  // A file that failed to parse is missing from `files`; analysing the rest
  // would report every reference into it as unknown.
  if (sink.has_errors()) return std::nullopt;
  Analyzer analyzer(sources, sink);
  return analyzer.run(files);
}

void analyze_partial(const SourceManager& sources, const std::vector<ast::File>& files, DiagnosticSink& sink) {
  DiagnosticSink local;
  Analyzer analyzer(sources, local);
  analyzer.run(files);
  for (const Diagnostic& d : local.diagnostics()) {
    if (d.severity != Severity::error) continue;
    const std::string_view c = d.code;
    if (c == codes::kUnknownProperty || (c >= codes::kUnknownPool && c <= codes::kUnknownScope)) continue;
    Diagnostic& copy = sink.error(d.code, d.range, d.message);
    copy.notes = d.notes;
    copy.help = d.help;
  }
}

}  // namespace allot::sema

#include "compiler/sema/analyze.h"

#include "compiler/sema/analyzer.h"

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

}  // namespace allot::sema

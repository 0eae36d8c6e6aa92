#include "compiler/sema/analyze.h"

namespace allot::sema {

std::optional<model::Policy> analyze(const SourceManager&, const std::vector<ast::File>&, DiagnosticSink& sink) {
  if (sink.has_errors()) return std::nullopt;
  model::Policy policy;
  return policy;
}

}  // namespace allot::sema

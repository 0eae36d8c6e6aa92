#include "compiler/verify/verify.h"

namespace allot::verify {

void verify(const SourceManager& sources, const model::Policy& policy, DiagnosticSink& sink, const Options& options) {
  const std::size_t structural = check_structure(policy, sink);
  // Reachability assumes a consistent tree (children within parents, roots
  // within pools); on an inconsistent one it would only repeat those errors.
  if (structural == 0) check_reachability(policy, sink, options);
  check_assertions(sources, policy, sink);
}

}  // namespace allot::verify

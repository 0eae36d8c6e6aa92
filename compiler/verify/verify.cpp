#include "compiler/verify/verify.h"

namespace allot::verify {

void verify(const SourceManager& sources, const model::Policy& policy, DiagnosticSink& sink, const Options& options) {
  const std::size_t structural = check_structure(policy, sink);
  // Reachability assumes a consistent tree (children within parents, roots
  // within pools); on an inconsistent one it would only repeat those errors.
  if (structural == 0) check_reachability(policy, sink, options);
  const std::size_t failed = check_assertions(sources, policy, sink);
  // Implication is asked of a consistent policy whose assertions hold.
  if (structural == 0 && failed == 0) check_implied_assertions(policy, sink, options);
}

}  // namespace allot::verify

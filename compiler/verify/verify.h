// Verification: proves the invariants of a checked policy (docs/diagnostics.md,
// codes E0201..E0219) and, with a live state, that a change is allowed
// (E0220..E0239).
#pragma once

#include <chrono>

#include "compiler/base/diagnostic.h"
#include "compiler/base/source.h"
#include "compiler/sema/model.h"
#include "compiler/smt/solver.h"

namespace allot::verify {

struct Options {
  // Per-obligation solver timeout; an obligation that runs out is reported
  // as a warning (not proved).
  std::chrono::milliseconds timeout{10000};
  // The solver to use; null means a fresh Z3 solver.
  smt::Solver* solver = nullptr;
  // Decide the claims that share a parent's native counterexample together
  // (reach::LevelWitness); false builds every claim's own obligation, the
  // reference the shortcut is tested against. The diagnostics are the same.
  bool shared_witnesses = true;
};

// Checks invariants 1-7 and reports violations into `sink`.
void verify(const SourceManager& sources, const model::Policy& policy, DiagnosticSink& sink,
            const Options& options = {});

// The separate passes, for tests. Each returns the number of errors it added.
std::size_t check_structure(const model::Policy& policy, DiagnosticSink& sink);         // 1-5
std::size_t check_preemption_graph(const model::Policy& policy, DiagnosticSink& sink);  // 5, part of check_structure
std::size_t check_reachability(const model::Policy& policy, DiagnosticSink& sink, const Options& options);      // 6
std::size_t check_assertions(const SourceManager& sources, const model::Policy& policy, DiagnosticSink& sink);  // 7
// Notes (N0201) at assertions the structural invariants imply; returns how many.
std::size_t check_implied_assertions(const model::Policy& policy, DiagnosticSink& sink, const Options& options);

}  // namespace allot::verify

// The Z3 implementations of the two solver interfaces of this library: the
// obligation solver (solver.h) and the placement optimizer (optimizer.h).
// Both live in z3_backend.cpp, the only file that includes <z3++.h>.
#pragma once

#include <memory>

#include "compiler/smt/optimizer.h"
#include "compiler/smt/solver.h"

namespace allot::smt {

// A Z3-backed solver: a fresh context per obligation, nothing shared.
std::unique_ptr<Solver> make_z3_solver();

// Lexicographic optimisation with Z3's optimizer, a fresh context per call.
std::unique_ptr<PlacementOptimizer> make_z3_placement_optimizer();

}  // namespace allot::smt

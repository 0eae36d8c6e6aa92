// The Z3 implementation of the placement optimizer interface of
// compiler/plan/optimizer.h (implemented in z3_backend.cpp, the only file
// that includes <z3++.h>).
#pragma once

#include <memory>

#include "compiler/plan/optimizer.h"

namespace allot::verify {

// Lexicographic optimisation with Z3's optimizer, a fresh context per call.
std::unique_ptr<plan::PlacementOptimizer> make_z3_placement_optimizer();

}  // namespace allot::verify

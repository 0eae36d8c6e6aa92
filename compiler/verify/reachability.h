// Invariant 6: guarantees are reachable in every usage state the policy
// permits. See docs/diagnostics.md (E0211) for the model.
//
// State: for every scope X of one root's subtree, `u/PATH` (usage of X and
// everything below it) and `n/PATH` (the part of it that runs in
// non-preemptible queues); `others` (usage of the pool's other roots that
// cannot be reclaimed); `cap` (the pool's capacity when the policy does not
// fix it).
#pragma once

#include <vector>

#include "compiler/sema/model.h"
#include "compiler/verify/solver.h"

namespace allot::verify {

struct Claim {
  model::Index scope = model::kNone;  // the claimant, or the parent whose own jobs claim
  model::Index resource = model::kNone;
  bool own_work = false;  // jobs submitted to `scope` itself (child_preemption)
  model::Amount guarantee = 0;
};

struct ReachabilityQuery {
  Claim claim;
  model::Index pool = model::kNone;
  Obligation obligation;
  NodeId usage = 0;   // the claimant's usage
  NodeId supply = 0;  // what it can still obtain (idle + reclaimable)
  // For readable counterexamples: usage variables, the display unit of the
  // resource, and non-preemptible queues with their limits (usage, limit).
  std::vector<NodeId> usages;
  model::Amount unit = 1;
  std::vector<std::pair<NodeId, NodeId>> saturate;
};

// One query per claim, each over one root's subtree (roots are independent
// once the pool's other roots are summarised by what they can hold without
// being reclaimed).
std::vector<ReachabilityQuery> build_reachability_queries(const model::Policy& policy);

// The variable names used for a scope.
std::string usage_var(const model::Scope& scope);
std::string nonpreemptible_var(const model::Scope& scope);

}  // namespace allot::verify

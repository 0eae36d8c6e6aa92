// Invariant 6: guarantees are reachable in every usage state the policy
// permits. See docs/diagnostics.md (E0211) for the model.
//
// State: `u/PATH` (usage of scope X and everything below it) and `n/PATH`
// (the part of it that runs in non-preemptible queues); `others` (usage of
// the pool's other roots that cannot be reclaimed); `cap` (the pool's
// capacity when the policy does not fix it).
//
// Most claims are proved natively, without a solver (see the argument in
// reachability.cpp). The others get one obligation each that encodes only
// the path from the claimant to its root; every subtree hanging off that path
// (and, for own-work claims, every child of the claimant) is summarised by its
// `u/PATH` and `n/PATH`, which is exact for the model. check_reachability
// builds an obligation only for a claim that its parent's shared state
// (reach::LevelWitness) does not settle.
#pragma once

#include <optional>
#include <unordered_map>
#include <vector>

#include "compiler/sema/model.h"
#include "compiler/smt/solver.h"
#include "compiler/verify/verify.h"

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
  // True when the native argument proves the claim; the obligation is then
  // only built on request (ReachabilityBuild::include_proved).
  bool proved_natively = false;
  smt::Obligation obligation;
  smt::NodeId usage = 0;   // the claimant's usage
  smt::NodeId supply = 0;  // what it can still obtain (idle + reclaimable)
  // For readable counterexamples: usage variables, the display unit of the
  // resource, and the conditions that put the non-preemptible queues at their
  // limits (empty when that is impossible or there are none).
  std::vector<smt::NodeId> usages;
  model::Amount unit = 1;
  std::vector<smt::NodeId> saturate;
  // The terms of the scopes the obligation has (a variable, or the constant
  // 0 for a subtree without non-preemptible capacity), and of `others` and
  // `cap`: for reading and building states by variable index.
  std::unordered_map<model::Index, smt::NodeId> usage_term, nonpreemptible_term;
  smt::NodeId others_term = 0, cap_term = 0;
};

// The variable index of a term that is a variable.
std::optional<std::uint32_t> variable_index(const smt::Obligation& obligation, smt::NodeId term);

struct ReachabilityBuild {
  // Also return (and encode) the claims the native argument proves.
  bool include_proved = false;
  // Encode each claim over its root's whole subtree (one `u` and `n` per
  // scope) instead of the path and summaries: the reference encoding, for
  // tests.
  bool full = false;
};

// One query per claim that needs the solver (and, on request, per claim
// proved natively), in the order of pools, resources, roots and scopes.
std::vector<ReachabilityQuery> build_reachability_queries(const model::Policy& policy,
                                                          const ReachabilityBuild& how = {});

struct ReachabilityStats {
  std::size_t claims = 0;
  std::size_t proved_natively = 0;
  std::size_t refuted_natively = 0;    // claims refuted by a state built without the solver
  std::size_t refuted_shared = 0;      // of those, decided with their parent's shared state, without an obligation
  std::size_t solver_obligations = 0;  // claims sent to the solver (not counting nicer counterexamples)
};

// check_reachability (verify.h) that also counts what it did.
std::size_t check_reachability(const model::Policy& policy, DiagnosticSink& sink, const Options& options,
                               ReachabilityStats* stats);

// The variable names used for a scope.
std::string usage_var(const model::Scope& scope);
std::string nonpreemptible_var(const model::Scope& scope);

}  // namespace allot::verify

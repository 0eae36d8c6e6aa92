// Placement: every scope's own GPU share (its guarantee minus its children's)
// on concrete GPUs (node, index). Exact with an optimizer for small pools,
// a heuristic for large ones; the quality is always reported against bounds.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "compiler/base/diagnostic.h"
#include "compiler/plan/inventory.h"
#include "compiler/sema/model.h"
#include "compiler/smt/optimizer.h"

namespace allot::plan {

// One scope's own share.
struct Demand {
  model::Index scope = model::kNone;
  std::string path;
  model::Index pool = model::kNone;
  model::Amount own_milli = 0;  // guarantee minus the children's guarantees (milli-GPUs)
  std::int64_t gpus = 0;        // whole GPUs homed to it: own_milli rounded up
  std::int64_t elastic = 0;     // of `gpus`, beyond the pool's nodes (pay-as-you-go capacity)
};

// The own shares of every scope with a GPU guarantee, in scope order
// (scopes with a zero own share are left out).
std::vector<Demand> own_shares(const model::Policy& policy);

// What a placement achieves, with the bounds it is judged against.
struct Quality {
  std::int64_t shared_nodes = 0;  // nodes homing GPUs of two or more scopes
  std::int64_t shared_nodes_lower_bound = 0;
  std::int64_t whole_free_nodes = 0;  // nodes with no homed GPU
  std::int64_t whole_free_nodes_upper_bound = 0;
  std::int64_t scope_nodes = 0;  // nodes spanned, summed over scopes
  std::int64_t scope_nodes_lower_bound = 0;
  std::int64_t scope_domains = 0;  // interconnect domains spanned, summed over scopes
  std::int64_t scope_domains_lower_bound = 0;
  std::int64_t pay_as_you_go_gpus = 0;  // homed on pay-as-you-go nodes
  std::int64_t pay_as_you_go_gpus_lower_bound = 0;
  std::int64_t moved_gpus = 0;  // homed before to a scope, now to another one (or free)
  std::int64_t moved_gpus_lower_bound = 0;
};

// Metrics of a solution and bounds of a problem (per pool; summed by place()).
Quality evaluate(const smt::PlacementProblem& problem, const smt::PlacementSolution& solution);
void compute_bounds(const smt::PlacementProblem& problem, Quality& quality);

// Whole nodes first, then best-fit-decreasing of the remainders.
smt::PlacementSolution heuristic_place(const smt::PlacementProblem& problem);
// The baseline: each demand in order takes the first free GPUs in node order.
smt::PlacementSolution first_fit_place(const smt::PlacementProblem& problem);
// True when the solution respects capacities and meets every demand exactly.
bool valid_solution(const smt::PlacementProblem& problem, const smt::PlacementSolution& solution);

enum class Method { exact, heuristic, first_fit };
const char* to_string(Method method);

// GPU homes of a plan: node name -> scope path per GPU index ("" free).
using Homes = std::map<std::string, std::vector<std::string>>;

struct PlaceOptions {
  enum class Mode { automatic, exact, heuristic, first_fit };
  Mode mode = Mode::automatic;
  std::chrono::milliseconds budget{2000};  // per pool, for the exact method
  std::size_t exact_limit = 2000;          // most demand x domain pairs solved exactly
  smt::PlacementOptimizer* optimizer = nullptr;
};

struct PoolPlacement {
  std::string pool;
  Method method = Method::heuristic;
  bool optimal = false;
  std::string note;  // e.g. why the exact method was not used
  Quality quality;
};

struct Placement {
  std::vector<Demand> demands;
  // home[node][gpu] = index into `demands`, or -1 when free.
  std::vector<std::vector<std::int32_t>> home;
  std::vector<PoolPlacement> pools;  // pools with nodes or demands, in pool order
  Quality quality;                   // summed over pools
  bool has_previous = false;
};

// Places the policy's own shares on the inventory. Reports E0241 when a
// share does not fit a pool whose billing cannot grow.
Placement place(const model::Policy& policy, const Inventory& inventory, const Homes* previous,
                const PlaceOptions& options, DiagnosticSink& sink);

// The homes of a placement, for comparison with a later one.
Homes homes_of(const Inventory& inventory, const Placement& placement);

}  // namespace allot::plan

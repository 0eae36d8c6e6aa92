// The placement optimizer interface: an exact solver for small placement
// problems, kept free of any solver library (compiler/smt/z3.h
// provides the Z3 implementation). The problem is stated over interconnect
// domains: each node is split into domains of consecutive GPU indices, and a
// solution says how many GPUs of each demand's own share lie in each domain.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace allot::smt {

struct OptDomain {
  std::uint32_t node = 0;     // index into PlacementProblem::nodes
  std::int64_t capacity = 0;  // free GPUs in the domain
};

struct OptNode {
  std::uint32_t first_domain = 0;  // domains [first_domain, first_domain + domain_count)
  std::uint32_t domain_count = 0;
  std::int64_t capacity = 0;  // free GPUs on the node (sum of its domains)
  bool pay_as_you_go = false;
};

struct OptDemand {
  std::int64_t gpus = 0;
  std::vector<std::uint32_t> nodes;  // the nodes it may use, ascending
};

struct PlacementProblem {
  std::vector<OptNode> nodes;
  std::vector<OptDomain> domains;
  std::vector<OptDemand> demands;
  // previous[demand][domain]: GPUs of the domain homed to the demand by the
  // previous plan (empty when there is none).
  std::vector<std::vector<std::int64_t>> previous;
  // What is already known of the optimum, objective by objective (in the
  // order below; `whole free nodes` is maximised, the others minimised):
  // `equal` when proved, `bound` when a feasible solution attains it.
  struct Hint {
    std::optional<std::int64_t> equal;
    std::optional<std::int64_t> bound;
  };
  std::array<Hint, 6> hints;
};

// amount[demand][domain]: GPUs of the demand's share placed in the domain.
struct PlacementSolution {
  std::vector<std::vector<std::int64_t>> amount;
};

enum class OptStatus { optimal, timeout, infeasible, failed };

struct OptimizeResult {
  OptStatus status = OptStatus::failed;
  PlacementSolution solution;  // set when optimal
  std::string detail;          // why not optimal, for reports
};

// Minimises, in this order (lexicographically): nodes shared between
// demands; the nodes each demand spans (summed); the interconnect domains
// each demand spans (summed); nodes left without any placed GPU (maximised);
// GPUs placed on pay-as-you-go nodes; GPUs moved away from their previous
// home; and finally a tie-break towards lower domain indices, so that the
// answer is canonical.
class PlacementOptimizer {
 public:
  virtual ~PlacementOptimizer() = default;
  virtual OptimizeResult optimize(const PlacementProblem& problem, std::chrono::milliseconds budget) = 0;
};

}  // namespace allot::smt

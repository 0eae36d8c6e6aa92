// Where an admitted job runs: the placement policies of a pool (`placement =
// fgd | best_fit | first_fit | spread | random`, docs/scheduling.md,
// "Placement") over the GPUs of GpuState and the CPU and memory of each node.
// The Scheduler decides whether a job may run (limits, rules); the Placer
// only decides where, and answers "nowhere" when no node has room for all of
// the request.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "runtime/core/cluster.h"
#include "runtime/core/fragmentation.h"
#include "runtime/core/gpu_index.h"
#include "runtime/core/types.h"

namespace allot::runtime {

const char* to_string(PlacementPolicy policy);
std::optional<PlacementPolicy> parse_placement_policy(std::string_view name);

// The GPUs of an admitted job and the node that holds its CPU and memory
// (the node of its first GPU; for a job without GPUs, the node chosen for
// its CPU, or kNone when no node models CPU or memory).
struct Placement {
  std::vector<GpuSlice> gpus;
  NodeId node = kNone;
};

class Placer {
 public:
  Placer(const Cluster& cluster, std::shared_ptr<const Topology> topology);

  // Nowhere (nullopt) if no node has room for the whole request now.
  // `gpu_models` as Job::gpu_models; `own_group` and `rank` as
  // GpuState::place_whole.
  std::optional<Placement> place(const Resources& request, std::string_view gpu_models, std::uint32_t own_group,
                                 const std::vector<std::uint32_t>& rank, const GpuState& gpus);
  // The job's CPU and memory on `node` (kNone: nothing to count).
  void take(NodeId node, const Resources& request);
  void give_back(NodeId node, const Resources& request);

  // Sum over nodes of F_n(M), in milli-GPU (fragmentation.h), against the
  // workload FGD uses; 0 while that workload is empty.
  double fragmented_milli(const GpuState& gpus) const;
  const std::vector<TaskType>& workload() const { return workload_; }
  PlacementPolicy policy() const { return policy_; }
  // A cordoned node is never chosen (Scheduler::set_cordoned).
  void set_cordoned(NodeId node, bool cordoned);
  // Whether any node has a CPU or memory capacity to respect.
  bool models_nodes() const { return models_nodes_; }
  // A node's CPU and memory: what jobs may use (0: not modelled, no bound)
  // and what is free of it now.
  Amount cpu_capacity(NodeId node) const { return cpu_capacity_[node]; }
  Amount memory_capacity(NodeId node) const { return memory_capacity_[node]; }
  Amount cpu_free(NodeId node) const { return cpu_free_[node]; }
  Amount memory_free(NodeId node) const { return memory_free_[node]; }

 private:
  struct Candidate {
    NodeId node = kNone;
    std::uint32_t gpu = 0;        // share: the GPU's index on the node
    Amount gpu_free = 0;          // share: that GPU's free milli before
    std::uint32_t node_free = 0;  // whole GPUs free on the node before
    std::int32_t score = 0;       // fgd: score of the fall of F_n(M), higher is better
  };
  struct DeltaEntry {
    std::uint64_t stamp = ~0ull;
    std::int32_t score = 0;  // fgd_score of the growth of F_n(M)
    std::uint32_t gpu = 0;
    bool fits = false;  // the node's GPUs have room for the request
  };
  std::uint64_t stamp(NodeId node, const GpuState& gpus) const;
  bool node_fits(NodeId node, const Resources& request) const;
  NodeFree node_free(NodeId node, const GpuState& gpus, Amount* buffer) const;
  std::int64_t fragmentation(NodeId node, const GpuState& gpus) const;  // F_n(M) * FragTerms::kScale, cached
  // The fgd choice on one node: the growth of F_n(M) and the GPU (shares).
  DeltaEntry fgd_delta(NodeId node, const Resources& request, const GpuState& gpus, std::uint32_t shape) const;
  const std::vector<char>& model_mask(std::string_view gpu_models);
  void observe(const Resources& request, std::string_view gpu_models);
  std::uint64_t next_random();

  PlacementPolicy policy_;
  std::shared_ptr<const Topology> topology_;
  std::vector<std::string> node_model_;
  std::vector<Amount> cpu_capacity_, memory_capacity_;  // 0: not modelled
  std::vector<Amount> cpu_free_, memory_free_;
  std::vector<std::uint32_t> cpu_version_;  // bumped when the node's CPU use changes
  bool models_nodes_ = false;
  std::vector<char> cordoned_;  // per node
  std::size_t cordoned_count_ = 0;
  std::uint64_t random_state_;

  // The expected workload and, per node, whether each task type accepts its
  // GPU model ([node * types + type]).
  std::vector<TaskType> workload_;
  std::vector<std::int64_t> weights_;  // fragmentation_weights(workload_)
  std::vector<char> type_model_ok_;
  bool learn_workload_ = false;  // no workload given: learn it from the requests placed
  std::map<std::tuple<Amount, std::uint32_t, Amount, std::string>, double> history_;  // request type -> count
  std::size_t observed_ = 0, next_rebuild_ = 16;
  void set_workload(std::vector<TaskType> workload);

  std::map<std::string, std::vector<char>, std::less<>> model_masks_;  // per `gpu_models`: accepted, per node
  // Caches of the fgd computation, valid while the node's stamp is unchanged.
  mutable std::vector<std::pair<std::uint64_t, std::int64_t>> node_fragmentation_;  // (stamp, scaled F_n(M))
  // The growth depends on the request's CPU and GPUs only (its GPU models
  // decide which nodes are candidates), so shapes are keyed by those two.
  std::map<std::pair<Amount, Amount>, std::uint32_t> shapes_;
  mutable FragTerms terms_;                              // scratch of fragmentation() and fgd_delta()
  mutable std::vector<std::vector<DeltaEntry>> deltas_;  // [shape][node]
};

}  // namespace allot::runtime

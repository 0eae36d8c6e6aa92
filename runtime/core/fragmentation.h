// GPU fragmentation of a node measured against an expected workload, as
// defined by Weng et al., "Beware of Fragmentation: Scheduling GPU-Sharing
// Workloads with Fragmentation Gradient Descent" (USENIX ATC 2023), section
// 4: for each task type m of the workload, with popularity p_m, the idle GPU
// capacity of the node that m cannot use is fragmented for m; the node's
// fragmentation is the expectation over m. docs/scheduling.md, "Placement".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/types.h"

namespace allot::runtime {

// One kind of request of the expected workload. `gpus` whole GPUs when
// `milli_per_gpu` is 1000, else one GPU shared at `milli_per_gpu`.
struct TaskType {
  Amount cpu_milli = 0;
  std::uint32_t gpus = 1;
  Amount milli_per_gpu = kMilliPerGpu;
  std::string gpu_models;  // `|`-separated models it may run on; empty: any
  double popularity = 0;   // p_m; the popularities of a workload sum to 1
};

// The GPU models a request accepts (`V100M16|V100M32`); empty accepts all.
bool accepts_model(std::string_view accepted, std::string_view model);

// The typical workload of a list of requests (each counted `popularity`
// times: 1 for a plain list), the way the paper's simulator
// builds it: requests with a GPU grouped by (cpu, GPUs, milli per GPU,
// models), most popular first (ties: the smaller request first), taken in
// steps of `step` types until they cover `coverage` of the requests, and
// their popularities renormalised to sum to 1. Memory is not part of a type.
// With `cpu_only_types`, requests without a GPU are types too (the paper's
// simulator counts them; every idle GPU is fragmented for them, so they add
// the same to every choice of fgd but take part in the coverage).
std::vector<TaskType> typical_workload(const std::vector<TaskType>& requests, double coverage = 0.95,
                                       std::uint32_t step = 1, bool cpu_only_types = false);

// What a node has free. `gpu_free[i]` is the free milli of its i-th GPU.
struct NodeFree {
  Amount cpu_milli = 0;  // free CPU; ignored when the node's CPU is not modelled
  bool cpu_modelled = false;
  const Amount* gpu_free = nullptr;
  std::uint32_t gpu_count = 0;
};

// F_n(m): the milli-GPU of the node fragmented for task type m. For a type
// without GPUs, every idle milli-GPU of the node. If m cannot
// run on the node at all (its GPU model, CPU or GPUs do not fit), every idle
// milli-GPU of the node; otherwise the free remainders of GPUs with less free
// than m asks of one GPU (min(milli_per_gpu, 1000)).
Amount task_fragmentation(const NodeFree& node, bool model_ok, const TaskType& task);

// F_n(M) = sum over m of p_m F_n(m), in milli-GPU. `model_ok[m]` says whether
// the node's GPU model is accepted by task type m.
double node_fragmentation(const NodeFree& node, const std::vector<TaskType>& workload,
                          const std::vector<char>& model_ok);
// The same with `model_ok` pointing at one flag per type; the node's idle
// capacity is summed once (the placement's inner loop).
double node_fragmentation(const NodeFree& node, const std::vector<TaskType>& workload, const char* model_ok);

// F_n(M) prepared for repeated evaluation on one node whose free CPU is
// fixed while its GPUs vary (the placement's inner loop). Popularities are
// fixed-point weights (p_m * 2^24, rounded), so the same state always gives
// the same integer, whatever the order of the sums: a choice that changes
// nothing grows F_n(M) by exactly 0. Types that cannot run on the node
// whatever its GPUs (model, CPU, or no GPUs at all) count every idle milli;
// the others are merged by (milli per GPU, GPUs).
struct FragTerms {
  static constexpr double kScale = 16777216.0;  // 2^24
  struct Term {
    Amount per_gpu = 0;
    std::uint32_t gpus = 0;
    std::int64_t weight = 0;
  };
  std::int64_t all_idle_weight = 0;
  std::vector<Term> terms;
};

// `weights[m]` = llround(p_m * FragTerms::kScale), see fragmentation_weights.
std::vector<std::int64_t> fragmentation_weights(const std::vector<TaskType>& workload);
void prepare_fragmentation(Amount cpu_free, bool cpu_modelled, const std::vector<TaskType>& workload,
                           const std::vector<std::int64_t>& weights, const char* model_ok, FragTerms& out);
// F_n(M) * kScale for the GPUs `gpu_free[0..count)`.
std::int64_t scaled_fragmentation(const FragTerms& terms, const Amount* gpu_free, std::uint32_t count);

}  // namespace allot::runtime

// The fragmentation experiment of `allot simulate --load --placement LIST`
// (docs/simulate.md, "Placement experiment"), as Weng et al., "Beware of
// Fragmentation" (USENIX ATC 2023) ran it: the trace's pods arrive one by
// one in a seeded random order, never to leave, followed by pods drawn at random (with
// replacement) from the trace until the GPUs they ask for exceed
// `max_percent` of the cluster's capacity. A pod the Scheduler leaves
// pending has failed and is withdrawn. Every placement policy runs on the
// same arrivals, for each seed; the unallocated GPUs are recorded against
// the arrived GPU requests, both in percent of the cluster's GPUs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/cluster.h"
#include "runtime/sim/simulator.h"

namespace allot::runtime::sim {

struct LoadExperimentOptions {
  std::vector<PlacementPolicy> policies;
  std::uint32_t seeds = 5;          // seeds 1..seeds
  std::uint32_t max_percent = 130;  // stop once arrived requests exceed this % of capacity
};

// One policy on one seed. Curves are indexed by arrived percent 0..max_percent
// (the state just after the arrivals first reach that point).
struct LoadCurve {
  PlacementPolicy policy = PlacementPolicy::best_fit;
  std::uint64_t seed = 0;
  std::vector<double> unallocated_percent;
  std::vector<double> fragmented_percent;  // sum of F_n(M), the paper's measure
  std::uint64_t arrived = 0, failed = 0, preemptions = 0;
  double schedule_seconds = 0;    // inside submit + schedule, all arrivals
  std::vector<float> arrival_us;  // per arrival: submit + schedule, microseconds
};

struct LoadExperimentResult {
  double capacity_gpus = 0;
  std::uint64_t nodes = 0;
  std::vector<TaskType> workload;  // the typical workload fgd and the measure use
  std::vector<LoadCurve> runs;     // policy-major, then seed
  double wall_seconds = 0;
};

// `jobs`: the trace's pods in arrival order, as resolve_jobs gives them
// (queue, request, models; CPU-only pods included); the cluster's nodes
// should carry their CPU and memory. Throws std::invalid_argument if
// the cluster is malformed.
LoadExperimentResult run_load_experiment(const Cluster& cluster, const std::vector<SimJob>& jobs,
                                         const LoadExperimentOptions& options);

// The reported points of the curves (percent of capacity arrived).
inline constexpr std::uint32_t kLoadReportPoints[] = {50, 80, 90, 95, 100, 110, 130};

std::string load_experiment_json(const LoadExperimentResult& result, const std::string& trace, const std::string& plan);
std::string load_experiment_csv(const LoadExperimentResult& result);  // one row per policy, seed, percent
std::string unallocated_svg(const LoadExperimentResult& result, const std::string& trace);
std::string fragmented_svg(const LoadExperimentResult& result, const std::string& trace);
void print_load_experiment(std::ostream& out, const LoadExperimentResult& result);

}  // namespace allot::runtime::sim

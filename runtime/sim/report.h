// What `allot simulate` writes: report.json, timeseries.csv, scopes.csv, the
// SVG charts, the terminal table and the side-by-side comparison. Pure
// functions from a finished SimResult to text; the command writes the files.
#pragma once

#include <array>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "runtime/core/cluster.h"
#include "runtime/sim/simulator.h"
#include "runtime/sim/trace.h"

namespace allot::runtime::sim {

// The inputs of one run, as the report names them.
struct RunContext {
  std::string plan;       // as given on the command line
  std::string trace;      // as given
  std::string inventory;  // "plan" or the node list as given
  std::string mapping;    // empty: by hash only
  TraceFormat format = TraceFormat::openb;
  std::uint64_t seed = 0;
  std::uint64_t trace_lines = 0;
  std::array<std::uint64_t, kSkipReasonCount> skipped{};
  std::size_t synthetic_queues = 0;  // the last scopes of the cluster
  std::vector<std::string> notes;
};

// Headline figures of one run.
struct Summary {
  double utilization = 0;  // allocated GPU time / (capacity x span)
  double allocated_gpu_hours = 0, idle_gpu_hours = 0, fragmented_gpu_hours = 0;
  double delay_p50_s = 0, delay_p95_s = 0, delay_p99_s = 0, delay_mean_s = 0, delay_max_s = 0;
  std::uint64_t submitted = 0, started = 0, completed = 0, cancelled = 0, never_ran = 0, refused = 0;
  std::uint64_t preemptions = 0, requeues = 0;
  // Over the innermost scopes with a GPU guarantee (no guaranteed scope below
  // them), so nested guarantees are not counted twice.
  double violation_scope_hours = 0, shortfall_gpu_hours = 0;
  double span_hours = 0;
};
Summary summarize(const Cluster& cluster, const SimResult& result);

std::string report_json(const Cluster& cluster, const RunContext& context, const SimResult& result);
std::string timeseries_csv(const Cluster& cluster, const SimResult& result);
std::string scopes_csv(const Cluster& cluster, const SimResult& result);
// One row per job of the trace, in trace order (id = row number, 1-based, as
// the simulator submits them): id,queue,user,submit,first_start,end,outcome,
// preemptions; times in seconds, empty where not applicable.
std::string jobs_csv(const Cluster& cluster, const std::vector<SimJob>& jobs, const SimResult& result);
std::string utilization_svg(const Cluster& cluster, const SimResult& result);  // per scope, stacked
std::string capacity_svg(const SimResult& result);  // allocated / fragmented / other idle, stacked
std::string waiting_svg(const SimResult& result);   // delay histogram and CDF

void print_table(std::ostream& out, const Cluster& cluster, const RunContext& context, const SimResult& result,
                 bool terminal);

// Side by side: `a` is the --plan run, `b` the --compare run (same trace).
void print_comparison(std::ostream& out, const Cluster& a_cluster, const RunContext& a_context, const SimResult& a,
                      const Cluster& b_cluster, const RunContext& b_context, const SimResult& b);
std::string comparison_json(const Cluster& a_cluster, const RunContext& a_context, const SimResult& a,
                            const Cluster& b_cluster, const RunContext& b_context, const SimResult& b);

// Load mode (SimResult::load): the state at the stop.
std::string load_json(const Cluster& cluster, const RunContext& context, const SimResult& result);
void print_load(std::ostream& out, const Cluster& cluster, const RunContext& context, const SimResult& result,
                bool terminal);
void print_load_comparison(std::ostream& out, const RunContext& a_context, const SimResult& a,
                           const RunContext& b_context, const SimResult& b);

}  // namespace allot::runtime::sim

// Places the own shares of policies/venus-tenants.allot (16 tenant quotas,
// 1,080 GPUs) on the 1,213 nodes of the Alibaba openb trace (6,212 GPUs of
// mixed models) and compares the plan's placement with a first-fit baseline.
//
//   allot_bench_plan [POLICY [NODES_CSV]]
//
// Defaults: the repository's policy and ../shared/data next to the source
// tree. Not a test: prints a table.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "compiler/plan/placement.h"
#include "compiler/sema/analyze.h"
#include "compiler/smt/z3.h"
#include "compiler/syntax/parser.h"

using namespace allot;

namespace {

struct Run {
  plan::Placement placement;
  double ms = 0;  // median of the runs
};

Run measure(const model::Policy& policy, const plan::Inventory& nodes, const plan::PlaceOptions& options, int runs) {
  Run run;
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    DiagnosticSink sink;
    const auto start = std::chrono::steady_clock::now();
    run.placement = plan::place(policy, nodes, nullptr, options, sink);
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    if (sink.has_errors()) {
      std::cerr << "placement failed: " << sink.diagnostics().front().message << "\n";
      std::exit(1);
    }
  }
  std::sort(times.begin(), times.end());
  run.ms = times[times.size() / 2];
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string root = ALLOT_SOURCE_DIR;
  const std::string policy_path = argc > 1 ? argv[1] : root + "/policies/venus-tenants.allot";
  const std::string csv_path =
      argc > 2 ? argv[2] : root + "/../shared/data/alibaba-gpu-v2023/openb_node_list_gpu_node.csv";

  SourceManager sources;
  DiagnosticSink sink;
  syntax::LoadResult loaded = syntax::load(sources, {policy_path}, sink);
  std::optional<model::Policy> policy;
  if (!loaded.io_error) policy = sema::analyze(sources, loaded.files, sink);
  if (!policy || sink.has_errors()) {
    std::cerr << "cannot load " << policy_path << "\n";
    return 1;
  }
  std::ifstream in(csv_path, std::ios::binary);
  if (!in) {
    std::cerr << "cannot read " << csv_path << "\n";
    return 1;
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::vector<plan::InventoryError> errors;
  const std::optional<plan::Inventory> nodes =
      plan::parse_openb_csv(*policy, text.str(), csv_path, policy->pools.at(0).name, errors);
  if (!nodes) {
    std::cerr << "cannot use " << csv_path << ": " << (errors.empty() ? "" : errors.front().message) << "\n";
    return 1;
  }
  std::int64_t gpus = 0;
  for (const plan::InventoryNode& n : nodes->nodes) gpus += n.gpus;
  const std::vector<plan::Demand> demands = plan::own_shares(*policy);
  std::int64_t wanted = 0;
  for (const plan::Demand& d : demands) wanted += d.gpus;

  const auto optimizer = smt::make_z3_placement_optimizer();
  plan::PlaceOptions optimized;
  optimized.optimizer = optimizer.get();
  plan::PlaceOptions first_fit;
  first_fit.mode = plan::PlaceOptions::Mode::first_fit;
  const Run a = measure(*policy, *nodes, optimized, 5);
  const Run b = measure(*policy, *nodes, first_fit, 5);

  fmt::print("{} scopes with a GPU share ({} GPUs) on {} nodes ({} GPUs)\n\n", demands.size(), wanted,
             nodes->nodes.size(), gpus);
  fmt::print("| {:<26} | {:>9} | {:>21} | {:>25} | {:>22} |\n", "placement", "time (ms)", "shared nodes (>= lb)",
             "whole free nodes (<= ub)", "nodes per scope (>= lb)");
  fmt::print("|{:-<28}|{:->11}|{:->23}|{:->27}|{:->24}|\n", "", "", "", "", "");
  for (const auto& [name, run] : {std::pair<std::string, const Run*>{"", &a}, {"first-fit (baseline)", &b}}) {
    const plan::Quality& q = run->placement.quality;
    std::string label = name;
    if (label.empty()) {
      const plan::PoolPlacement& pp = run->placement.pools.at(0);
      label = fmt::format("plan: {}{}", plan::to_string(pp.method), pp.optimal ? " (optimal)" : "");
    }
    fmt::print("| {:<26} | {:>9.1f} | {:>21} | {:>25} | {:>22} |\n", label, run->ms,
               fmt::format("{} (lb {})", q.shared_nodes, q.shared_nodes_lower_bound),
               fmt::format("{} (ub {})", q.whole_free_nodes, q.whole_free_nodes_upper_bound),
               fmt::format("{} (lb {})", q.scope_nodes, q.scope_nodes_lower_bound));
  }
  for (const plan::PoolPlacement& pp : a.placement.pools) {
    if (!pp.note.empty()) fmt::print("\nplan note: {}\n", pp.note);
  }
  return 0;
}

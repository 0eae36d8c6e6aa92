// `allot simulate`: replays a GPU-cluster trace through a compiled plan
// (docs/simulate.md). The `allot` driver defines the options with
// add_simulate_options and runs run_simulation; run_simulate_command parses a
// command line of its own.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "runtime/core/placement.h"

namespace CLI {
class App;
}  // namespace CLI

namespace allot::runtime::sim {

enum class ProgressMode { automatic, always, never };

// `allot simulate`'s options, as parsed.
struct SimulateOptions {
  std::string plan, trace, mapping, nodes, compare, output;
  std::string plan_name, compare_name;  // labels in reports; empty: the path
  std::uint64_t seed = 0;
  std::uint32_t samples = 400;
  bool load = false;
  std::uint64_t load_failures = 1;
  // The placement experiment (load_experiment.h): `--placement LIST`, with
  // `--load`, runs it once per policy of LIST, over seeds 1..`seeds`.
  std::vector<PlacementPolicy> placement;
  std::string placement_problem;  // a name of `--placement` that is no policy
  std::uint32_t seeds = 5;
  bool seeds_given = false;
  ProgressMode progress = ProgressMode::automatic;
};

// Defines the options of `simulate` on `app`, filling `options`.
void add_simulate_options(CLI::App& app, SimulateOptions& options);

// What the definitions cannot check (required options, `--load-failures`
// without `--load`): the message of a usage error.
std::optional<std::string> check_simulate_options(const SimulateOptions& options);

// Runs a parsed simulation. Returns 0 on success, 2 on I/O or input errors.
int run_simulation(const SimulateOptions& options, std::ostream& out, std::ostream& err, bool out_is_terminal);

// `args` are the arguments after `simulate` (a leading "simulate" is
// skipped too). The report table goes to `out` (bold headers when
// `out_is_terminal`), diagnostics and the progress bar to `err`.
// Returns 0 on success, 2 on usage, I/O or input errors.
int run_simulate_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                         bool out_is_terminal);

}  // namespace allot::runtime::sim

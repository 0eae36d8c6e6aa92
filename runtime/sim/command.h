// `allot simulate`: replays a GPU-cluster trace through a compiled plan
// (docs/simulate.md). The compiler driver forwards its arguments here.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace allot::runtime::sim {

// `args` are the arguments after `simulate` (a leading "simulate" is
// skipped too). The report table goes to `out` (bold headers when
// `out_is_terminal`), diagnostics and the progress bar to `err`.
// Returns 0 on success, 2 on usage, I/O or input errors.
int run_simulate_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                         bool out_is_terminal);

}  // namespace allot::runtime::sim

// The name the driver asks for.

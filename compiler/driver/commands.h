// The subcommands of `allot` that compile, each on the pipeline
// (pipeline.h) with its own rendering.
#pragma once

#include <functional>
#include <string>

#include "compiler/backend/slurm.h"
#include "compiler/driver/cli.h"
#include "compiler/driver/driver.h"

namespace allot::driver {

// `allot: MESSAGE`, for what happens after the pipeline (an output that
// cannot be written).
int report_failure(Streams& streams, const std::string& message, int code = kExitUsage);

int run_check(const CheckOptions& options, Streams& streams);

// `apply --target slurm`: runs once the new policy compiled and the change
// was proved allowed against the live state, with the new configuration, the
// deployed one and the new slurm.conf include.
using SlurmApplyHook = std::function<int(const backend::SlurmConfig&, const backend::SlurmConfig&, const std::string&)>;

int run_compile(const CompileOptions& options, Streams& streams, const SlurmApplyHook* apply = nullptr);

int run_fmt(const FmtOptions& options, Streams& streams);

int run_graph(const GraphOptions& options, Streams& streams);

int run_lsp(const LspOptions& options, Streams& streams);

int run_diff(const DiffOptions& options, Streams& streams);

int run_explain(const ExplainOptions& options, Streams& streams);

int run_simulate(const SimulateOptions& options, Streams& streams);

int run_slurm_apply(const SlurmApplyOptions& options, Streams& streams);

int run_live_state(const LiveStateOptions& options, Streams& streams);

int run_checked_apply(const CheckedApplyOptions& options, Streams& streams);

// The state file (docs/state.md) for allotd's `state` reply, naming
// `policy_files` (absolute) as the deployed policy.
std::string render_live_state(const api::Json& state, const std::vector<std::string>& policy_files,
                              const std::string& as_of);

}  // namespace allot::driver

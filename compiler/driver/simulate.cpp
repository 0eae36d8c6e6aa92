// `allot simulate`, and `allot apply --target slurm`: the commands that
// compile a policy on the way to something else.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "compiler/backend/slurm_cli.h"
#include "compiler/driver/commands.h"

namespace allot::driver {

// A policy where a plan is expected is compiled (on the trace's node list
// when `--nodes` names one) into a temporary plan, so that a policy can be
// replayed in one command.
int run_simulate(const SimulateOptions& options, Streams& streams) {
  runtime::sim::SimulateOptions sim = options.sim;
  std::vector<std::filesystem::path> temporaries;
  int code = kExitOk;
  struct Slot {
    std::string* path;
    std::string* name;
  };
  for (const Slot slot : {Slot{&sim.plan, &sim.plan_name}, Slot{&sim.compare, &sim.compare_name}}) {
    if (code != kExitOk || std::filesystem::path(*slot.path).extension() != ".allot") continue;
    const std::string policy = *slot.path;
    const std::filesystem::path plan_path = std::filesystem::temp_directory_path() /
                                            fmt::format("allot-simulate-{}-{}-{}.toml", ::getpid(), temporaries.size(),
                                                        std::filesystem::path(policy).stem().string());
    temporaries.push_back(plan_path);
    CompileOptions compile;
    compile.request.inputs = {policy};
    compile.request.plan.emplace();
    compile.request.plan->allot_version = kVersion;
    compile.request.plan->inventory = sim.nodes;
    compile.output = plan_path.string();
    std::ostringstream quiet;
    Streams compile_streams{quiet, streams.err, false, streams.err_is_terminal};
    code = run_compile(compile, compile_streams);
    *slot.path = plan_path.string();
    // Reports name the policy, not the temporary plan, so they stay the same
    // from run to run.
    if (slot.name->empty()) *slot.name = policy;
  }
  if (code == kExitOk) code = runtime::sim::run_simulation(sim, streams.out, streams.err, streams.out_is_terminal);
  for (const auto& path : temporaries) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  return code;
}

// Reads the live state from Slurm, proves the change from the deployed
// policy allowed as `compile --state` does (refusing a busy queue deleted, a
// limit cut below usage, ...), then applies it in a safe order
// (backend::apply_slurm).
int run_slurm_apply(const SlurmApplyOptions& options, Streams& streams) {
  const std::filesystem::path scratch =
      std::filesystem::temp_directory_path() / fmt::format("allot-apply-{}", ::getpid());
  std::error_code ec;
  std::filesystem::create_directories(scratch, ec);
  const std::string state_path = (scratch / "state.toml").string();
  int code = kExitUsage;
  if (backend::write_slurm_state(options.map, options.deployed, state_path, streams.out, streams.err)) {
    CompileOptions compile;
    compile.request.inputs = options.policies;
    compile.request.state = state_path;
    compile.request.plan.emplace();
    compile.request.plan->allot_version = kVersion;
    compile.target = "slurm";
    compile.target_options.strict = options.strict;
    compile.output = options.output.empty() ? (scratch / "slurm").string() : options.output;
    const SlurmApplyHook hook = [&](const backend::SlurmConfig& next, const backend::SlurmConfig& before,
                                    const std::string& allot_conf) {
      return backend::apply_slurm(next, before, allot_conf, options.conf, streams.out, streams.err);
    };
    code = run_compile(compile, streams, &hook);
    if (code == kExitPolicyError) {
      streams.err << "allot: refused: the change is not safe for the live state; nothing was applied\n";
    }
  }
  std::filesystem::remove_all(scratch, ec);
  return code;
}

}  // namespace allot::driver

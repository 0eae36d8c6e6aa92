// The commands that drive a Slurm cluster with a compiled policy:
// `allot submit --backend slurm`, `allot state --from slurm` and the
// executing half of `allot apply --target slurm` (docs/backends.md). They
// run Slurm's own clients (sbatch, squeue, sinfo, sacctmgr, scontrol) found
// on PATH, never a shell.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "compiler/backend/slurm.h"

namespace allot::backend {

// The default queue map: $ALLOT_SLURM_MAP, else /etc/allot/slurm/queues.toml.
std::string default_slurm_map();

// `allot submit --backend slurm --queue WS/NS/Q --gpus N [--kind K] [--name N]
// [--output FILE] [--map FILE] [--dry-run] -- CMD...`, as parsed.
struct SlurmSubmitOptions {
  std::string queue, kind, name, output, priority;
  std::string map = default_slurm_map();
  std::int64_t gpus = 0;  // whole GPUs
  bool dry_run = false;
  std::vector<std::string> command;  // not empty
};

// Exit 0 submitted, 1 refused by sbatch, 2 usage or I/O errors.
int run_slurm_submit(const SlurmSubmitOptions& options, std::ostream& out, std::ostream& err);

// `allot state --from slurm --map FILE --policy POLICY... [-o FILE]`.
struct SlurmStateOptions {
  std::string map = default_slurm_map();
  std::vector<std::string> policies;  // not empty
  std::string output = "-";
};

// The live state (docs/state.md) from squeue and sinfo.
int run_slurm_state(const SlurmStateOptions& options, std::ostream& out, std::ostream& err);

// Writes the live state for `policy_files` read through `map_path` to
// `state_path` (`-`: to `out`). False, with a message on `err`, when Slurm
// cannot be read.
bool write_slurm_state(const std::string& map_path, const std::vector<std::string>& policy_files,
                       const std::string& state_path, std::ostream& out, std::ostream& err);

// Applies `next` to the running cluster in a safe order: QOS and accounts
// are added before anything refers to them, preemption lists are cleared
// before they are set (sacctmgr refuses a cycle even for a moment), and what
// `deployed` had that `next` lacks is removed last, users before accounts,
// children before parents, QOS after the accounts. With `conf_path` the
// slurm.conf include is replaced and `scontrol reconfigure` run when it
// changed. Prints each command. Exit status as for `apply`.
int apply_slurm(const SlurmConfig& next, const SlurmConfig& deployed, const std::string& allot_conf,
                const std::string& conf_path, std::ostream& out, std::ostream& err);

}  // namespace allot::backend

// `allot compile --target slurm`: the plan as Slurm configuration
// (docs/backends.md). Guarantees become a guaranteed tier per queue, a QOS
// whose GrpTRES is the queue's share of its guarantee and whose jobs may
// preempt the borrowed tier of sibling subtrees; limits become association
// GrpTRES; roles become user associations and coordinators.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compiler/backend/target.h"
#include "compiler/plan/plan.h"

namespace allot::backend {

struct SlurmQos {
  std::string name;
  std::string queue;  // the Allot queue path
  char tier = 's';    // 'g' guaranteed, 'b' borrowed, 's' single (a queue without a guarantee)
  std::int64_t priority = 0;
  std::int64_t grace_seconds = 0;
  bool cancel = false;                   // on_preempt = cancel
  std::optional<std::int64_t> grp_gpus;  // the guaranteed tier's share
  std::vector<std::string> preempt;      // QOS this one may preempt, sorted
  std::string description;
};

struct SlurmAccount {
  std::string name;
  std::string parent;  // "root" for a tree's root
  std::string scope;   // the Allot scope path
  std::optional<std::int64_t> grp_gpus;
  std::string description;
};

struct SlurmUser {
  std::string user;
  std::string account;
  std::vector<std::string> qos;
  std::string default_qos;
  bool default_account = false;  // the user's first account
};

struct SlurmCoordinator {
  std::string account;
  std::vector<std::string> users;
};

struct SlurmPartition {
  std::string name;
  std::string pool;
  std::string kind;
  std::vector<std::string> nodes;
  std::vector<std::string> accounts;
  std::vector<std::string> qos;
};

struct SlurmQueue {
  std::string path;
  std::string account;
  std::vector<std::pair<std::string, std::string>> partitions;  // workload kind -> partition
  std::string guaranteed_qos;                                   // empty without a guaranteed tier
  std::string borrowed_qos;                                     // the borrowed or single tier
  std::int64_t guarantee_gpus = 0;
  std::int64_t grace_seconds = 0;
  bool requeue = true;
  bool preemptible = true;
  std::string priority;  // the default class
};

struct SlurmConfig {
  std::string source_sha256;
  std::vector<std::string> sources;
  std::int64_t tier_bonus = 0;
  std::vector<SlurmQos> qos;
  std::vector<SlurmAccount> accounts;  // parents first
  std::vector<SlurmUser> users;
  std::vector<SlurmCoordinator> coordinators;
  std::vector<SlurmPartition> partitions;
  std::vector<SlurmQueue> queues;
  std::vector<std::string> notes;  // comments for allot.conf: what was left out and why
};

// Builds the Slurm configuration of a plan, reporting every rule Slurm cannot
// express exactly through `lossy` (W03xx) and name clashes as E0301.
SlurmConfig build_slurm(const plan::Plan& plan, Lossy& lossy);

// allot.conf, qos.sacctmgr, assoc.sacctmgr, queues.toml.
std::vector<OutputFile> render_slurm(const SlurmConfig& config);

// `pai-pool-0001,pai-pool-0002` as `pai-pool-000[1-2]` where names share a
// prefix and differ in a zero-padded number of the same width.
std::string slurm_hostlist(const std::vector<std::string>& names);

// The account and QOS name of a policy name: Slurm folds them to lower case.
std::string slurm_name(const std::string& name);

}  // namespace allot::backend

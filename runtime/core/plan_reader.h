// Reads a compiled plan (the TOML that `allot compile` writes,
// docs/plan-format.md) into the core's Cluster. The text is passed in: the
// core does no file I/O. Shared by allotd and `allot simulate`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "runtime/core/cluster.h"

namespace allot::runtime {

// One node of the plan's inventory, as written (Cluster::nodes keeps only
// what the scheduler needs).
struct PlanNode {
  std::string name;
  std::string pool;
  std::string gpu_model;
  std::uint32_t gpus = 0;
  std::uint32_t interconnect = 0;  // GPUs per interconnect domain, 0: the whole node
  Amount cpu_milli = 0;
  Amount memory_mib = 0;
  // The status of its pool (`[[pools]] status`): `running`, `abnormal` or
  // `creating`; only a running pool's nodes admit jobs.
  std::string pool_status = "running";
  // Its pool's placement policy (`[[pools]] placement`, best_fit where none):
  // what a daemon serving this node alone runs.
  PlacementPolicy placement = PlacementPolicy::best_fit;
};

struct PlanMetadata {
  std::int64_t format_version = 0;
  std::string allot_version;
  std::string source_sha256;
  // `[[sources]]`: every file of the policy as `allot compile` loaded it
  // (the path as given there) and the SHA-256 of its bytes.
  struct Source {
    std::string path, sha256;
  };
  std::vector<Source> sources;
};

// Cluster::nodes[i] is nodes[i]; Cluster::scopes[s].name is the scope's
// unique path (`workspace-b/dlc/default-queue`), scope_pool[s] its pool.
// Queue grants are the users and groups of the roles on the queue and on
// every ancestor, each with the role's permissions.
struct LoadedPlan {
  Cluster cluster;
  std::vector<PlanNode> nodes;
  std::vector<std::string> scope_pool;
  // renamed_from[s]: the path scope s had in the plan it replaces (`allot
  // apply` moves that queue's jobs to it); empty if none.
  std::vector<std::string> renamed_from;
  // For telling what a new plan changes (who may apply it): per scope, the
  // grants of the roles written on it and its table as text; the rest of the
  // plan (pools, nodes, roles, priorities) as text.
  std::vector<std::vector<Grant>> scope_grants;
  std::vector<std::string> scope_text;
  std::string global_text;
  PlanMetadata metadata;
};

// Where the plan is wrong: 1-based line and column (0 when unknown).
struct PlanError {
  std::string path;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  std::string message;
  std::string to_string() const;  // `path:line:col: message`
};

using PlanReadResult = std::variant<LoadedPlan, PlanError>;

// Parses and checks the plan: format version, every cross reference (parents
// before children, known priorities, roles, pools, nodes and placement homes).
PlanReadResult read_plan(std::string_view toml_text, std::string_view path);

// The plan's cluster cut down to the named nodes (in the order given), with
// the placement of their GPUs; scopes and priorities are unchanged, so scope
// ids stay valid. Names not in the plan are skipped.
Cluster restrict_to_nodes(const LoadedPlan& plan, const std::vector<std::string>& node_names);

// The index of a scope by path, or kNone.
ScopeId find_scope(const Cluster& cluster, std::string_view path);

}  // namespace allot::runtime

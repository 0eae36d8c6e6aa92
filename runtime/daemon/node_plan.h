// The plan as one allotd runs it: read from plan-format TOML and cut down to
// the daemon's node.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "runtime/core/cluster.h"
#include "runtime/core/plan_reader.h"

namespace allot::daemon {

// The cluster cut down to its node, with a grant for the admins (root and
// the daemon's user) on every queue that has grants, so that the core's own
// authorization lets admins through.
struct NodePlan {
  runtime::LoadedPlan plan;
  runtime::Cluster cluster;
  runtime::PlanNode node;
  std::string path;
  std::string text;
  std::string fingerprint;  // of the text: crc32 and length
};

// The error names `path`; the plan must have `node` and pass the core's
// checks of the cluster.
std::variant<NodePlan, std::string> load_node_plan(std::string_view text, const std::string& path,
                                                   const std::string& node, const std::vector<std::string>& admins);

std::string text_fingerprint(std::string_view text);

// The node's CPU and memory as the core counts them (Node::cpu_milli,
// Node::memory_mib): what the plan gives the node, cut to what the machine
// has (`system_*`, read from it; 0 where unknown). Either alone where only
// one is known; 0 (not modelled) where neither is. docs/runtime-api.md,
// "Node resources".
void use_node_resources(NodePlan& plan, runtime::Amount system_cpu_milli, runtime::Amount system_memory_mib);

}  // namespace allot::daemon

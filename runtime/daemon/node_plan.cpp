#include "runtime/daemon/node_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "runtime/core/scheduler.h"
#include "runtime/daemon/journal.h"

namespace allot::daemon {

std::string text_fingerprint(std::string_view text) { return fmt::format("crc32:{:08x}:{}", crc32(text), text.size()); }

namespace {

runtime::Amount smaller_known(runtime::Amount planned, runtime::Amount system) {
  if (planned <= 0) return std::max<runtime::Amount>(system, 0);
  if (system <= 0) return planned;
  return std::min(planned, system);
}

}  // namespace

void use_node_resources(NodePlan& plan, runtime::Amount system_cpu_milli, runtime::Amount system_memory_mib) {
  for (runtime::Node& n : plan.cluster.nodes) {
    if (n.name != plan.node.name) continue;
    n.cpu_milli = smaller_known(plan.node.cpu_milli, system_cpu_milli);
    n.memory_mib = smaller_known(plan.node.memory_mib, system_memory_mib);
  }
}

std::variant<NodePlan, std::string> load_node_plan(std::string_view text, const std::string& path,
                                                   const std::string& node, const std::vector<std::string>& admins) {
  runtime::PlanReadResult read = runtime::read_plan(text, path);
  if (const auto* e = std::get_if<runtime::PlanError>(&read)) return e->to_string();
  NodePlan np;
  np.plan = std::get<runtime::LoadedPlan>(std::move(read));
  const auto it = std::find_if(np.plan.nodes.begin(), np.plan.nodes.end(),
                               [&](const runtime::PlanNode& n) { return n.name == node; });
  if (it == np.plan.nodes.end()) {
    std::string names;
    for (std::size_t i = 0; i < np.plan.nodes.size() && i < 5; ++i) names += (i ? ", " : "") + np.plan.nodes[i].name;
    return fmt::format("{}: the plan has no node `{}` (nodes: {}{})", path, node, names,
                       np.plan.nodes.size() > 5 ? ", ..." : "");
  }
  np.node = *it;
  np.cluster = runtime::restrict_to_nodes(np.plan, {node});
  np.cluster.placement_policy = np.node.placement;  // its own pool's, not the plan's first
  for (runtime::Scope& s : np.cluster.scopes) {
    if (s.kind == runtime::ScopeKind::queue && !s.queue.grants.empty())
      s.queue.grants.push_back(runtime::Grant{admins, {}, runtime::kSubmit | runtime::kList | runtime::kCancel});
  }
  try {
    runtime::Scheduler probe(np.cluster);  // the core's own checks of the cluster
  } catch (const std::invalid_argument& e) {
    return path + ": " + e.what();
  }
  np.path = path;
  np.text = std::string(text);
  np.fingerprint = text_fingerprint(text);
  return np;
}

}  // namespace allot::daemon

#include "runtime/daemon/metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace allot::daemon {

namespace {

std::string prometheus_label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// What a scope covers (docs/scheduling.md, "Words"): its declared guarantee,
// or, where it declares none, what its children cover. Scopes are listed
// parents before children, so one pass from the end sums every subtree.
std::vector<runtime::Resources> covers(const runtime::Cluster& cluster) {
  std::vector<runtime::Resources> cover(cluster.scopes.size());
  for (std::size_t i = cluster.scopes.size(); i-- > 0;) {
    const runtime::Scope& s = cluster.scopes[i];
    for (runtime::Resource r : runtime::kAllResources)
      if (s.bounds[r]) cover[i][r] = s.bounds[r]->guarantee;
    if (s.parent == runtime::kNone) continue;
    const runtime::Scope& parent = cluster.scopes[s.parent];
    for (runtime::Resource r : runtime::kAllResources)
      if (!parent.bounds[r]) cover[s.parent][r] += cover[i][r];
  }
  return cover;
}

}  // namespace

std::vector<runtime::Resources> shown_guarantees(const runtime::Cluster& cluster) {
  const std::vector<runtime::Resources> cover = covers(cluster);
  std::vector<runtime::Resources> children_cover(cluster.scopes.size());  // per scope, what its children cover
  for (std::size_t i = 0; i < cluster.scopes.size(); ++i) {
    const runtime::ScopeId parent = cluster.scopes[i].parent;
    if (parent == runtime::kNone) continue;
    for (runtime::Resource r : runtime::kAllResources) children_cover[parent][r] += cover[i][r];
  }
  std::vector<runtime::Resources> shown(cluster.scopes.size());
  for (std::size_t i = 0; i < cluster.scopes.size(); ++i) {
    const runtime::Scope& s = cluster.scopes[i];
    const bool bound = s.kind == runtime::ScopeKind::workspace && s.parent != runtime::kNone &&
                       cluster.scopes[s.parent].kind == runtime::ScopeKind::quota;
    for (runtime::Resource r : runtime::kAllResources) {
      if (s.bounds[r]) {
        shown[i][r] = s.bounds[r]->guarantee;
      } else if (bound && cover[i][r] == 0 && cluster.scopes[s.parent].bounds[r]) {
        shown[i][r] =
            std::max<runtime::Amount>(0, cluster.scopes[s.parent].bounds[r]->guarantee - children_cover[s.parent][r]);
      }
    }
  }
  return shown;
}

std::string milli_text(runtime::Amount v) {
  if (v % 1000 == 0) return std::to_string(v / 1000);
  return fmt::format("{}.{:03}", v / 1000, v % 1000);
}

const char* kind_name(runtime::ScopeKind k) {
  switch (k) {
    case runtime::ScopeKind::quota:
      return "quota";
    case runtime::ScopeKind::workspace:
      return "workspace";
    case runtime::ScopeKind::namespace_:
      return "namespace";
    case runtime::ScopeKind::queue:
      return "queue";
  }
  return "?";
}

std::string render_metrics(const std::vector<ScopeFigures>& scopes,
                           const std::map<std::string, std::size_t>& jobs_by_state, bool journal_healthy,
                           const std::string& gpu_source, std::size_t gpu_count) {
  std::string out;
  auto value = [](runtime::Resource r, runtime::Amount v) {
    return r == runtime::Resource::memory ? std::to_string(v) : milli_text(v);
  };
  struct Gauge {
    const char* name;
    const char* help;
    runtime::Resources runtime::ScopeReport::*field;
  };
  const Gauge gauges[] = {
      {"allot_scope_used", "Resources held by running jobs in the scope's subtree (GPUs, CPUs, MiB).",
       &runtime::ScopeReport::used},
      {"allot_scope_guaranteed",
       "Declared guarantee of the scope; of a workspace bound to a quota, the part of the quota's guarantee it may "
       "claim.",
       &runtime::ScopeReport::guaranteed},
      {"allot_scope_borrowed", "Used beyond the scope's guarantee.", &runtime::ScopeReport::borrowed},
      {"allot_scope_pending", "Requested by pending jobs in the scope's subtree.", &runtime::ScopeReport::pending},
  };
  for (const Gauge& g : gauges) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", g.name, g.help, g.name);
    for (const ScopeFigures& s : scopes) {
      for (runtime::Resource r : runtime::kAllResources) {
        out += fmt::format("{}{{scope=\"{}\",kind=\"{}\",resource=\"{}\"}} {}\n", g.name, prometheus_label(s.path),
                           s.kind, runtime::to_string(r), value(r, (s.report.*g.field)[r]));
      }
    }
  }
  out += "# HELP allot_scope_preemptions_total Jobs of the scope's subtree preempted since allotd started.\n";
  out += "# TYPE allot_scope_preemptions_total counter\n";
  for (const ScopeFigures& s : scopes)
    out += fmt::format("allot_scope_preemptions_total{{scope=\"{}\",kind=\"{}\"}} {}\n", prometheus_label(s.path),
                       s.kind, s.preemptions_total);
  out += "# HELP allot_jobs Jobs known to allotd by state.\n# TYPE allot_jobs gauge\n";
  for (const auto& [state, count] : jobs_by_state) out += fmt::format("allot_jobs{{state=\"{}\"}} {}\n", state, count);
  out += "# HELP allot_journal_healthy 0 after a corrupt or truncated journal tail was found.\n";
  out += fmt::format("# TYPE allot_journal_healthy gauge\nallot_journal_healthy {}\n", journal_healthy ? 1 : 0);
  out += "# HELP allot_node_gpus GPUs of this node.\n# TYPE allot_node_gpus gauge\n";
  out += fmt::format("allot_node_gpus{{source=\"{}\"}} {}\n", gpu_source, gpu_count);
  return out;
}

std::string render_node_metrics(const std::string& node, const std::string& state, const std::string& pool,
                                const std::string& pool_status) {
  const bool cordoned = state != "schedulable";
  const bool draining = state == "draining";
  std::string out = "# HELP allot_node_cordoned 1 while the node admits no new job (cordoned or drained).\n";
  out += fmt::format("# TYPE allot_node_cordoned gauge\nallot_node_cordoned{{node=\"{}\",state=\"{}\"}} {}\n", node,
                     state, cordoned ? 1 : 0);
  out += "# HELP allot_node_draining 1 while jobs stopped by a drain are in their grace period.\n";
  out +=
      fmt::format("# TYPE allot_node_draining gauge\nallot_node_draining{{node=\"{}\"}} {}\n", node, draining ? 1 : 0);
  out += "# HELP allot_pool_running 1 while the node's pool is running (only then are jobs admitted).\n";
  out += fmt::format("# TYPE allot_pool_running gauge\nallot_pool_running{{pool=\"{}\",status=\"{}\"}} {}\n", pool,
                     pool_status, pool_status == "running" ? 1 : 0);
  return out;
}

}  // namespace allot::daemon

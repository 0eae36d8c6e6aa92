// The per-scope figures that `status` and the Prometheus metrics show, and
// their text exposition.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/core/cluster.h"
#include "runtime/core/job.h"

namespace allot::daemon {

struct ScopeFigures {
  std::string path;
  std::string kind;
  runtime::ScopeReport report;  // `guaranteed` as shown_guarantees() gives it
  std::uint64_t preemptions_total = 0;
};

// The guarantee shown per scope (indexed by ScopeId): what it declares. A
// workspace that declares no guarantee of a resource and covers none below
// it, bound to a quota, shows what it may claim there: the part of the
// quota's guarantee that the quota's children do not cover (the quota's "own
// jobs", docs/scheduling.md), shared by every workspace bound to that quota.
std::vector<runtime::Resources> shown_guarantees(const runtime::Cluster& cluster);

// Prometheus text exposition of the per-scope figures.
std::string render_metrics(const std::vector<ScopeFigures>& scopes,
                           const std::map<std::string, std::size_t>& jobs_by_state, bool journal_healthy,
                           const std::string& gpu_source, std::size_t gpu_count);

// The node's cordon (`state`: schedulable, cordoned, draining, drained) and
// its pool's status, as gauges.
std::string render_node_metrics(const std::string& node, const std::string& state, const std::string& pool,
                                const std::string& pool_status);

// `1000` -> "1", `1500` -> "1.500": milli-units as written in messages.
std::string milli_text(runtime::Amount v);
const char* kind_name(runtime::ScopeKind k);

}  // namespace allot::daemon

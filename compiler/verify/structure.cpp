// Invariants 1-4, checked natively in time linear in the size of the policy;
// invariant 5 (the preemption graph) is in preemption_graph.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "compiler/base/codes.h"
#include "compiler/sema/model_queries.h"
#include "compiler/verify/verify.h"

namespace allot::verify {

using namespace model;

namespace {

std::size_t resource_count(const Policy& policy) {
  std::size_t n = policy.resources.size();
  for (const Scope& s : policy.scopes) n = std::max(n, s.bounds.size());
  return n;
}

std::string display_name(const Scope& s) {
  return quoted(s.kind == ScopeKind::quota || s.kind == ScopeKind::workspace ? s.name : s.path);
}

// 1. Children never exceed their parent.
void check_children(const Policy& policy, DiagnosticSink& sink, std::size_t resources) {
  for (Index p = 0; p < policy.scopes.size(); ++p) {
    const Scope& parent = policy.scopes[p];
    for (Index r = 0; r < resources; ++r) {
      const Bound* pb = bound_of(policy, p, r);
      if (!pb) continue;
      // 1a: the sum of the children's guarantees.
      const std::vector<Index> children = bounded_frontier(policy, p, r);
      Amount sum = 0;
      for (Index c : children) sum += guarantee_of(policy, c, r);
      // A hybrid workspace guarantees only its fixed (subscribed) part; the
      // elastic ceiling is capacity on demand, never a guarantee.
      const Bound* ceiling = parent.billing && parent.billing->mode == BillingMode::hybrid &&
                                     r < parent.billing->ceiling.size() && parent.billing->ceiling[r]
                                 ? &*parent.billing->ceiling[r]
                                 : nullptr;
      if (sum > pb->guarantee && ceiling != nullptr) {
        const Amount elastic = ceiling->limit ? *ceiling->limit : ceiling->guarantee;
        Diagnostic& d = sink.error(
            code::E0201, bound_range(policy, p, r),
            fmt::format("children of hybrid {} guarantee {}, more than its fixed part of {}", display_name(parent),
                        format_amount(policy, r, sum), format_amount(policy, r, pb->guarantee)));
        d.note(fmt::format("its elastic ceiling of {} is capacity on demand, not a guarantee: {} in total, of which "
                           "only the fixed part is guaranteed",
                           format_amount(policy, r, elastic), format_amount(policy, r, pb->guarantee + elastic)),
               ceiling->range.valid() ? ceiling->range : parent.billing->range);
        for (Index c : children) {
          d.note(fmt::format("{} guarantees {}", display_name(policy.scopes[c]),
                             format_amount(policy, r, guarantee_of(policy, c, r))),
                 bound_range(policy, c, r));
        }
        d.add_help(fmt::format("lower the children's guarantees by {} in all, or raise the fixed part of {}",
                               format_amount(policy, r, sum - pb->guarantee), display_name(parent)));
      } else if (sum > pb->guarantee) {
        Diagnostic& d =
            sink.error(code::E0201, bound_range(policy, p, r),
                       fmt::format("children of {} guarantee {}, more than its {}", display_name(parent),
                                   format_amount(policy, r, sum), format_quantity(policy, r, pb->guarantee)));
        for (Index c : children) {
          d.note(fmt::format("{} guarantees {}", display_name(policy.scopes[c]),
                             format_amount(policy, r, guarantee_of(policy, c, r))),
                 bound_range(policy, c, r));
        }
        d.add_help(fmt::format("lower the children's guarantees by {} in all, or raise the guarantee of {}",
                               format_amount(policy, r, sum - pb->guarantee), display_name(parent)));
      }
      // 1c: a guarantee within its own limit.
      if (pb->limit && pb->guarantee > *pb->limit) {
        sink.error(code::E0203, bound_range(policy, p, r),
                   fmt::format("{} guarantees {} but is limited to {}", display_name(parent),
                               format_amount(policy, r, pb->guarantee), format_amount(policy, r, *pb->limit)))
            .add_help("write the guarantee first: `GUARANTEE..LIMIT` with GUARANTEE <= LIMIT");
      }
      // 1b: a limit within the nearest ancestor's limit.
      if (pb->limit) {
        for (Index a = parent.parent; a != kNone && a < policy.scopes.size(); a = policy.scopes[a].parent) {
          const Bound* ab = bound_of(policy, a, r);
          if (!ab || !ab->limit) continue;
          if (*pb->limit > *ab->limit) {
            sink.error(code::E0202, bound_range(policy, p, r),
                       fmt::format("{} may use up to {}, more than the limit of its parent {} ({})",
                                   display_name(parent), format_amount(policy, r, *pb->limit),
                                   display_name(policy.scopes[a]), format_amount(policy, r, *ab->limit)))
                .note(fmt::format("{} is limited to {}", display_name(policy.scopes[a]),
                                  format_amount(policy, r, *ab->limit)),
                      bound_range(policy, a, r))
                .add_help(
                    fmt::format("lower the limit to at most {}, or write `{}..` to borrow up to the parent's limit",
                                format_quantity(policy, r, *ab->limit), format_quantity(policy, r, pb->guarantee)));
          }
          break;
        }
      }
    }
  }
}

std::string capacity_words(const Pool& pool) {
  return pool.billing.mode == BillingMode::subscription ? "capacity" : "ceiling";
}

// 2. Root scopes fit their pool; elastic billing respects its ceiling.
void check_pools(const Policy& policy, DiagnosticSink& sink, std::size_t resources) {
  for (Index p = 0; p < policy.pools.size(); ++p) {
    const Pool& pool = policy.pools[p];
    for (Index r = 0; r < resources; ++r) {
      const Capacity cap = pool_capacity(policy, p, r);
      if (!cap.known || cap.unbounded) continue;
      const std::vector<Index> tops = pool_frontier(policy, p, r);
      Amount sum = 0;
      for (Index s : tops) sum += guarantee_of(policy, s, r);
      const std::string what =
          pool.billing.mode == BillingMode::hybrid ? "capacity with its ceiling" : capacity_words(pool);
      if (sum > cap.amount) {
        Diagnostic& d =
            sink.error(code::E0204, pool.name_range.valid() ? pool.name_range : pool.range,
                       fmt::format("scopes on pool {} guarantee {}, more than its {} of {}", quoted(pool.name),
                                   format_amount(policy, r, sum), what, format_amount(policy, r, cap.amount)));
        for (Index s : tops) {
          d.note(fmt::format("{} guarantees {}", display_name(policy.scopes[s]),
                             format_amount(policy, r, guarantee_of(policy, s, r))),
                 bound_range(policy, s, r));
        }
        for (const NodeGroup& g : pool.node_groups) {
          if (g.flavor >= policy.flavors.size()) continue;
          d.note(fmt::format("{} nodes of {}", g.count, quoted(policy.flavors[g.flavor].name)), g.range);
        }
        d.add_help(pool.billing.mode == BillingMode::subscription
                       ? "add nodes to the pool or lower the guarantees"
                       : "raise the pool's ceiling, add nodes or lower the guarantees");
      }
      for (Index s : tops) {
        const Bound* b = bound_of(policy, s, r);
        if (!b || !b->limit || *b->limit <= cap.amount) continue;
        sink.error(code::E0205, bound_range(policy, s, r),
                   fmt::format("{} may use up to {}, more than the {} of pool {} ({})", display_name(policy.scopes[s]),
                               format_amount(policy, r, *b->limit), what, quoted(pool.name),
                               format_amount(policy, r, cap.amount)))
            .note(fmt::format("pool {} offers {}", quoted(pool.name), format_amount(policy, r, cap.amount)),
                  pool.name_range.valid() ? pool.name_range : pool.range)
            .add_help(fmt::format("lower the limit to at most {}", format_quantity(policy, r, cap.amount)));
      }
    }
  }
  // Workspaces with their own billing.
  for (Index s = 0; s < policy.scopes.size(); ++s) {
    const Scope& scope = policy.scopes[s];
    if (!scope.billing) continue;
    const Billing& billing = *scope.billing;
    for (Index r = 0; r < resources; ++r) {
      const Bound* b = bound_of(policy, s, r);
      if (!b || !b->limit || r >= billing.ceiling.size() || !billing.ceiling[r]) continue;
      const Bound& c = *billing.ceiling[r];
      const Amount ceiling = c.limit ? *c.limit : c.guarantee;
      Amount allowed = 0;
      if (billing.mode == BillingMode::hybrid) {
        allowed = b->guarantee + ceiling;
      } else if (billing.mode == BillingMode::pay_as_you_go) {
        allowed = ceiling;
      } else {
        continue;
      }
      if (*b->limit > allowed) {
        sink.error(code::E0206, bound_range(policy, s, r),
                   fmt::format("{} may use up to {}, more than its billing allows ({})", display_name(scope),
                               format_amount(policy, r, *b->limit), format_amount(policy, r, allowed)))
            .note(fmt::format("the elastic ceiling is {}", format_amount(policy, r, ceiling)),
                  c.range.valid() ? c.range : billing.range)
            .add_help("raise the ceiling or lower the limit");
      }
    }
  }
}

// 3. Every namespace has a `default-queue`.
void check_default_queues(const Policy& policy, DiagnosticSink& sink) {
  for (const Scope& ns : policy.scopes) {
    if (ns.kind != ScopeKind::namespace_) continue;
    const bool found = std::any_of(ns.children.begin(), ns.children.end(), [&](Index c) {
      return c < policy.scopes.size() && policy.scopes[c].kind == ScopeKind::queue &&
             policy.scopes[c].name == "default-queue";
    });
    if (!found) {
      sink.error(code::E0207, ns.name_range.valid() ? ns.name_range : ns.range,
                 fmt::format("namespace {} has no `default-queue`", quoted(ns.path)))
          .add_help("every namespace needs a `default-queue`; declare `queue default-queue {}` in it");
    }
  }
}

std::string kinds(WorkloadSet set) {
  std::string out;
  for (WorkloadKind k : {WorkloadKind::inference, WorkloadKind::training, WorkloadKind::development}) {
    if ((set & static_cast<WorkloadSet>(k)) == 0) continue;
    if (!out.empty()) out += ", ";
    out += to_string(k);
  }
  return out.empty() ? "nothing" : out;
}

// 4. A queue only accepts workload kinds its pool hosts.
void check_workloads(const Policy& policy, DiagnosticSink& sink) {
  for (const Scope& q : policy.scopes) {
    if (q.kind != ScopeKind::queue || q.pool >= policy.pools.size()) continue;
    const Pool& pool = policy.pools[q.pool];
    const WorkloadSet extra = static_cast<WorkloadSet>(q.accepts & ~pool.hosts & kAllWorkloads);
    if (extra == 0) continue;
    sink.error(code::E0208, q.name_range.valid() ? q.name_range : q.range,
               fmt::format("queue {} accepts {}, which pool {} does not host", quoted(q.path), kinds(extra),
                           quoted(pool.name)))
        .note(fmt::format("pool {} hosts {}", quoted(pool.name), kinds(pool.hosts)),
              pool.name_range.valid() ? pool.name_range : pool.range)
        .add_help(fmt::format("set `accepts` to kinds the pool hosts ({}), or use a pool that hosts {}",
                              kinds(pool.hosts), kinds(extra)));
  }
}

}  // namespace

std::size_t check_structure(const Policy& policy, DiagnosticSink& sink) {
  const std::size_t before = sink.error_count();
  const std::size_t resources = resource_count(policy);
  check_children(policy, sink, resources);
  check_pools(policy, sink, resources);
  check_default_queues(policy, sink);
  check_workloads(policy, sink);
  check_preemption_graph(policy, sink);
  return sink.error_count() - before;
}

}  // namespace allot::verify

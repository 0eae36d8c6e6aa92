// Dead rules: rules a policy writes that can never take effect. Each warning
// names the rule and points with a note at what shadows it, so that the
// author can remove the rule or fix what makes it dead. Part of lint: run only
// on a policy without errors.
#include <fmt/format.h>

#include <algorithm>

#include "compiler/sema/analyzer.h"
#include "compiler/sema/codes.h"
#include "compiler/sema/model_queries.h"

namespace allot::sema {
namespace {

// How many scopes a note list names before "and N more".
constexpr std::size_t kNamed = 3;

std::string who(const model::Scope& s) { return fmt::format("{} `{}`", model::to_string(s.kind), s.path); }

}  // namespace

void Analyzer::check_dead_rules() {
  check_dead_preempts();
  check_dead_child_preemption();
  check_unbinding_limits();
  check_empty_roles();
}

// A `preempts` entry acts within one queue (rule R3 of docs/scheduling.md):
// it takes effect only in a queue that runs the victim class, is
// preemptible, and leaves preemption to the classes' lists (no
// `preemption = ...`).
void Analyzer::check_dead_preempts() {
  std::vector<std::vector<Index>> queues_of(policy_.priorities.size());
  for (Index i = 0; i < policy_.scopes.size(); ++i) {
    const model::Scope& q = policy_.scopes[i];
    if (q.kind == model::ScopeKind::queue && q.default_priority < queues_of.size())
      queues_of[q.default_priority].push_back(i);
  }
  auto effective = [&](Index q) {
    const model::Scope& s = policy_.scopes[q];
    return s.preemptible && s.within_queue == model::WithinQueue::by_class;
  };
  for (Index p = 0; p < policy_.priorities.size(); ++p) {
    const model::PriorityClass& preemptor = policy_.priorities[p];
    for (std::size_t k = 0; k < preemptor.preempts.size(); ++k) {
      const Index v = preemptor.preempts[k];
      if (v >= policy_.priorities.size()) continue;
      if (std::any_of(queues_of[v].begin(), queues_of[v].end(), effective)) continue;
      const model::PriorityClass& victim = policy_.priorities[v];
      const SourceRange at = k < preemptor.preempts_ranges.size() ? preemptor.preempts_ranges[k] : preemptor.range;
      Diagnostic& d = sink_.warning(
          codes::kDeadPreempts, at,
          fmt::format("`{}` preempts `{}`, but this never takes effect: no preemptible queue runs `{}` jobs by the "
                      "classes' `preempts`",
                      preemptor.name, victim.name, victim.name));
      if (queues_of[v].empty()) d.note(fmt::format("no queue has `priority = {}`", victim.name), victim.range);
      for (std::size_t i = 0; i < queues_of[v].size() && i < kNamed; ++i) {
        const model::Scope& q = policy_.scopes[queues_of[v][i]];
        d.note(q.preemptible ? fmt::format("{} runs `{}` jobs, but its `preemption` replaces the classes' lists",
                                           who(q), victim.name)
                             : fmt::format("{} runs `{}` jobs, but is `preemptible = false`", who(q), victim.name),
               q.name_range);
      }
      if (queues_of[v].size() > kNamed) d.note(fmt::format("and {} more queues", queues_of[v].size() - kNamed));
      d.add_help(fmt::format(
          "remove `{}` from the `preempts` of `{}`, or run its jobs in a preemptible queue without `preemption`",
          victim.name, preemptor.name));
    }
  }
}

// `child_preemption` lets a quota's own jobs preempt the preemptible work of
// its sub-quotas; with none there, it never preempts anything.
void Analyzer::check_dead_child_preemption() {
  for (Index i = 0; i < policy_.scopes.size(); ++i) {
    const model::Scope& quota = policy_.scopes[i];
    if (quota.kind != model::ScopeKind::quota || !quota.child_preemption) continue;
    if (i >= child_preemption_written_.size() || !child_preemption_written_[i].valid()) continue;
    bool has_subquota = false;
    std::vector<Index> queues;  // every queue below a sub-quota
    std::vector<Index> stack;
    for (Index c : quota.children) {
      if (policy_.scopes[c].kind != model::ScopeKind::quota) continue;
      has_subquota = true;
      stack.push_back(c);
    }
    while (!stack.empty()) {
      const Index s = stack.back();
      stack.pop_back();
      if (policy_.scopes[s].kind == model::ScopeKind::queue) queues.push_back(s);
      for (Index c : policy_.scopes[s].children) stack.push_back(c);
    }
    const bool preemptible =
        std::any_of(queues.begin(), queues.end(), [&](Index q) { return policy_.scopes[q].preemptible; });
    // Sub-quotas without any queue yet are a tree still being filled in: not
    // reported.
    if (preemptible || (has_subquota && queues.empty())) continue;
    const std::string why =
        has_subquota ? "every queue below its sub-quotas is `preemptible = false`" : "it has no sub-quotas";
    Diagnostic& d =
        sink_.warning(codes::kDeadChildPreemption, child_preemption_written_[i],
                      fmt::format("`child_preemption` of quota `{}` never takes effect: {}", quota.path, why));
    std::sort(queues.begin(), queues.end());
    for (std::size_t k = 0; k < queues.size() && k < kNamed; ++k) {
      const model::Scope& q = policy_.scopes[queues[k]];
      d.note(fmt::format("{} is not preemptible", who(q)), q.name_range);
    }
    if (queues.size() > kNamed) d.note(fmt::format("and {} more queues", queues.size() - kNamed));
    d.add_help(has_subquota ? "remove `child_preemption`, or make the sub-quotas' queues preemptible"
                            : "remove `child_preemption`: it orders a quota's own jobs before its sub-quotas'");
  }
}

// A limit above what its ancestors or the pool allow never refuses anything:
// they refuse first. A limit above the nearest limited ancestor's is E0202
// and one on a pool's frontier above its capacity E0205 (both errors); this
// is the case those do not cover, a scope whose ancestors are bounded but
// unlimited, below a pool that is smaller. A limit equal to what applies
// anyway binds at the same moment and is left alone: `48..128` under a
// quota of 128 says the same thing as `48..`.
void Analyzer::check_unbinding_limits() {
  for (Index i = 0; i < policy_.scopes.size(); ++i) {
    const model::Scope& s = policy_.scopes[i];
    if (s.parent == kNone) continue;
    for (Index r = 0; r < s.bounds.size(); ++r) {
      const std::optional<model::Bound>& b = s.bounds[r];
      if (!b || !b->limit) continue;
      bool bounded_ancestor = false;
      bool limited_ancestor = false;
      Index root = i;
      for (Index a = s.parent; a != kNone; a = policy_.scopes[a].parent) {
        root = a;
        const model::Bound* ab = model::bound_of(policy_, a, r);
        if (ab == nullptr) continue;
        bounded_ancestor = true;
        if (ab->limit) limited_ancestor = true;
      }
      if (!bounded_ancestor || limited_ancestor) continue;
      const Index pool = policy_.scopes[root].pool;
      if (pool >= policy_.pools.size()) continue;
      const model::Capacity cap = model::pool_capacity(policy_, pool, r);
      if (!cap.known || cap.unbounded || *b->limit <= cap.amount) continue;
      const model::Pool& p = policy_.pools[pool];
      sink_
          .warning(codes::kUnbindingLimit, b->range,
                   fmt::format("the `{}` limit of {} ({}) never binds: pool `{}` offers only {}",
                               policy_.resources[r].name, who(s), model::format_amount(policy_, r, *b->limit), p.name,
                               model::format_amount(policy_, r, cap.amount)))
          .note(fmt::format("pool `{}` offers {}, and no scope above {} has a lower limit", p.name,
                            model::format_amount(policy_, r, cap.amount), who(s)),
                p.name_range.valid() ? p.name_range : p.range)
          .add_help(fmt::format("write `{}..` to borrow up to what the pool offers, or a limit of at most {}",
                                model::format_quantity(policy_, r, b->guarantee),
                                model::format_quantity(policy_, r, cap.amount)));
    }
  }
}

// A role grants its permissions on the queues of the scopes that list it (and
// the queues below them). A role with nobody in it, or listed only on scopes
// without a queue, grants nothing. A role listed nowhere is W0102.
void Analyzer::check_empty_roles() {
  std::vector<bool> has_queue(policy_.scopes.size(), false);
  for (Index i = static_cast<Index>(policy_.scopes.size()); i-- > 0;) {
    const model::Scope& s = policy_.scopes[i];
    if (s.kind == model::ScopeKind::queue) has_queue[i] = true;
    if (has_queue[i] && s.parent != kNone) has_queue[s.parent] = true;
  }
  std::vector<std::vector<Index>> listed_on(policy_.roles.size());
  for (Index i = 0; i < policy_.scopes.size(); ++i) {
    for (Index r : policy_.scopes[i].roles) {
      if (r < listed_on.size()) listed_on[r].push_back(i);
    }
  }
  for (Index r = 0; r < policy_.roles.size(); ++r) {
    const model::Role& role = policy_.roles[r];
    if (listed_on[r].empty()) continue;  // W0102
    if (role.users.empty() && role.groups.empty()) {
      sink_
          .warning(codes::kEmptyRole, role.range,
                   fmt::format("role `{}` grants nothing: it has no users and no groups", role.name))
          .add_help("list its members in `users = [...]` or `groups = [...]`, or remove it");
      continue;
    }
    const bool reaches = std::any_of(listed_on[r].begin(), listed_on[r].end(), [&](Index s) { return has_queue[s]; });
    if (reaches) continue;
    Diagnostic& d =
        sink_.warning(codes::kEmptyRole, role.range,
                      fmt::format("role `{}` grants nothing: no scope that lists it has a queue", role.name));
    for (std::size_t k = 0; k < listed_on[r].size() && k < kNamed; ++k) {
      const model::Scope& s = policy_.scopes[listed_on[r][k]];
      d.note(fmt::format("{} lists it, but no queue runs in it", who(s)), s.name_range);
    }
    if (listed_on[r].size() > kNamed) d.note(fmt::format("and {} more scopes", listed_on[r].size() - kNamed));
    d.add_help("list it on a workspace, namespace or queue whose queues its users submit to, or remove it");
  }
}

}  // namespace allot::sema

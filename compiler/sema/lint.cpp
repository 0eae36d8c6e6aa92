// Lint: the last phase, run only on a policy without errors (an unresolved
// reference, a typo, would also make its target look unused).
#include <fmt/format.h>

#include "compiler/sema/analyzer.h"
#include "compiler/sema/codes.h"

namespace allot::sema {

// A scope that lends its guarantee and never reclaims it loses it to the
// first borrower that stays. One warning per `reclaim = never`, naming every
// scope it applies to that guarantees something it may lend.
void Analyzer::check_reclaim() {
  std::vector<std::vector<std::pair<Index, Index>>> losers(policy_.scopes.size());  // by origin: (scope, resource)
  for (Index i = 0; i < policy_.scopes.size(); ++i) {
    const model::Scope& s = policy_.scopes[i];
    if (s.reclaim != model::ReclaimPolicy::never || reclaim_origin_[i] == kNone) continue;
    for (Index r = 0; r < s.bounds.size(); ++r) {
      const std::optional<model::Bound>& b = s.bounds[r];
      if (!b || b->guarantee <= 0 || (b->lend && *b->lend == 0)) continue;
      losers[reclaim_origin_[i]].emplace_back(i, r);
      break;
    }
  }
  constexpr std::size_t kNamed = 3;
  for (Index o = 0; o < losers.size(); ++o) {
    if (losers[o].empty()) continue;
    auto who = [&](Index scope) {
      const model::Scope& s = policy_.scopes[scope];
      return fmt::format("{} `{}`", model::to_string(s.kind), s.path);
    };
    const auto [first, first_resource] = losers[o].front();
    Diagnostic& d =
        sink_.warning(codes::kNeverReclaims, policy_.scopes[o].reclaim_range,
                      fmt::format("{} would lose its `{}` guarantee to borrowers: it never reclaims what it lends",
                                  who(first), policy_.resources[first_resource].name));
    if (first != o) d.note(fmt::format("it inherits `reclaim = never` from {}", who(o)));
    for (std::size_t k = 1; k < losers[o].size() && k <= kNamed; ++k) {
      const auto [scope, r] = losers[o][k];
      d.note(fmt::format("{} inherits it and would lose its `{}` guarantee too", who(scope), policy_.resources[r].name),
             policy_.scopes[scope].bounds[r]->range);
    }
    if (losers[o].size() > kNamed + 1) d.note(fmt::format("and {} more scopes", losers[o].size() - kNamed - 1));
    d.add_help(fmt::format(
        "write `reclaim = lower_priority` to take it back from lower-priority borrowers, or `lend = {{ {} = 0 }}` to "
        "lend none of it",
        policy_.resources[first_resource].name));
  }
}

void Analyzer::lint() {
  check_reclaim();
  check_dead_rules();
  for (Index i = 0; i < policy_.roles.size(); ++i) {
    if (roles_.used[i]) continue;
    sink_
        .warning(codes::kUnusedRole, policy_.roles[i].range,
                 fmt::format("role `{}` is never used", policy_.roles[i].name))
        .add_help("list it in `roles = [...]` of a quota, workspace, namespace or queue, or remove it");
  }
  for (Index i = 0; i < policy_.priorities.size(); ++i) {
    if (priorities_.used[i]) continue;
    sink_
        .warning(codes::kUnusedPriority, policy_.priorities[i].range,
                 fmt::format("priority class `{}` is never used", policy_.priorities[i].name))
        .add_help("set it as a queue's `priority` or list it in another class's `preempts`, or remove it");
  }
}

}  // namespace allot::sema

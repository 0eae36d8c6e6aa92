// Fair sharing among siblings (docs/scheduling.md, "Fair sharing"): the
// dominant-resource share of a scope and the pass order it gives. Rule R5,
// which preempts by these shares, is in victims.cpp with the other rules.
#include <algorithm>
#include <stdexcept>

#include "runtime/core/scheduler.h"

namespace allot::runtime {

namespace {
std::uint8_t bit(Resource r) { return static_cast<std::uint8_t>(1u << static_cast<unsigned>(r)); }
constexpr std::int64_t kShareScale = 1000;  // Kueue's: a share of 1000 borrows all that is lendable
}  // namespace

// What siblings may lend each other: the sum of their lending limits (or
// what they cover, where they set none), as Kueue sums a cohort's nominal
// quotas. Siblings that guarantee nothing of a resource are measured against
// their parent's guarantee, else its limit, else the pool.
void Scheduler::index_fair_sharing() {
  Resources pool;
  pool.gpu_milli = static_cast<Amount>(topology_->gpu_total()) * kMilliPerGpu;
  for (const Node& n : cluster_.nodes) {
    pool.cpu_milli += n.cpu_milli;
    pool.memory_mib += n.memory_mib;
  }
  auto sum_of = [&](const std::vector<ScopeId>& siblings, Resource r) {
    Amount total = 0;
    for (ScopeId c : siblings) {
      const ScopeInfo& ci = info_[c];
      if (ci.lends & bit(r))
        total += cluster_.scopes[c].bounds[r]->lend.value_or(0);
      else if (ci.covers & bit(r))
        total += ci.cover[r];
    }
    return total;
  };
  for (ScopeId s = 0; s < info_.size(); ++s) {
    ScopeInfo& info = info_[s];
    for (Resource r : kAllResources) {
      Amount l = sum_of(info.children, r);
      if (l <= 0 && (info.covers & bit(r))) l = info.cover[r];
      if (l <= 0 && info.own_limit[r] < kUnlimited) l = info.own_limit[r];
      if (l <= 0) l = pool[r];
      info.lendable[r] = std::max<Amount>(l, 0);
    }
  }
  for (Resource r : kAllResources) {
    const Amount l = sum_of(roots_, r);
    pool_lendable_[r] = l > 0 ? l : pool[r];
  }
}

std::int64_t Scheduler::fair_share(ScopeId scope, const Resources& usage) const {
  const ScopeInfo& info = info_[scope];
  const Resources& lendable = info.parent == kNone ? pool_lendable_ : info_[info.parent].lendable;
  std::int64_t dominant = 0;
  for (Resource r : kAllResources) {
    const Amount above = usage[r] - ((info.covers & bit(r)) ? info.cover[r] : 0);
    if (above <= 0 || lendable[r] <= 0) continue;
    dominant = std::max(dominant, above * kShareScale / lendable[r]);
  }
  return dominant * kShareScale / cluster_.scopes[scope].weight_milli;
}

// A tournament, bottom up: a queue's jobs go in line order; a scope merges
// its children's sequences, taking next from the child whose next job
// would leave it with the lowest share (counting the jobs of that child
// already taken), ties in line order. The rank is the position in the
// roots' merge.
std::vector<std::uint32_t> Scheduler::fair_ranks(const std::vector<const JobRecord*>& line) const {
  const std::size_t n = cluster_.scopes.size();
  std::vector<std::vector<std::uint32_t>> seq(n);  // per scope: indexes into `line`
  for (std::uint32_t i = 0; i < line.size(); ++i) seq[line[i]->job.queue].push_back(i);
  auto merge = [&](const std::vector<ScopeId>& children) {
    std::vector<std::uint32_t> out;
    std::vector<std::size_t> next(children.size(), 0);
    std::vector<Resources> taken(children.size());
    while (true) {
      std::size_t best = children.size();
      std::int64_t best_share = 0;
      for (std::size_t k = 0; k < children.size(); ++k) {
        const std::vector<std::uint32_t>& s = seq[children[k]];
        if (next[k] == s.size()) continue;
        const JobRecord& head = *line[s[next[k]]];
        const std::int64_t share = fair_share(children[k], committed(children[k]) + taken[k] + head.job.request);
        if (best == children.size() || share < best_share ||
            (share == best_share && s[next[k]] < seq[children[best]][next[best]])) {
          best = k;
          best_share = share;
        }
      }
      if (best == children.size()) return out;
      const std::uint32_t pick = seq[children[best]][next[best]++];
      taken[best] += line[pick]->job.request;
      out.push_back(pick);
    }
  };
  // Children come after their parents: going backwards, every child's
  // sequence is complete before its parent merges it.
  for (ScopeId s = static_cast<ScopeId>(n); s-- > 0;) {
    if (info_[s].children.empty()) continue;
    std::vector<std::uint32_t> merged = merge(info_[s].children);
    for (ScopeId c : info_[s].children) seq[c].clear();
    seq[s] = std::move(merged);
  }
  const std::vector<std::uint32_t> order = merge(roots_);
  std::vector<std::uint32_t> rank(line.size(), 0);
  for (std::uint32_t i = 0; i < order.size(); ++i) rank[order[i]] = i;
  return rank;
}

// Rule R5's plan condition (docs/scheduling.md, "Fair sharing"). Besides the
// strategies, the guards that keep fair sharing from cycling with R2, R3 and
// plain admissions (each found by the property tests):
// - at the scopes where the victims are inside (at and above the meeting
//   point) the preemptor takes over at least their room, and below it every
//   scope of their paths stays at or above what it covers: no room inside a
//   guarantee is freed, so no claim under R2 and no upgrade follows;
// - the victims free no more than the job requests: nothing is left over
//   for the target to refill at once;
// - S's share is counted with the job and without its own side's victims,
//   which would otherwise buy it more of T's work (Kueue's issue #14543);
// - T's share strictly falls;
// - below_initial_share, which may leave T below S, also needs T to end no
//   lower than S was before and takes no victim of higher priority.
bool Scheduler::fair_plan_holds(const JobRecord& rec, const std::vector<const JobRecord*>& victims,
                                const std::vector<Justification>& why,
                                const std::vector<std::pair<ScopeId, Resources>>& freed) const {
  auto freed_at = [&](ScopeId s) {
    for (const auto& [scope, res] : freed)
      if (scope == s) return res;
    return Resources{};
  };
  // Room inside guarantees the R5 victims hold at the scopes they share
  // with the preemptor (at and above the meeting point).
  std::vector<std::pair<ScopeId, Resources>> shared_room;
  for (std::size_t i = 0; i < victims.size(); ++i) {
    if (why[i].rule != PreemptionReason::fair_share) continue;
    const std::vector<ScopeId>& levels = levels_of_queue_[victims[i]->job.queue];
    for (std::size_t k = 0; k < levels.size(); ++k) {
      if (!in_subtree(rec.job.queue, levels[k]) || !((victims[i]->inside >> k) & 1)) continue;
      auto it =
          std::find_if(shared_room.begin(), shared_room.end(), [&](const auto& e) { return e.first == levels[k]; });
      if (it == shared_room.end())
        shared_room.emplace_back(levels[k], victims[i]->job.request);
      else
        it->second += victims[i]->job.request;
    }
  }
  for (const auto& [scope, room] : shared_room)
    for (Resource r : kAllResources)
      if ((info_[scope].covers & bit(r)) && room[r] > rec.job.request[r]) return false;
  Resources all_freed;
  bool higher = false;
  for (std::size_t i = 0; i < victims.size(); ++i) {
    all_freed += victims[i]->job.request;
    higher |= why[i].rule == PreemptionReason::fair_share && victims[i]->priority_value > rec.priority_value;
  }
  if (std::any_of(why.begin(), why.end(),
                  [](const Justification& j) { return j.rule == PreemptionReason::fair_share; }))
    for (Resource r : kAllResources)
      if (all_freed[r] > rec.job.request[r]) return false;
  for (std::size_t i = 0; i < victims.size(); ++i) {
    if (why[i].rule != PreemptionReason::fair_share) continue;
    const ScopeId own = why[i].claim_scope, other = why[i].victim_scope;
    for (ScopeId y = victims[i]->job.queue;; y = info_[y].parent) {
      const ScopeInfo& yi = info_[y];
      const Resources f = freed_at(y), left = committed(y) - f;
      for (Resource r : kAllResources)
        if ((yi.covers & bit(r)) && f[r] > 0 && left[r] < yi.cover[r]) return false;
      if (y == other) break;
    }
    const std::int64_t before = fair_share(other, committed(other));
    const std::int64_t after = fair_share(other, committed(other) - freed_at(other));
    if (after >= before) return false;
    const std::int64_t mine = fair_share(own, committed(own) + rec.job.request);
    const std::int64_t initial = fair_share(own, committed(own));
    bool holds = false;
    for (FairStrategy st : cluster_.fair_sharing)
      holds |= st == FairStrategy::at_most_final_share ? mine <= after : mine < before && after >= initial && !higher;
    if (!holds) return false;
  }
  return true;
}

}  // namespace allot::runtime

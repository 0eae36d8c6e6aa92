// The preemption rules R1..R5 of docs/scheduling.md and the victim search
// that applies them. Every victim a search returns is justified by one rule
// under the standing the preemptor will have once the victims are gone; the
// conditions below are the rules' text, in the same order. Longer than
// most files: the search's shortcuts (the standing each candidate requires)
// read the rules' exact conditions, so the two stay in one place; the
// search by target node (where nodes count CPU and memory) shares its
// accounting of what the victims free.
#include <algorithm>
#include <bit>
#include <tuple>

#include "runtime/core/scheduler.h"

namespace allot::runtime {

namespace {

bool is_whole(Amount gpu_milli) { return gpu_milli % kMilliPerGpu == 0; }

// Where two jobs' paths meet: their lowest common ancestor (kNone: they are
// under different roots) and the children of it that lead to each.
struct Meeting {
  ScopeId lca = kNone;
  ScopeId own_side = kNone;    // the preemptor's side (S)
  ScopeId other_side = kNone;  // the victim's side (T)
};

}  // namespace

// ---- the rules --------------------------------------------------------------------------------

std::optional<Scheduler::Justification> Scheduler::justify(const JobRecord& x, std::uint64_t x_inside,
                                                           const JobRecord& v) const {
  const ScopeId xq = x.job.queue, vq = v.job.queue;
  const std::vector<ScopeId>& x_levels = levels_of_queue_[xq];
  const std::vector<ScopeId>& v_levels = levels_of_queue_[vq];
  // Standing is compared on the scopes both paths share (a common suffix of
  // both level lists): wherever the victim is inside, the preemptor must be
  // inside too once the victims are gone. It takes over their room there
  // with at least their standing.
  auto dominates = [&] {
    const std::size_t nx = x_levels.size(), nv = v_levels.size();
    for (std::size_t i = nv; i-- > 0;) {
      const ScopeId s = v_levels[i];
      if (!in_subtree(xq, s)) break;
      const std::size_t j = nx - (nv - i);
      if (((v.inside >> i) & 1) && !((x_inside >> j) & 1)) return false;
    }
    return true;
  };
  auto x_inside_at = [&](ScopeId s) {
    for (std::size_t i = 0; i < x_levels.size(); ++i)
      if (x_levels[i] == s) return ((x_inside >> i) & 1) != 0;
    return false;
  };
  auto v_inside_at = [&](ScopeId s) {
    for (std::size_t i = 0; i < v_levels.size(); ++i)
      if (v_levels[i] == s) return ((v.inside >> i) & 1) != 0;
    return false;
  };
  const std::int64_t xp = x.priority_value, vp = v.priority_value;

  // R3: priority inside one queue.
  if (xq == vq) {
    bool by_priority = false;
    switch (cluster_.scopes[xq].queue.within) {
      case WithinQueue::by_class:
        by_priority = priority_preempts(x.priority, v.priority);
        break;
      case WithinQueue::never:
        break;
      case WithinQueue::lower_priority:
        by_priority = xp > vp;
        break;
      case WithinQueue::lower_or_newer_equal_priority:
        by_priority =
            xp > vp || (xp == vp && std::pair(v.job.submit_time, v.seq) > std::pair(x.job.submit_time, x.seq));
        break;
    }
    if (by_priority && dominates()) return Justification{PreemptionReason::priority, xq, vq};
    return std::nullopt;
  }

  Meeting m;
  for (ScopeId s = vq, prev = kNone; s != kNone; prev = s, s = info_[s].parent)
    if (in_subtree(xq, s)) {
      m.lca = s;
      m.other_side = prev;
      break;
    }
  if (m.lca == kNone)
    for (ScopeId s = vq; s != kNone; s = info_[s].parent) m.other_side = s;
  m.own_side = xq;
  while (info_[m.own_side].parent != m.lca) m.own_side = info_[m.own_side].parent;

  const ScopeId x_owner = info_[xq].owner_quota, v_owner = info_[vq].owner_quota;
  const bool v_parent_own = v_owner != kNone && cluster_.scopes[v_owner].child_preemption;

  // R1: the parent's own job under child_preemption, over its sub-quotas.
  if (x_owner != kNone && cluster_.scopes[x_owner].child_preemption && in_subtree(vq, x_owner) && v_owner != x_owner) {
    if (dominates()) return Justification{PreemptionReason::child_preemption, x_owner, m.other_side};
  }
  // Jobs of a quota with child_preemption hold their room as the parent's
  // own claim: nothing in its sub-quotas takes it by R2 or R4.
  const bool protected_own = v_parent_own && in_subtree(xq, v_owner) && x_owner != v_owner;
  if (protected_own) return std::nullopt;

  const ScopeId S = m.own_side, T = m.other_side;
  const Scope& claimant = cluster_.scopes[S];
  // R2: within its guarantee at S, against work borrowing at T.
  if (x_inside_at(S) && !v_inside_at(T) && claimant.reclaim != ReclaimPolicy::never &&
      (claimant.reclaim == ReclaimPolicy::any || xp > vp)) {
    bool claims = false;  // the job needs something S guarantees
    for (Resource r : kAllResources)
      if ((info_[S].covers & (1u << static_cast<unsigned>(r))) && x.job.request[r] > 0) claims = true;
    if (claims && dominates()) return Justification{PreemptionReason::reclaim_guarantee, S, T};
  }
  // Victims of R4 and R5 borrow at every scope below the meeting point.
  auto borrows_below = [&] {
    for (std::size_t i = 0; i < v_levels.size(); ++i) {
      if (in_subtree(xq, v_levels[i])) break;  // reached the shared part
      if ((v.inside >> i) & 1) return false;
    }
    return true;
  };
  // R5: a lower fair share among siblings, against borrowed work of a
  // sibling, under the reclaim policy of the claiming scope; nobody's own
  // job under child_preemption. The shares are the plan's condition
  // (fair_plan_holds): they depend on all of its victims.
  // Shares of one GPU are left out: freeing them frees no whole GPU, so a
  // plan's GPUs and its requests differ, and the strategies' accounting
  // (fair_plan_holds) would not hold.
  if (!cluster_.fair_sharing.empty()) {
    if (is_whole(x.job.request.gpu_milli) && is_whole(v.job.request.gpu_milli) &&
        claimant.reclaim != ReclaimPolicy::never && (claimant.reclaim == ReclaimPolicy::any || xp > vp) &&
        !v_parent_own && borrows_below() && dominates())
      return Justification{PreemptionReason::fair_share, S, T};
    return std::nullopt;  // fair sharing replaces R4
  }
  // R4: higher priority while borrowing, against work that borrows at every
  // scope below the meeting point and is nobody's own under child_preemption.
  if (claimant.borrow_within && xp > vp && !v_parent_own &&
      (!claimant.borrow_max_priority || vp <= *claimant.borrow_max_priority)) {
    if (borrows_below() && dominates()) return Justification{PreemptionReason::borrow_within, S, T};
  }
  return std::nullopt;
}

// A cheap test before any victim search: can any rule let this job preempt?
bool Scheduler::may_preempt(const JobRecord& rec) const {
  const ScopeId q = rec.job.queue;
  const QueueSettings& qs = cluster_.scopes[q].queue;
  if (qs.within == WithinQueue::lower_priority || qs.within == WithinQueue::lower_or_newer_equal_priority) return true;
  if (qs.within == WithinQueue::by_class && rec.priority != kNone &&
      !cluster_.priorities[rec.priority].preempts.empty())
    return true;
  const ScopeId owner = info_[q].owner_quota;
  if (owner != kNone && cluster_.scopes[owner].child_preemption) return true;
  if (!cluster_.fair_sharing.empty()) return true;  // R5
  for (ScopeId s = q; s != kNone; s = info_[s].parent) {
    const Scope& scope = cluster_.scopes[s];
    if (scope.borrow_within) return true;
    if (scope.reclaim == ReclaimPolicy::never || !info_[s].covers) continue;
    Resources nothing;
    if (fits_cover(s, nothing, rec.job.request)) return true;
  }
  return false;
}

// ---- the search ---------------------------------------------------------------------------------

std::optional<Scheduler::VictimPlan> Scheduler::find_victims(const JobRecord& rec, std::uint64_t exclude_pass) const {
  const ScopeId q = rec.job.queue;
  const Resources& req = rec.job.request;
  const std::vector<ScopeId>& x_levels = levels_of_queue_[q];

  // What blocks the job: limits (with what lending children keep) on its
  // path, the pool's GPUs kept by lending roots, and physical GPUs.
  struct Deficit {
    ScopeId scope;  // kNone: the pool
    ScopeId child;  // the scope below it on the path
  };
  std::vector<Deficit> deficits;
  auto excess = [&](ScopeId s, ScopeId child, auto&& freed_at) {
    Resources over;
    if (s == kNone) {
      Amount used = 0;
      for (ScopeId root : roots_) {
        const ScopeUsage& u = usage_[root];
        const Amount f = freed_at(root).gpu_milli;
        used += std::max(u.used.gpu_milli - f, u.used.gpu_milli - u.leaving.gpu_milli + u.reserved.gpu_milli - f);
      }
      Amount kept = pool_kept_.gpu_milli;
      for (ScopeId root : roots_)
        if (info_[root].lends) {
          const Resources f = freed_at(root);
          const Resources extra = root == child ? req : Resources{};
          kept += kept_idle(root, committed(root) - f + extra).gpu_milli - usage_[root].kept_now.gpu_milli;
        }
      over.gpu_milli = used + req.gpu_milli + kept - static_cast<Amount>(topology_->gpu_total()) * kMilliPerGpu;
      return over;
    }
    const ScopeUsage& u = usage_[s];
    const Resources f = freed_at(s);
    const Resources used = u.used - f, later = u.used - u.leaving + u.reserved - f;
    Resources kept = u.child_kept;
    for (ScopeId c : info_[s].children)
      if (info_[c].lends) {
        const Resources extra = c == child ? req : Resources{};
        kept += kept_idle(c, committed(c) - freed_at(c) + extra) - usage_[c].kept_now;
      }
    for (Resource r : kAllResources) over[r] = std::max(used[r], later[r]) + req[r] + kept[r] - info_[s].own_limit[r];
    return over;
  };
  auto nothing_freed = [](ScopeId) { return Resources{}; };
  auto positive = [](const Resources& r) { return r.gpu_milli > 0 || r.cpu_milli > 0 || r.memory_mib > 0; };
  {
    ScopeId child = kNone;
    for (ScopeId s = q; s != kNone; child = s, s = info_[s].parent)
      if (positive(excess(s, child, nothing_freed))) deficits.push_back({s, child});
    if (req.gpu_milli > 0 && excess(kNone, child, nothing_freed).gpu_milli > 0) deficits.push_back({kNone, child});
  }
  const Amount g = req.gpu_milli;
  const std::uint32_t need_gpus = g > 0 && is_whole(g) ? static_cast<std::uint32_t>(g / kMilliPerGpu) : 0;
  // Whole GPUs may span nodes (placement prefers one node, then fewest).
  bool whole_short = need_gpus > 0 && gpus_->free_whole_gpus() < static_cast<std::int64_t>(need_gpus);
  bool share_short = g > 0 && !is_whole(g) && gpus_->best_free_share() < g;
  // Where nodes count CPU and memory, one node holds the whole request (as
  // the Placer places it): the victims must make room for all of it on one
  // node, so the search runs per target node instead.
  const bool by_node = placer_->models_nodes();
  std::vector<NodeId> eligible;  // nodes the request may run on, were they empty
  bool node_short = false;
  if (by_node) {
    whole_short = share_short = false;
    bool fits_now = false;
    for (NodeId n = 0; n < cluster_.nodes.size(); ++n) {
      if (cordoned_[n]) continue;
      if (!rec.job.gpu_models.empty() && !accepts_model(rec.job.gpu_models, cluster_.nodes[n].gpu_model)) continue;
      const Amount cpu_cap = placer_->cpu_capacity(n), memory_cap = placer_->memory_capacity(n);
      if ((cpu_cap > 0 && cpu_cap < req.cpu_milli) || (memory_cap > 0 && memory_cap < req.memory_mib)) continue;
      if (g > 0 && topology_->gpu_count[n] < std::max<std::uint32_t>(need_gpus, 1)) continue;
      eligible.push_back(n);
      if (fits_now) continue;
      bool gpus_fit = g == 0 || (need_gpus > 0 && gpus_->free_on_node(n) >= need_gpus);
      for (std::uint32_t i = 0; g > 0 && need_gpus == 0 && i < topology_->gpu_count[n] && !gpus_fit; ++i)
        gpus_fit = kMilliPerGpu - gpus_->used(topology_->first_gpu[n] + i) >= g;
      fits_now = gpus_fit && (cpu_cap == 0 || placer_->cpu_free(n) >= req.cpu_milli) &&
                 (memory_cap == 0 || placer_->memory_free(n) >= req.memory_mib);
    }
    if (eligible.empty()) return std::nullopt;
    node_short = !fits_now;
  }
  if (deficits.empty() && !whole_short && !share_short && !node_short) return std::nullopt;
  // Only the node is short (no limit needs room): victims can only help on
  // the node the job will run on. The search looks at the kNear nodes
  // missing least now, and at their jobs only, so that its cost does not
  // grow with the pool (a full pool would otherwise search every job for
  // every request that finds no node).
  std::vector<char> near_node;  // per node; empty: every node
  if (node_short && deficits.empty()) {
    auto missing_now = [&](NodeId n) {
      double left = 0;
      if (placer_->cpu_capacity(n) > 0 && placer_->cpu_free(n) < req.cpu_milli)
        left += static_cast<double>(req.cpu_milli - placer_->cpu_free(n)) / static_cast<double>(req.cpu_milli);
      if (placer_->memory_capacity(n) > 0 && placer_->memory_free(n) < req.memory_mib)
        left += static_cast<double>(req.memory_mib - placer_->memory_free(n)) / static_cast<double>(req.memory_mib);
      if (need_gpus > 0 && gpus_->free_on_node(n) < need_gpus)
        left += static_cast<double>(need_gpus - gpus_->free_on_node(n)) / static_cast<double>(need_gpus);
      if (g > 0 && need_gpus == 0) {
        Amount room = 0;
        for (std::uint32_t i = 0; i < topology_->gpu_count[n]; ++i)
          room = std::max(room, kMilliPerGpu - gpus_->used(topology_->first_gpu[n] + i));
        if (room < g) left += static_cast<double>(g - room) / static_cast<double>(g);
      }
      return left;
    };
    std::vector<std::pair<double, NodeId>> nearest;
    nearest.reserve(eligible.size());
    for (NodeId n : eligible) nearest.emplace_back(missing_now(n), n);
    constexpr std::size_t kNear = 8;
    const std::size_t keep = std::min(kNear, nearest.size());
    std::partial_sort(nearest.begin(), nearest.begin() + static_cast<std::ptrdiff_t>(keep), nearest.end());
    near_node.assign(cluster_.nodes.size(), 0);
    for (std::size_t i = 0; i < keep; ++i) near_node[nearest[i].second] = 1;
  }

  // Candidates: running, preemptible, not admitted in this pass, and some
  // rule could allow it (under the best standing the preemptor could have).
  std::vector<const JobRecord*> candidates;
  auto consider = [&](const JobRecord* v) {
    if (v->state != JobState::running || !v->preemptible) return;
    if (exclude_pass != 0 && v->pass == exclude_pass) return;
    if (justify(rec, ~std::uint64_t{0}, *v)) candidates.push_back(v);
  };
  if (!near_node.empty()) {  // the order does not matter: candidates are sorted below
    for (NodeId n = 0; n < near_node.size(); ++n)
      if (near_node[n])
        for (const JobRecord* v : running_by_node_[n]) consider(v);
  } else {
    for (ScopeId vq : queues_in_preorder_)
      for (const JobRecord* v : running_by_queue_[vq]) consider(v);
  }
  if (candidates.empty()) return std::nullopt;
  // Preference among victims: weakest standing first, then borrowing from
  // farthest away, lowest priority, youngest; the id makes it total.
  auto preferred = [](const JobRecord* a, const JobRecord* b) {
    const int sa = std::popcount(a->inside), sb = std::popcount(b->inside);
    if (sa != sb) return sa < sb;
    if (a->borrow_distance != b->borrow_distance) return a->borrow_distance > b->borrow_distance;
    if (a->priority_value != b->priority_value) return a->priority_value < b->priority_value;
    if (a->started_at != b->started_at) return a->started_at > b->started_at;
    if (a->seq != b->seq) return a->seq > b->seq;
    return a->job.id < b->job.id;
  };
  std::sort(candidates.begin(), candidates.end(), preferred);

  // A share needs one GPU with room: the search is run per target GPU,
  // best first (least missing, then the most preferred victim on it).
  std::vector<std::uint32_t> targets;  // flat GPU ids (node ids when node_short); empty: one run
  if (share_short) {
    std::vector<std::pair<FlatGpu, Amount>> freeable;  // candidates' milli per GPU
    std::vector<std::pair<FlatGpu, std::size_t>> first_on;
    for (std::size_t i = 0; i < candidates.size(); ++i)
      for (const GpuSlice& sl : candidates[i]->gpus) {
        freeable.emplace_back(topology_->flat(sl.gpu), sl.milli);
        first_on.emplace_back(topology_->flat(sl.gpu), i);
      }
    std::sort(freeable.begin(), freeable.end());
    std::sort(first_on.begin(), first_on.end());
    std::vector<std::tuple<Amount, std::size_t, FlatGpu>> ranked;
    for (std::size_t i = 0, j = 0; i < freeable.size();) {
      const FlatGpu f = freeable[i].first;
      Amount total = 0;
      for (; i < freeable.size() && freeable[i].first == f; ++i) total += freeable[i].second;
      while (first_on[j].first != f) ++j;
      if (kMilliPerGpu - gpus_->used(f) + total >= g)
        ranked.emplace_back(g - (kMilliPerGpu - gpus_->used(f)), first_on[j].second, f);
    }
    if (ranked.empty()) return std::nullopt;
    std::sort(ranked.begin(), ranked.end());
    constexpr std::size_t kTargets = 4;
    for (std::size_t i = 0; i < ranked.size() && i < kTargets; ++i) targets.push_back(std::get<2>(ranked[i]));
  }

  // What standing each candidate needs the preemptor to have (bits of its
  // levels): inside wherever the victim is inside on the shared scopes, and
  // for R2 inside at the claiming scope. The search treats missing room
  // there as part of the gap, so that victims that only justify each other
  // together (room freed by both) are found.
  std::vector<std::uint64_t> requires_inside(candidates.size(), 0);
  for (std::size_t c = 0; c < candidates.size(); ++c) {
    const JobRecord& v = *candidates[c];
    const std::vector<ScopeId>& vl = levels_of_queue_[v.job.queue];
    const std::size_t nx = x_levels.size(), nv = vl.size();
    std::uint64_t mask = 0;
    for (std::size_t k = nv; k-- > 0;) {
      if (!in_subtree(q, vl[k])) break;
      if ((v.inside >> k) & 1) mask |= std::uint64_t{1} << (nx - (nv - k));
    }
    if (!justify(rec, mask, v)) {
      std::uint64_t widened = ~std::uint64_t{0};
      for (std::size_t i = 0; i < nx; ++i) {
        const std::uint64_t with = mask | (std::uint64_t{1} << i);
        if (justify(rec, with, v)) {
          widened = with;
          break;
        }
      }
      mask = widened;
    }
    requires_inside[c] = mask;
  }

  // One greedy search per target; the plan with the fewest victims wins.
  struct Chosen {
    std::vector<std::size_t> picked;  // indexes into candidates
    std::vector<std::pair<ScopeId, Resources>> freed_scopes;
    std::vector<std::pair<FlatGpu, Amount>> freed_gpus;
    std::uint32_t target = 0;  // the run that found it
  };
  auto freed_in = [](const Chosen& c, ScopeId s) {
    for (const auto& [scope, res] : c.freed_scopes)
      if (scope == s) return res;
    return Resources{};
  };
  auto add = [&](Chosen& c, std::size_t i) {
    const JobRecord& v = *candidates[i];
    c.picked.push_back(i);
    for (ScopeId s = v.job.queue; s != kNone; s = info_[s].parent) {
      auto it = std::find_if(c.freed_scopes.begin(), c.freed_scopes.end(), [&](const auto& e) { return e.first == s; });
      if (it == c.freed_scopes.end())
        c.freed_scopes.push_back({s, v.job.request});
      else
        it->second += v.job.request;
    }
    for (const GpuSlice& slice : v.gpus) {
      const FlatGpu f = topology_->flat(slice.gpu);
      auto it = std::find_if(c.freed_gpus.begin(), c.freed_gpus.end(), [&](const auto& e) { return e.first == f; });
      if (it == c.freed_gpus.end())
        c.freed_gpus.emplace_back(f, slice.milli);
      else
        it->second += slice.milli;
    }
  };
  // Reverses the last add(); the entries it appended go, the ones it grew
  // shrink back (`scopes`, `gpus`: the sizes before it).
  auto undo_last = [&](Chosen& c, std::size_t scopes, std::size_t gpus) {
    const JobRecord& v = *candidates[c.picked.back()];
    c.picked.pop_back();
    c.freed_scopes.resize(scopes);
    c.freed_gpus.resize(gpus);
    for (ScopeId s = v.job.queue; s != kNone; s = info_[s].parent)
      for (auto& e : c.freed_scopes)
        if (e.first == s) e.second -= v.job.request;
    for (const GpuSlice& slice : v.gpus) {
      const FlatGpu f = topology_->flat(slice.gpu);
      for (auto& e : c.freed_gpus)
        if (e.first == f) e.second -= slice.milli;
    }
  };
  auto rebuild = [&](const std::vector<std::size_t>& picked) {
    Chosen c;
    for (std::size_t i : picked) add(c, i);
    return c;
  };
  // What node `n` still lacks for the whole request once the chosen victims
  // are gone, as a sum of fractions (0: it fits there).
  auto node_gap = [&](const Chosen& c, NodeId n) {
    double left = 0;
    Amount cpu = placer_->cpu_free(n), memory = placer_->memory_free(n);
    for (std::size_t i : c.picked)
      if (candidates[i]->node == n) {
        cpu += candidates[i]->job.request.cpu_milli;
        memory += candidates[i]->job.request.memory_mib;
      }
    if (placer_->cpu_capacity(n) > 0 && cpu < req.cpu_milli)
      left += static_cast<double>(req.cpu_milli - cpu) / static_cast<double>(req.cpu_milli);
    if (placer_->memory_capacity(n) > 0 && memory < req.memory_mib)
      left += static_cast<double>(req.memory_mib - memory) / static_cast<double>(req.memory_mib);
    if (g <= 0) return left;
    auto freed_gpu = [&](FlatGpu f) -> Amount {
      for (const auto& [gpu, milli] : c.freed_gpus)
        if (gpu == f) return milli;
      return 0;
    };
    const FlatGpu first = topology_->first_gpu[n];
    if (need_gpus > 0) {
      // A half-emptied GPU counts as half a step, as in gap() below.
      double have = 0;
      std::uint32_t whole = 0;
      for (std::uint32_t i = 0; i < topology_->gpu_count[n]; ++i) {
        const Amount used = gpus_->used(first + i), freed = freed_gpu(first + i);
        if (freed >= used) {
          have += 1;
          ++whole;
        } else {
          have += 0.5 * static_cast<double>(freed) / static_cast<double>(used);
        }
      }
      if (whole < need_gpus)
        left += std::max(0.0, static_cast<double>(need_gpus) - have) / static_cast<double>(need_gpus) + 1e-6;
      return left;
    }
    Amount room = 0;
    for (std::uint32_t i = 0; i < topology_->gpu_count[n]; ++i)
      room = std::max(room, kMilliPerGpu - gpus_->used(first + i) + freed_gpu(first + i));
    if (room < g) left += static_cast<double>(g - room) / static_cast<double>(g);
    return left;
  };
  if (node_short) {
    // Target nodes: those where all candidates together would make room,
    // least missing now first, at most kTargets.
    std::vector<std::pair<NodeId, std::size_t>> on;  // (node, candidate), each pair once
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      if (candidates[i]->node != kNone) on.emplace_back(candidates[i]->node, i);
      for (const GpuSlice& sl : candidates[i]->gpus) on.emplace_back(sl.gpu.node, i);
    }
    std::sort(on.begin(), on.end());
    on.erase(std::unique(on.begin(), on.end()), on.end());
    std::vector<std::pair<double, NodeId>> ranked;
    for (NodeId n : eligible) {
      auto it = std::lower_bound(on.begin(), on.end(), std::pair<NodeId, std::size_t>{n, 0});
      std::vector<std::size_t> on_node;
      for (; it != on.end() && it->first == n; ++it) on_node.push_back(it->second);
      if (on_node.empty()) continue;
      Chosen all;  // what node_gap reads of them: the picks and their GPUs
      for (std::size_t i : on_node) {
        all.picked.push_back(i);
        for (const GpuSlice& sl : candidates[i]->gpus) {
          const FlatGpu f = topology_->flat(sl.gpu);
          auto g_it =
              std::find_if(all.freed_gpus.begin(), all.freed_gpus.end(), [&](const auto& e) { return e.first == f; });
          if (g_it == all.freed_gpus.end())
            all.freed_gpus.emplace_back(f, sl.milli);
          else
            g_it->second += sl.milli;
        }
      }
      if (node_gap(all, n) > 1e-9) continue;
      ranked.emplace_back(node_gap(Chosen{}, n), n);
    }
    if (ranked.empty()) return std::nullopt;
    std::sort(ranked.begin(), ranked.end());
    constexpr std::size_t kTargets = 4;
    targets.clear();
    for (std::size_t i = 0; i < ranked.size() && i < kTargets; ++i) targets.push_back(ranked[i].second);
  }
  // Per level of the preemptor's path: what the chosen victims free inside
  // it (only shared scopes, a common suffix of both level lists).
  auto freed_inside = [&](const Chosen& c) {
    std::vector<Resources> freed(x_levels.size());
    for (std::size_t i : c.picked) {
      const JobRecord& v = *candidates[i];
      const std::vector<ScopeId>& vl = levels_of_queue_[v.job.queue];
      const std::size_t nx = x_levels.size(), nv = vl.size();
      for (std::size_t k = nv; k-- > 0;) {
        if (!in_subtree(q, vl[k])) break;
        if ((v.inside >> k) & 1) freed[nx - (nv - k)] += v.job.request;
      }
    }
    return freed;
  };
  // The preemptor's standing once the chosen victims are gone.
  auto standing_after = [&](const Chosen& c) {
    const std::vector<Resources> freed = freed_inside(c);
    return standing_for(q, req, &freed);
  };
  // What is still missing, as a sum of fractions of each shortage; 0 means
  // the job fits (limits, lending and GPUs).
  auto gap = [&](const Chosen& c, std::uint32_t target) {
    double left = 0;
    auto freed_at = [&](ScopeId s) { return freed_in(c, s); };
    std::uint64_t needed = 0;
    for (std::size_t i : c.picked) needed |= requires_inside[i];
    if (needed == ~std::uint64_t{0}) return 1e18;  // some victim can never be justified
    if (needed) {
      const std::vector<Resources> freed = freed_inside(c);
      for (std::size_t i = 0; i < x_levels.size(); ++i) {
        if (!((needed >> i) & 1)) continue;
        const ScopeInfo& info = info_[x_levels[i]];
        for (Resource r : kAllResources)
          if (info.covers & (1u << static_cast<unsigned>(r))) {
            const Amount over = usage_[x_levels[i]].inside[r] - freed[i][r] + req[r] - info.cover[r];
            if (over > 0) left += static_cast<double>(over) / static_cast<double>(std::max<Amount>(1, req[r]));
          }
      }
    }
    for (const Deficit& d : deficits) {
      const Resources over = excess(d.scope, d.child, freed_at);
      for (Resource r : kAllResources)
        if (over[r] > 0) left += static_cast<double>(over[r]) / static_cast<double>(std::max<Amount>(1, req[r]));
    }
    if (node_short) left += node_gap(c, target);
    if (share_short) {
      auto freed_gpu = [&](FlatGpu f) -> Amount {
        for (const auto& [gpu, milli] : c.freed_gpus)
          if (gpu == f) return milli;
        return 0;
      };
      const Amount room = kMilliPerGpu - gpus_->used(target) + freed_gpu(target);
      if (room < g) left += static_cast<double>(g - room) / static_cast<double>(g);
    }
    if (whole_short) {
      // A half-emptied GPU counts as half a step, so that pairs of
      // fractional victims are found.
      auto have = static_cast<double>(gpus_->free_whole_gpus());
      for (const auto& [f, milli] : c.freed_gpus)
        have += milli >= gpus_->used(f) ? 1.0 : 0.5 * static_cast<double>(milli) / static_cast<double>(gpus_->used(f));
      if (have < static_cast<double>(need_gpus)) {
        Amount whole = gpus_->free_whole_gpus();
        for (const auto& [f, milli] : c.freed_gpus)
          if (milli >= gpus_->used(f)) ++whole;
        if (whole < static_cast<Amount>(need_gpus))
          left += (static_cast<double>(need_gpus) - have) / static_cast<double>(need_gpus) + 1e-6;
      } else {
        Amount whole = gpus_->free_whole_gpus();
        for (const auto& [f, milli] : c.freed_gpus)
          if (milli >= gpus_->used(f)) ++whole;
        if (whole < static_cast<Amount>(need_gpus)) left += 1e-6;
      }
    }
    return left;
  };
  const bool fair = !cluster_.fair_sharing.empty();
  auto all_justified = [&](const Chosen& c, std::uint64_t inside) {
    std::vector<const JobRecord*> victims;
    std::vector<Justification> why;
    for (std::size_t i : c.picked) {
      const std::optional<Justification> j = justify(rec, inside, *candidates[i]);
      if (!j) return false;
      if (fair) {
        victims.push_back(candidates[i]);
        why.push_back(*j);
      }
    }
    return !fair || fair_plan_holds(rec, victims, why, c.freed_scopes);
  };

  std::optional<Chosen> best;
  const std::vector<std::uint32_t> runs = targets.empty() ? std::vector<std::uint32_t>{0} : targets;
  // Few candidates: the exact answer. Sets by size, and among sets of one
  // size in the order of their members' preference ranks (lexicographic
  // over the sorted ranks): the first set that fits and is justified.
  // Not when only the node is short: the victims are then the target
  // node's, which the greedy search below takes per target.
  constexpr std::size_t kExact = 10;
  if (candidates.size() <= kExact && !(node_short && deficits.empty())) {
    const std::size_t n = candidates.size();
    for (std::size_t k = 1; k <= n && !best; ++k) {
      std::vector<std::size_t> idx(k);
      for (std::size_t i = 0; i < k; ++i) idx[i] = i;
      while (true) {
        Chosen trial = rebuild(idx);
        for (std::uint32_t target : runs)
          if (gap(trial, target) <= 1e-9 && all_justified(trial, standing_after(trial))) {
            trial.target = target;
            best = std::move(trial);
            break;
          }
        if (best) break;
        std::size_t i = k;
        while (i > 0 && idx[i - 1] == n - k + (i - 1)) --i;
        if (i == 0) break;
        ++idx[i - 1];
        for (std::size_t j = i; j < k; ++j) idx[j] = idx[j - 1] + 1;
      }
    }
    if (!best) return std::nullopt;
  }
  for (std::uint32_t target : best ? std::vector<std::uint32_t>{} : runs) {
    Chosen chosen;
    std::vector<char> taken(candidates.size(), 0);
    // Only limits need room elsewhere: without them, a victim off the target
    // node frees nothing the job can use (the exact search above still
    // tries every candidate).
    if (node_short && deficits.empty())
      for (std::size_t i = 0; i < candidates.size(); ++i) {
        bool here = candidates[i]->node == target;
        for (const GpuSlice& sl : candidates[i]->gpus) here |= sl.gpu.node == target;
        taken[i] = here ? 0 : 1;
      }
    double left = gap(chosen, target);
    constexpr double kEps = 1e-9;
    while (left > kEps) {
      if (best && chosen.picked.size() + 1 >= best->picked.size()) break;  // cannot beat the best
      std::size_t pick = candidates.size();
      double pick_gain = kEps;
      for (std::size_t i = 0; i < candidates.size(); ++i) {
        if (taken[i]) continue;
        const std::size_t scopes = chosen.freed_scopes.size(), gpus = chosen.freed_gpus.size();
        add(chosen, i);  // tried in place, undone at once: no copy per candidate
        const double after = gap(chosen, target);
        undo_last(chosen, scopes, gpus);
        if (after >= left - kEps) continue;  // frees nothing that blocks (or needs what it cannot get)
        const double gain = left - after;
        if (after <= kEps) {  // the most preferred candidate that completes the plan
          pick = i;
          break;
        }
        if (gain > pick_gain + kEps) {
          pick = i;
          pick_gain = gain;
        }
      }
      if (pick == candidates.size()) break;
      taken[pick] = 1;
      add(chosen, pick);
      left = gap(chosen, target);
    }
    if (left > kEps) continue;
    // Drop victims that turned out unnecessary, least preferred first, as
    // long as the rest still fit and stay justified.
    for (std::size_t k = chosen.picked.size(); k-- > 0 && chosen.picked.size() > 1;) {
      std::vector<std::size_t> rest = chosen.picked;
      rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(k));
      Chosen trial = rebuild(rest);
      if (gap(trial, target) <= kEps && all_justified(trial, standing_after(trial))) chosen = std::move(trial);
    }
    if (!all_justified(chosen, standing_after(chosen))) continue;
    chosen.target = target;
    if (!best || chosen.picked.size() < best->picked.size()) best = std::move(chosen);
  }
  if (!best) return std::nullopt;
  std::sort(best->picked.begin(), best->picked.end());  // preference order
  VictimPlan plan;
  plan.inside = standing_after(*best);
  plan.node = node_short ? best->target : kNone;
  for (std::size_t i : best->picked) {
    plan.victims.push_back(candidates[i]);
    plan.why.push_back(*justify(rec, plan.inside, *candidates[i]));
  }
  return plan;
}

std::optional<std::vector<Preemption>> Scheduler::plan_preemption(JobId pending) const {
  const JobRecord* rec = find_job(pending);
  if (!rec || rec->state != JobState::pending) return std::nullopt;
  std::optional<VictimPlan> plan = find_victims(*rec, 0);
  if (!plan) return std::nullopt;
  std::vector<Preemption> out;
  for (std::size_t i = 0; i < plan->victims.size(); ++i)
    out.push_back(make_preemption(*rec, *plan->victims[i], plan->why[i]));
  return out;
}

// ---- deciding -----------------------------------------------------------------------------------

void Scheduler::attempt(JobRecord& rec, Time now, Decision& out, SearchMemo& memo) {
  // A nominated job whose victims are gone: its reserved room goes back and
  // it is placed at once, so it takes the same room (and standing) again.
  const std::uint64_t reserved = rec.reserving ? rec.inside : 0;
  const bool was_nominated = rec.nominated;
  unreserve(rec);
  rec.inside = 0;
  if (try_admit(rec, now, out)) {
    // A preemptor placed on the room its victims made is never undone: its
    // preemptions are what paid for it.
    if (was_nominated) memo.paid.push_back(rec.job.id);
    if (!was_nominated) ++memo.placed;
    if (was_nominated || memo.claimants.empty()) return;
    // Placed on free room: would a claimant that failed earlier in this
    // pass take it back at once? Then the room waits for the claimant.
    constexpr std::size_t kClaimantsChecked = 1;
    for (std::size_t i = 0; i < memo.claimants.size() && i < kClaimantsChecked; ++i) {
      const JobRecord* claimant = find_job(memo.claimants[i]);
      if (!claimant || claimant->state != JobState::pending || claimant->nominated) continue;
      const std::optional<VictimPlan> plan = find_victims(*claimant, 0);
      if (!plan || std::find(plan->victims.begin(), plan->victims.end(), &rec) == plan->victims.end()) continue;
      // A fair-share claim may exist only because this job raised its
      // sibling's share: it is not room the claimant had, so the job stays.
      if (std::any_of(plan->why.begin(), plan->why.end(),
                      [](const Justification& j) { return j.rule == PreemptionReason::fair_share; }))
        continue;
      out.admitted.pop_back();
      stop_running(rec);
      rec.pass = 0;
      enqueue(rec);
      upgrade_waiting();
      return;
    }
    return;
  }
  const std::vector<ScopeId>& levels = levels_of_queue_[rec.job.queue];
  for (std::size_t i = 0; i < levels.size(); ++i)
    if (((reserved >> i) & 1) && !room_grew_flag_[levels[i]]) {
      room_grew_flag_[levels[i]] = 1;
      room_grew_.push_back(levels[i]);
    }
  if (!may_preempt(rec) || all_cordoned()) return;
  if (memo.epoch != epoch_) {
    memo.failed.clear();
    memo.epoch = epoch_;
  }
  const Resources& req = rec.job.request;
  for (const FailedSearch& f : memo.failed)
    if (f.queue == rec.job.queue && f.priority == rec.priority &&
        is_whole(f.request.gpu_milli) == is_whole(req.gpu_milli) && req.gpu_milli >= f.request.gpu_milli &&
        req.cpu_milli >= f.request.cpu_milli && req.memory_mib >= f.request.memory_mib)
      return;
  std::optional<VictimPlan> plan = find_victims(rec, pass_);
  if (!plan) {
    // Jobs placed earlier in this pass have not started yet: if the claim
    // needs them, they are simply not started (they stay pending), and the
    // claim is tried again without them.
    std::optional<VictimPlan> with_new = memo.placed > 0 ? find_victims(rec, 0) : std::nullopt;
    // A fair-share plan may exist only because the jobs placed in this pass
    // raised a sibling's share; without them it would not: they stay.
    if (with_new && std::any_of(with_new->why.begin(), with_new->why.end(),
                                [](const Justification& j) { return j.rule == PreemptionReason::fair_share; }))
      with_new.reset();
    if (with_new) {
      bool revoked = false;
      for (const JobRecord* v : with_new->victims) {
        if (v->pass != pass_ || std::find(memo.paid.begin(), memo.paid.end(), v->job.id) != memo.paid.end()) continue;
        JobRecord& placed = at_job(v->job.id);
        const auto it = std::find_if(out.admitted.begin(), out.admitted.end(),
                                     [&](const Admission& a) { return a.job == placed.job.id; });
        if (it == out.admitted.end()) continue;
        out.admitted.erase(it);
        stop_running(placed);
        placed.pass = 0;
        enqueue(placed);
        revoked = true;
      }
      if (revoked) {
        upgrade_waiting();
        if (try_admit(rec, now, out)) return;
        plan = find_victims(rec, pass_);
      }
    }
  }
  if (!plan) {
    memo.failed.push_back({rec.job.queue, rec.priority, req});
    memo.claimants.push_back(rec.job.id);
    return;
  }
  for (std::size_t i = 0; i < plan->victims.size(); ++i) {
    JobRecord& victim = at_job(plan->victims[i]->job.id);
    out.preempted.push_back(make_preemption(rec, victim, plan->why[i]));
    drop_standing(victim);
    victim.state = JobState::terminating;
    for (ScopeId sc = victim.job.queue; sc != kNone; sc = info_[sc].parent) usage_[sc].leaving += victim.job.request;
    refresh_kept(victim.job.queue);
    victim.preempted = true;
    victim.preemptor = rec.job.id;
  }
  ready_nominated_.erase(rec.key());
  rec.nominated = true;
  rec.awaiting_victims = static_cast<std::uint32_t>(plan->victims.size());
  rec.reserving = true;
  add_reserved(rec.job.queue, req);
  rec.inside = plan->inside;
  for (std::size_t i = 0; i < levels.size(); ++i)
    if ((plan->inside >> i) & 1) usage_[levels[i]].inside += req;
  // The plan counts on GPUs that are free now as well as on the victims':
  // hold those too, so that nobody else is placed on them meanwhile.
  std::vector<std::pair<FlatGpu, Amount>> freed;
  for (const JobRecord* v : plan->victims)
    for (const GpuSlice& sl : v->gpus) {
      const FlatGpu f = topology_->flat(sl.gpu);
      auto it = std::find_if(freed.begin(), freed.end(), [&](const auto& e) { return e.first == f; });
      if (it == freed.end())
        freed.emplace_back(f, sl.milli);
      else
        it->second += sl.milli;
    }
  const Amount g = req.gpu_milli;
  if (g > 0 && is_whole(g)) {
    Amount whole = 0;
    for (const auto& [f, milli] : freed)
      if (milli >= gpus_->used(f)) {
        ++whole;
        // It will be empty once the victims are gone: keep new shares off
        // the room it has left meanwhile.
        if (const Amount room = kMilliPerGpu - gpus_->used(f); room > 0) {
          const std::vector<GpuSlice> slice{{topology_->ref(f), room}};
          gpus_->take(slice);
          rec.held.insert(rec.held.end(), slice.begin(), slice.end());
        }
      }
    const Amount extra = g / kMilliPerGpu - whole;
    if (extra > 0 && plan->node != kNone) {
      // One node holds the request: the free GPUs it counts on are there.
      std::vector<GpuSlice> slices;
      for (std::uint64_t bits = gpus_->free_mask(plan->node); bits != 0 && static_cast<Amount>(slices.size()) < extra;
           bits &= bits - 1)
        slices.push_back({{plan->node, static_cast<std::uint32_t>(std::countr_zero(bits))}, kMilliPerGpu});
      gpus_->take(slices);
      rec.held.insert(rec.held.end(), slices.begin(), slices.end());
    } else if (extra > 0) {
      if (auto slices = gpus_->place_whole(static_cast<std::uint32_t>(extra), own_group(rec.job.queue),
                                           group_rank_[rec.job.queue])) {
        gpus_->take(*slices);
        rec.held.insert(rec.held.end(), slices->begin(), slices->end());
      }
    }
  } else if (g > 0) {
    bool enough = false;
    for (const auto& [f, milli] : freed) enough |= kMilliPerGpu - gpus_->used(f) + milli >= g;
    for (const auto& [f, milli] : freed)
      if (const Amount room = kMilliPerGpu - gpus_->used(f); !enough || room + milli >= g) {
        if (room + milli >= g && room > 0) {
          const std::vector<GpuSlice> slice{{topology_->ref(f), std::min(room, g)}};
          gpus_->take(slice);
          rec.held.insert(rec.held.end(), slice.begin(), slice.end());
        }
        if (room + milli >= g) break;
      }
  }
  ++epoch_;
}

Preemption Scheduler::make_preemption(const JobRecord& preemptor, const JobRecord& victim,
                                      const Justification& why) const {
  const Scope& vq = cluster_.scopes[victim.job.queue];
  Preemption p;
  p.victim = victim.job.id;
  p.preemptor = preemptor.job.id;
  p.reason = why.rule;
  p.claim_scope = why.claim_scope;
  p.victim_scope = why.victim_scope;
  p.grace_period_ms = vq.queue.grace_period_ms;
  p.on_preempt = vq.queue.on_preempt;
  auto name = [&](ScopeId s) { return s == kNone ? std::string("?") : "`" + cluster_.scopes[s].name + "`"; };
  auto klass = [&](const JobRecord& j) {
    return j.priority == kNone ? "priority " + std::to_string(j.priority_value)
                               : "class `" + cluster_.priorities[j.priority].name + "`";
  };
  std::string text = "job " + std::to_string(victim.job.id) + " (" + name(victim.job.queue) +
                     ") is preempted for job " + std::to_string(preemptor.job.id) + " (" + name(preemptor.job.queue) +
                     ") by R" + std::to_string(rule_number(why.rule)) + " (" + to_string(why.rule) + "): ";
  switch (why.rule) {
    case PreemptionReason::child_preemption:
      text += name(why.claim_scope) + " has child_preemption, and its own job takes room from its sub-quota " +
              name(why.victim_scope);
      break;
    case PreemptionReason::reclaim_guarantee:
      text += name(why.claim_scope) + " takes back its guarantee from " + name(why.victim_scope) +
              ", which borrows beyond its own";
      break;
    case PreemptionReason::priority:
      text += klass(preemptor) + " preempts " + klass(victim) + " in queue " + name(why.claim_scope);
      break;
    case PreemptionReason::borrow_within:
      text += name(why.claim_scope) + " borrows with " + klass(preemptor) + " and takes borrowed work of " +
              name(why.victim_scope) + " at " + klass(victim);
      break;
    case PreemptionReason::fair_share: {
      const Resources leaving = why.victim_scope == kNone ? Resources{} : usage_[why.victim_scope].leaving;
      text += name(why.claim_scope) + " has fair share " +
              std::to_string(fair_share(why.claim_scope, committed(why.claim_scope) + preemptor.job.request)) +
              " with this job, below the share " +
              std::to_string(fair_share(why.victim_scope, committed(why.victim_scope) + leaving)) + " of " +
              name(why.victim_scope) + ", which borrows beyond its guarantee";
      break;
    }
  }
  p.message = std::move(text);
  return p;
}

}  // namespace allot::runtime

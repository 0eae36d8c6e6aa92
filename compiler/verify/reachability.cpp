#include "compiler/verify/reachability.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <unordered_map>

#include "compiler/sema/model_queries.h"
#include "compiler/verify/reachability_facts.h"

namespace allot::verify {

using namespace model;
using namespace smt;

std::string usage_var(const Scope& scope) { return "u/" + scope.path; }

std::optional<std::uint32_t> variable_index(const Obligation& obligation, NodeId term) {
  if (term >= obligation.nodes().size()) return std::nullopt;
  const Node& node = obligation.nodes()[term];
  if (node.kind != NodeKind::variable) return std::nullopt;
  return static_cast<std::uint32_t>(node.value);
}
std::string nonpreemptible_var(const Scope& scope) { return "n/" + scope.path; }

namespace reach {
namespace {

void collect(const Policy& policy, Index x, std::vector<Index>& out, int depth = 0) {
  out.push_back(x);
  if (depth > 1000) return;
  for (Index c : policy.scopes[x].children) {
    if (c < policy.scopes.size()) collect(policy, c, out, depth + 1);
  }
}

}  // namespace

// ---- the native argument ------------------------------------------------------
//
// Contract. For one pool and resource, `Facts::lemma[y]` implies, for every
// state satisfying the encoding's constraints (below): if u_y < g_y then
// supply(y) >= g_y - u_y. So a claim of `x` with lemma[x] has an
// unsatisfiable negated property (u_x < g_x and supply(x) < g_x - u_x): it is
// proved without the solver. An own-work claim of `x` (usage own(x), supply
// sum_c (u_c - n_c) + min(lim_x - u_x, supply(x))) is proved the same way
// when moreover (L) holds for x and none of x's children can hold
// non-preemptible work at all (max_nonpreemptible(c) = 0): the parent's own
// jobs are owed its whole guarantee and may not take back even
// non-preemptible work within a child's guarantee, so (N) is not enough.
//
// The encoding, for a scope a with children C(a): own(a) = u_a - sum_C u_c >= 0,
// u_a <= lim_a, 0 <= n_c <= u_c, n_c <= max_nonpreemptible(c);
//   reclaim(a, x) = sum_{c in C(a), c != x} max(0, u_c - max(g_c, n_c))
//                   + max(0, own(a) - max(0, g_a - sum_C g_c)),
//   supply(x)     = reclaim(p, x) + min(lim_p - u_p, supply(p))  (p the parent),
//   supply(root)  = cap - u_root - others   (or a huge constant when unbounded),
// with u_root + others <= cap, others <= others_max (the other roots'
// unreclaimable usage) and cap >= all_g when the capacity is not known.
//
// Conditions, checked here in one pass over the pool's trees (nothing is
// assumed from the structural checks, which may not have run):
//   (N) "no borrowing non-preemptible work": max_nonpreemptible(c) <= g_c for
//       each sibling c of the path, so max(g_c, n_c) = g_c;
//   (G) sum_{c in C(p)} g_c <= g_p for each ancestor p (invariant 1);
//   (L) g_p <= lim_p for each ancestor p (its effective limit, or cap);
//   (R) at the root: cap - others_max >= g_root (invariant 2 with the other
//       roots' unreclaimable usage; vacuous for an unbounded capacity).
//
// Why. First, supply(y) >= 0 always: supply(root) >= 0 by u_root + others
// <= cap, and each step adds reclaim >= 0 to min(lim_p - u_p >= 0,
// supply(p) >= 0). Now induction from the root down.
//   Root: supply(root) >= cap - others_max - u_root >= g_root - u_root by (R).
//   Step (x with parent p): by (N) and max(0, z) >= z,
//     reclaim(p, x) >= sum_{c != x} (u_c - g_c) + own(p) - share(p)
//                    = u_p - u_x - (sum_C g_c - g_x + share(p))
//                    = (g_x - u_x) - (g_p - u_p)            using (G).
//   If u_p >= g_p, reclaim alone covers g_x - u_x and the min term is >= 0.
//   If u_p < g_p, the hypothesis for p gives supply(p) >= g_p - u_p, and (L)
//   gives lim_p - u_p >= g_p - u_p; so the min term is >= g_p - u_p and the
//   sum is >= g_x - u_x.
//   Own work of x: with n_c = 0 for all children, sum_c (u_c - n_c) =
//   u_x - own(x). If u_x >= g_x that is >= g_x - own(x) and the min term is
//   >= 0; otherwise lemma[x] and (L) for x make the min term >= g_x - u_x,
//   and the sum is >= g_x - own(x).
// Hence lemma[root] = (R) and lemma[y] = lemma[p] && (G)(p) && (L)(p) &&
// (N) for the other children of p: linear in the size of the trees. When all
// scopes' non-preemptible capacity is within their guarantees (and the
// guarantees nest) this holds for every claim but own-work claims over
// children with non-preemptible queues; a queue that can borrow
// non-preemptible capacity sends only the claims beside its ancestors to the
// solver.

Facts compute_facts(const Policy& policy, Index p, Index r, const std::vector<Index>& roots) {
  Facts f(policy, p, r);
  const std::size_t n = policy.scopes.size();
  f.roots = roots;
  f.capacity = pool_capacity(policy, p, r);
  for (Index x : pool_frontier(policy, p, r)) f.all_g += guarantee_of(policy, x, r);
  for (Index x = 0; x < n; ++x) {
    if (const Bound* b = bound_of(policy, x, r)) f.big += b->guarantee + b->limit.value_or(0);
  }
  f.big += f.capacity.amount;
  for (Index root : roots) collect(policy, root, f.order);
  f.position.assign(n, 0);
  f.limit.assign(n, std::nullopt);
  f.g.assign(n, 0);
  f.cover.assign(n, 0);
  f.maxnp.assign(n, 0);
  f.saturated.assign(n, 0);
  f.saturable.assign(n, 1);
  f.lemma.assign(n, 0);
  f.own_ok.assign(n, 0);
  const std::optional<Amount> pool_limit =
      f.capacity.known && !f.capacity.unbounded ? std::optional<Amount>(f.capacity.amount) : std::nullopt;
  // Top-down: effective limits (parents come before children in `order`).
  for (std::uint32_t i = 0; i < f.order.size(); ++i) {
    const Index x = f.order[i];
    f.position[x] = i;
    f.g[x] = guarantee_of(policy, x, r);
    const Bound* b = bound_of(policy, x, r);
    const Index parent = policy.scopes[x].parent;
    if (b && b->limit) {
      f.limit[x] = b->limit;
    } else {
      f.limit[x] = parent == kNone ? pool_limit : f.limit[parent];
    }
  }
  // Bottom-up: what each scope covers, non-preemptible capacity and saturation.
  for (std::size_t i = f.order.size(); i-- > 0;) {
    const Index x = f.order[i];
    if (bound_of(policy, x, r)) {
      f.cover[x] = f.g[x];
    } else {
      for (Index c : policy.scopes[x].children)
        if (c < n) f.cover[x] += f.cover[c];
    }
    const Scope& s = policy.scopes[x];
    const std::optional<Amount>& lim = f.limit[x];
    Amount total = 0, sat = 0;
    bool fits = true;
    if (is_nonpreemptible_queue(s)) {
      total = sat = lim ? *lim : kUnbounded;
    } else {
      for (Index c : s.children) {
        if (c >= n) continue;
        total = (total == kUnbounded || f.maxnp[c] == kUnbounded) ? kUnbounded : total + f.maxnp[c];
        sat = (sat == kUnbounded || f.saturated[c] == kUnbounded) ? kUnbounded : sat + f.saturated[c];
        fits = fits && f.saturable[c];
      }
    }
    if (lim && (total == kUnbounded || total > *lim)) total = *lim;
    if (lim && sat != kUnbounded && sat > *lim) fits = false;
    f.maxnp[x] = total;
    f.saturated[x] = sat;
    f.saturable[x] = fits && sat != kUnbounded;
  }
  for (Index root : roots) {
    const Amount u = f.unreclaimable(root);
    if (u == kUnbounded) {
      ++f.others_unbounded;
    } else {
      f.others_all += u;
    }
  }
  // Top-down: the native argument.
  auto borrows = [&](Index c) { return f.maxnp[c] == kUnbounded || f.maxnp[c] > f.g[c]; };
  for (Index x : f.order) {
    const Scope& s = policy.scopes[x];
    Amount children_g = 0;
    // Under child_preemption the parent's own jobs (its non-quota children)
    // are not reclaimed by its sub-quotas, and the sub-quotas' claims hold
    // while those jobs stay within the parent's uncarved share (R1 in
    // docs/scheduling.md): for a sub-quota's claim only the other
    // sub-quotas count as siblings, and only they can hold work the parent's
    // own claim cannot take.
    const bool parent_first = s.kind == ScopeKind::quota && s.child_preemption;
    std::size_t borrowing = 0, borrowing_quotas = 0, nonpreemptible = 0;
    for (Index c : s.children) {
      if (c >= n) continue;
      const bool quota = policy.scopes[c].kind == ScopeKind::quota;
      children_g += f.g[c];
      if (borrows(c)) ++borrowing, borrowing_quotas += quota;
      if (f.maxnp[c] != 0 && (!parent_first || quota)) ++nonpreemptible;
    }
    const bool nested = children_g <= f.g[x] && f.fits_limit(x);  // (G) and (L)
    if (s.parent == kNone) {
      bool root_ok = f.others_bounded(x);
      if (root_ok && !f.capacity.unbounded) {
        const Amount cap = f.capacity.known ? f.capacity.amount : f.all_g;
        root_ok = cap - (roots.size() > 1 ? f.others_max(x) : 0) >= f.g[x];
      }
      f.lemma[x] = root_ok;
    }
    f.own_ok[x] = f.lemma[x] && f.fits_limit(x) && nonpreemptible == 0;
    for (Index c : s.children) {
      if (c >= n) continue;
      const bool quota = policy.scopes[c].kind == ScopeKind::quota;
      const std::size_t others = parent_first && quota ? borrowing_quotas : borrowing;
      f.lemma[c] =
          f.lemma[x] && nested && others == (borrows(c) ? 1 : 0) && policy.scopes[c].reclaim == ReclaimPolicy::any;
    }
  }
  return f;
}

bool proved_natively(const Facts& f, const Claim& claim) {
  return claim.own_work ? f.own_ok[claim.scope] != 0 : f.lemma[claim.scope] != 0;
}

// ---- encodings ------------------------------------------------------------------

namespace {

// The terms both encodings share; `u`, `n` and `lim` are filled in for the
// scopes an encoding has variables for.
struct Encoding {
  Obligation& o;
  const Facts& f;
  std::unordered_map<Index, NodeId> u, n, lim;
  std::vector<NodeId> usages;
  std::vector<NodeId> saturate;
  bool saturable = true;
  NodeId cap = 0, others = 0, big = 0;

  bool honor_reclaim = true;  // false: as if every scope had `reclaim = any`
  Encoding(Obligation& obligation, const Facts& facts) : o(obligation), f(facts) {}
  const Policy& policy() const { return f.policy; }

  NodeId limit_of(Index x, NodeId parent_lim) {
    const Bound* b = bound_of(policy(), x, f.r);
    return b && b->limit ? o.constant(*b->limit) : parent_lim;
  }

  // The reference encoding: every scope of x's subtree.
  void encode_full(Index x, NodeId parent_lim) {
    const Scope& s = policy().scopes[x];
    const NodeId ux = u[x] = o.var(usage_var(s));
    usages.push_back(ux);
    const NodeId lx = lim[x] = limit_of(x, parent_lim);
    o.require(o.le(ux, lx));
    std::vector<NodeId> child_u, child_n;
    for (Index c : s.children) {
      if (c >= policy().scopes.size()) continue;
      encode_full(c, lx);
      child_u.push_back(u[c]);
      child_n.push_back(n[c]);
    }
    if (!child_u.empty()) o.require(o.le(o.add(child_u), ux));
    if (f.maxnp[x] == 0) {
      n[x] = o.constant(0);
    } else {
      const NodeId nx = n[x] = o.var(nonpreemptible_var(s));
      o.require(o.eq(nx, is_nonpreemptible_queue(s) ? ux : o.add(child_n)));
      if (is_nonpreemptible_queue(s)) saturate.push_back(o.eq(ux, lx));
    }
  }

  // A subtree as two variables: 0 <= n_c <= u_c <= lim_c, n_c bounded by the
  // subtree's non-preemptible capacity (equal to u_c for a non-preemptible
  // queue, 0 without any). Exact: scopes may hold usage of their own, so any
  // such pair is the usage of some state of the subtree.
  void summarize(Index c, NodeId parent_lim) {
    const Scope& s = policy().scopes[c];
    const NodeId uc = u[c] = o.var(usage_var(s));
    usages.push_back(uc);
    const NodeId lc = lim[c] = limit_of(c, parent_lim);
    o.require(o.le(uc, lc));
    const Amount m = f.maxnp[c];
    if (m == 0) {
      n[c] = o.constant(0);
      return;
    }
    const NodeId nc = n[c] = o.var(nonpreemptible_var(s));
    usages.push_back(nc);
    o.require(o.le(nc, uc));
    if (is_nonpreemptible_queue(s)) o.require(o.eq(nc, uc));
    if (m != kUnbounded) o.require(o.le(nc, o.constant(m)));
    // Its non-preemptible queues at their limits.
    if (!f.saturable[c]) {
      saturable = false;
    } else {
      saturate.push_back(o.eq(nc, o.constant(f.saturated[c])));
    }
  }

  // The path from x to its root, with every subtree off it summarised; for
  // own-work claims also x's children. The claimant's own subtree needs only
  // u_x (with its non-preemptible queues at their limits for the nicer
  // counterexample).
  void encode_path(Index x, bool own_work) {
    std::vector<Index> path;
    for (Index y = x; y != kNone; y = policy().scopes[y].parent) path.push_back(y);
    std::reverse(path.begin(), path.end());
    const Index root = path.front();
    u[root] = o.var(usage_var(policy().scopes[root]));
    usages.push_back(u[root]);
    lim[root] = limit_of(root, cap);
    o.require(o.le(u[root], lim[root]));
    auto children_within = [&](Index p) {
      std::vector<NodeId> child_u;
      for (Index c : policy().scopes[p].children) {
        if (c < policy().scopes.size()) child_u.push_back(u[c]);
      }
      if (!child_u.empty()) o.require(o.le(o.add(child_u), u[p]));
    };
    for (std::size_t i = 0; i + 1 < path.size(); ++i) {
      const Index p = path[i], next = path[i + 1];
      for (Index c : policy().scopes[p].children) {
        if (c >= policy().scopes.size()) continue;
        if (c != next) {
          summarize(c, lim[p]);
          continue;
        }
        u[c] = o.var(usage_var(policy().scopes[c]));
        usages.push_back(u[c]);
        lim[c] = limit_of(c, lim[p]);
        o.require(o.le(u[c], lim[c]));
      }
      children_within(p);
    }
    if (own_work) {
      for (Index c : policy().scopes[x].children) {
        if (c < policy().scopes.size()) summarize(c, lim[x]);
      }
      children_within(x);
    } else if (f.saturated[x] != 0) {
      if (!f.saturable[x]) {
        saturable = false;
      } else {
        saturate.push_back(o.le(o.constant(f.saturated[x]), u[x]));
      }
    }
  }

  // Own usage of a scope: its usage less its children's.
  NodeId own(Index x) {
    std::vector<NodeId> child_u;
    for (Index c : policy().scopes[x].children) child_u.push_back(u.at(c));
    return o.sub(u.at(x), o.add(child_u));
  }

  // What can be reclaimed inside `a` from everything but `except`: borrowed,
  // preemptible usage of the other children, and the parent's own jobs above
  // their share.
  //
  // R2 as the runtime applies it: `except` reclaims only with `reclaim =
  // any` (`lower_priority` depends on the jobs' classes, which a usage state
  // does not fix, so the proof counts on nothing from it), and a sub-quota
  // of a quota with child_preemption never takes the parent's own jobs.
  NodeId reclaim(Index a, Index except) {
    if (honor_reclaim && policy().scopes[except].reclaim != ReclaimPolicy::any) return o.constant(0);
    const bool parent_first = policy().scopes[a].kind == ScopeKind::quota && policy().scopes[a].child_preemption &&
                              policy().scopes[except].kind == ScopeKind::quota;
    std::vector<NodeId> parts;
    Amount children_g = 0;
    for (Index c : policy().scopes[a].children) {
      const Amount g = guarantee_of(policy(), c, f.r);
      children_g += g;
      if (c == except || (parent_first && policy().scopes[c].kind != ScopeKind::quota)) continue;
      parts.push_back(o.max(o.constant(0), o.sub(u.at(c), o.max(o.constant(g), n.at(c)))));
    }
    const Amount own_g = std::max<Amount>(0, guarantee_of(policy(), a, f.r) - children_g);
    if (!parent_first) parts.push_back(o.max(o.constant(0), o.sub(own(a), o.constant(own_g))));
    if (parts.empty()) return o.constant(0);
    return o.add(parts);
  }

  // Room from above without reclaiming: idle capacity under every limit.
  NodeId idle(Index x) {
    const Index parent = policy().scopes[x].parent;
    if (parent == kNone) return f.capacity.unbounded ? big : o.sub(o.sub(cap, u.at(x)), others);
    return o.min(o.sub(lim.at(parent), u.at(parent)), idle(parent));
  }

  // What the subtree of `x` can still obtain from above it. The parent's
  // own siblings are reclaimed from only while the parent is below its
  // guarantee (a job claims at a level only when that level's guarantee
  // covers it); otherwise only idle room comes from above it.
  NodeId supply(Index x) {
    const Index parent = policy().scopes[x].parent;
    if (parent == kNone) return f.capacity.unbounded ? big : o.sub(o.sub(cap, u.at(x)), others);
    const Amount gp = f.cover[parent];
    const NodeId above =
        gp > 0 ? o.ite(o.lt(u.at(parent), o.constant(gp)), supply(parent), idle(parent)) : idle(parent);
    return o.add(reclaim(parent, x), o.min(o.sub(lim.at(parent), u.at(parent)), above));
  }

  // For a claim through a sub-quota of a quota with child_preemption: the
  // parent's own jobs stay within the part of its guarantee not carved
  // into sub-quotas (the condition under which sub-quotas' guarantees hold).
  void parent_first_conditions(Index x) {
    for (Index c = x, p = policy().scopes[x].parent; p != kNone; c = p, p = policy().scopes[p].parent) {
      const Scope& ps = policy().scopes[p];
      if (ps.kind != ScopeKind::quota || !ps.child_preemption || policy().scopes[c].kind != ScopeKind::quota) continue;
      Amount carved = 0;
      std::vector<NodeId> quotas;
      for (Index k : ps.children)
        if (policy().scopes[k].kind == ScopeKind::quota) {
          carved += guarantee_of(policy(), k, f.r);
          quotas.push_back(u.at(k));
        }
      const NodeId own_total = quotas.empty() ? u.at(p) : o.sub(u.at(p), o.add(quotas));
      o.require(o.le(own_total, o.constant(std::max<Amount>(0, guarantee_of(policy(), p, f.r) - carved))));
    }
  }
};

}  // namespace

ReachabilityQuery encode_claim(const Facts& f, const Claim& claim, Index root, bool full, bool honor_reclaim) {
  const Policy& policy = f.policy;
  const Index r = f.r;
  ReachabilityQuery q;
  q.claim = claim;
  q.pool = f.pool;
  Obligation& o = q.obligation;
  Encoding e(o, f);
  e.honor_reclaim = honor_reclaim;
  e.big = o.constant(f.big);
  if (f.capacity.unbounded) {
    e.cap = e.big;
  } else if (f.capacity.known) {
    e.cap = o.constant(f.capacity.amount);
  } else {
    e.cap = o.var("cap", f.all_g);
  }
  const bool several = f.roots.size() > 1;
  e.others = several ? o.var("others") : o.constant(0);
  if (several && f.others_bounded(root)) o.require(o.le(e.others, o.constant(f.others_max(root))));
  const Index x = claim.scope;
  if (full) {
    e.encode_full(root, e.cap);
  } else {
    e.encode_path(x, claim.own_work);
  }
  o.require(o.le(o.add(e.u.at(root), e.others), e.cap));
  const NodeId g = o.constant(claim.guarantee);
  e.parent_first_conditions(x);
  if (!claim.own_work) {
    q.usage = e.u.at(x);
    q.supply = e.supply(x);
  } else {
    // The parent's own jobs: its direct usage and its non-quota children's
    // (the workspaces bound to it), against its sub-quotas' preemptible work.
    std::vector<NodeId> quotas, preemptible;
    for (Index c : policy.scopes[x].children)
      if (policy.scopes[c].kind == ScopeKind::quota) {
        quotas.push_back(e.u.at(c));
        preemptible.push_back(o.sub(e.u.at(c), e.n.at(c)));
      }
    q.usage = quotas.empty() ? e.u.at(x) : o.sub(e.u.at(x), o.add(quotas));
    const NodeId rest = o.min(o.sub(e.lim.at(x), e.u.at(x)), e.supply(x));
    q.supply = preemptible.empty() ? rest : o.add(o.add(preemptible), rest);
  }
  // The negated property: the claimant is below its guarantee and cannot get
  // the rest.
  o.require(o.lt(q.usage, g));
  o.require(o.lt(q.supply, o.sub(g, q.usage)));
  o.ranges.push_back(bound_range(policy, x, r));
  q.usages = std::move(e.usages);
  q.usage_term = std::move(e.u);
  q.nonpreemptible_term = std::move(e.n);
  q.others_term = e.others;
  q.cap_term = e.cap;
  if (e.saturable) q.saturate = std::move(e.saturate);
  const bool memory = r < policy.resources.size() ? policy.resources[r].kind == ResourceKind::memory : r == kMemory;
  q.unit = memory ? 1024 : 1000;
  return q;
}

void for_each_claim(const Policy& policy, const ReachabilityBuild& how,
                    const std::function<void(const Facts&, ReachabilityQuery&)>& visit,
                    const std::function<bool(const Facts&, const Claim&)>& settle) {
  std::size_t resources = policy.resources.size();
  for (const Scope& s : policy.scopes) resources = std::max(resources, s.bounds.size());
  for (Index p = 0; p < policy.pools.size(); ++p) {
    const std::vector<Index> roots = pool_roots(policy, p);
    if (roots.empty()) continue;
    for (Index r = 0; r < resources; ++r) {
      bool any = false;
      for (Index x = 0; x < policy.scopes.size() && !any; ++x)
        any = policy.scopes[x].pool == p && guarantee_of(policy, x, r) > 0;
      if (!any) continue;
      const Facts f = compute_facts(policy, p, r, roots);
      for (Index root : roots) {
        const std::uint32_t begin = f.position[root];
        for (std::uint32_t i = begin; i < f.order.size(); ++i) {
          const Index x = f.order[i];
          if (i != begin && policy.scopes[x].parent == kNone) break;  // the next root
          const Amount g = f.g[x];
          if (g <= 0) continue;
          for (int own = 0; own < 2; ++own) {
            if (own == 1 && !(policy.scopes[x].child_preemption && !policy.scopes[x].children.empty())) continue;
            const Claim claim{x, r, own == 1, g};
            if (proved_natively(f, claim)) {
              ReachabilityQuery q;
              if (how.include_proved) q = encode_claim(f, claim, root, how.full);
              q.claim = claim;
              q.pool = p;
              q.proved_natively = true;
              visit(f, q);
            } else {
              if (settle && settle(f, claim)) continue;
              ReachabilityQuery q = encode_claim(f, claim, root, how.full);
              visit(f, q);
            }
          }
        }
      }
    }
  }
}

}  // namespace reach

std::vector<ReachabilityQuery> build_reachability_queries(const Policy& policy, const ReachabilityBuild& how) {
  std::vector<ReachabilityQuery> queries;
  reach::for_each_claim(policy, how, [&](const reach::Facts&, ReachabilityQuery& q) {
    if (!q.proved_natively || how.include_proved) queries.push_back(std::move(q));
  });
  return queries;
}

}  // namespace allot::verify

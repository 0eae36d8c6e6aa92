#include "compiler/verify/reachability.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "compiler/verify/common.h"
#include "compiler/verify/verify.h"

namespace allot::verify {

using namespace model;

std::string usage_var(const Scope& scope) { return "u/" + scope.path; }
std::string nonpreemptible_var(const Scope& scope) { return "n/" + scope.path; }

namespace {

constexpr Amount kUnbounded = -1;

bool is_nonpreemptible_queue(const Scope& s) { return s.kind == ScopeKind::queue && !s.preemptible; }

// The most a subtree can hold in non-preemptible queues (kUnbounded: no
// limit applies).
Amount max_nonpreemptible(const Policy& policy, Index x, Index r, int depth = 0) {
  const Scope& s = policy.scopes[x];
  const std::optional<Amount> limit = effective_limit(policy, x, r);
  Amount total = 0;
  if (is_nonpreemptible_queue(s)) {
    total = limit ? *limit : kUnbounded;
  } else if (depth < 1000) {
    for (Index c : s.children) {
      if (c >= policy.scopes.size()) continue;
      const Amount m = max_nonpreemptible(policy, c, r, depth + 1);
      if (m == kUnbounded) {
        total = kUnbounded;
        break;
      }
      total += m;
    }
  }
  if (limit && (total == kUnbounded || total > *limit)) total = *limit;
  return total;
}

// What a root can hold that nobody may reclaim: up to its guarantee, and its
// non-preemptible work beyond that.
Amount unreclaimable(const Policy& policy, Index root, Index r) {
  const Amount m = max_nonpreemptible(policy, root, r);
  const std::optional<Amount> limit = effective_limit(policy, root, r);
  if (m == kUnbounded) return limit ? *limit : kUnbounded;
  Amount u = std::max(guarantee_of(policy, root, r), m);
  if (limit) u = std::min(u, *limit);
  return u;
}

struct Encoding {
  Obligation& o;
  const Policy& policy;
  Index r;
  std::vector<NodeId> u, n, lim;  // by scope index (only the subtree's)
  std::vector<NodeId> usages;
  std::vector<std::pair<NodeId, NodeId>> saturate;
  NodeId cap = 0, others = 0;
  bool unbounded = false;
  NodeId big = 0;

  void encode(Index x, NodeId parent_lim) {
    const Scope& s = policy.scopes[x];
    u[x] = o.var(usage_var(s));
    usages.push_back(u[x]);
    const Bound* b = bound_of(policy, x, r);
    lim[x] = b && b->limit ? o.constant(*b->limit) : parent_lim;
    o.require(o.le(u[x], lim[x]));
    std::vector<NodeId> child_u, child_n;
    for (Index c : s.children) {
      if (c >= policy.scopes.size()) continue;
      encode(c, lim[x]);
      child_u.push_back(u[c]);
      child_n.push_back(n[c]);
    }
    if (!child_u.empty()) o.require(o.le(o.add(child_u), u[x]));
    if (max_nonpreemptible(policy, x, r) == 0) {
      n[x] = o.constant(0);
    } else {
      n[x] = o.var(nonpreemptible_var(s));
      o.require(o.eq(n[x], is_nonpreemptible_queue(s) ? u[x] : o.add(child_n)));
      if (is_nonpreemptible_queue(s)) saturate.emplace_back(u[x], lim[x]);
    }
  }

  // Own usage of a scope: its usage less its children's.
  NodeId own(Index x) {
    std::vector<NodeId> child_u;
    for (Index c : policy.scopes[x].children) child_u.push_back(u[c]);
    return o.sub(u[x], o.add(child_u));
  }

  // What can be reclaimed inside `a` from everything but `except`: borrowed,
  // preemptible usage of the other children, and the parent's own jobs above
  // their share.
  NodeId reclaim(Index a, Index except) {
    std::vector<NodeId> parts;
    Amount children_g = 0;
    for (Index c : policy.scopes[a].children) {
      const Amount g = guarantee_of(policy, c, r);
      children_g += g;
      if (c == except) continue;
      parts.push_back(o.max(o.constant(0), o.sub(u[c], o.max(o.constant(g), n[c]))));
    }
    const Amount own_g = std::max<Amount>(0, guarantee_of(policy, a, r) - children_g);
    parts.push_back(o.max(o.constant(0), o.sub(own(a), o.constant(own_g))));
    return o.add(parts);
  }

  // What the subtree of `x` can still obtain from above it.
  NodeId supply(Index x) {
    const Index parent = policy.scopes[x].parent;
    if (parent == kNone) return unbounded ? big : o.sub(o.sub(cap, u[x]), others);
    return o.add(reclaim(parent, x), o.min(o.sub(lim[parent], u[parent]), supply(parent)));
  }
};

void collect(const Policy& policy, Index x, std::vector<Index>& out, int depth = 0) {
  out.push_back(x);
  if (depth > 1000) return;
  for (Index c : policy.scopes[x].children) {
    if (c < policy.scopes.size()) collect(policy, c, out, depth + 1);
  }
}

}  // namespace

std::vector<ReachabilityQuery> build_reachability_queries(const Policy& policy) {
  std::vector<ReachabilityQuery> queries;
  std::size_t resources = policy.resources.size();
  for (const Scope& s : policy.scopes) resources = std::max(resources, s.bounds.size());
  for (Index p = 0; p < policy.pools.size(); ++p) {
    const std::vector<Index> roots = pool_roots(policy, p);
    for (Index r = 0; r < resources; ++r) {
      const Capacity capacity = pool_capacity(policy, p, r);
      Amount all_g = 0, big = 1;
      for (Index f : pool_frontier(policy, p, r)) all_g += guarantee_of(policy, f, r);
      for (Index x = 0; x < policy.scopes.size(); ++x) {
        if (const Bound* b = bound_of(policy, x, r)) big += b->guarantee + b->limit.value_or(0);
      }
      big += capacity.amount;
      for (Index root : roots) {
        std::vector<Index> subtree;
        collect(policy, root, subtree);
        // Claims in this subtree.
        std::vector<Claim> claims;
        for (Index x : subtree) {
          const Amount g = guarantee_of(policy, x, r);
          if (g <= 0) continue;
          claims.push_back(Claim{x, r, false, g});
          if (policy.scopes[x].child_preemption && !policy.scopes[x].children.empty()) {
            claims.push_back(Claim{x, r, true, g});
          }
        }
        if (claims.empty()) continue;
        // The other roots: what they may hold that cannot be reclaimed.
        Amount others_max = 0;
        bool others_unbounded = false;
        for (Index other : roots) {
          if (other == root) continue;
          const Amount u = unreclaimable(policy, other, r);
          if (u == kUnbounded) {
            others_unbounded = true;
          } else {
            others_max += u;
          }
        }
        for (const Claim& claim : claims) {
          ReachabilityQuery q;
          q.claim = claim;
          q.pool = p;
          Obligation& o = q.obligation;
          Encoding e{o, policy, r, {}, {}, {}, {}, {}};
          e.u.assign(policy.scopes.size(), 0);
          e.n.assign(policy.scopes.size(), 0);
          e.lim.assign(policy.scopes.size(), 0);
          e.unbounded = capacity.unbounded;
          e.big = o.constant(big);
          if (capacity.unbounded) {
            e.cap = e.big;
          } else if (capacity.known) {
            e.cap = o.constant(capacity.amount);
          } else {
            e.cap = o.var("cap", all_g);
          }
          e.others = roots.size() > 1 ? o.var("others") : o.constant(0);
          if (!others_unbounded && roots.size() > 1) o.require(o.le(e.others, o.constant(others_max)));
          e.encode(root, e.cap);
          o.require(o.le(o.add(e.u[root], e.others), e.cap));
          const Index x = claim.scope;
          const NodeId g = o.constant(claim.guarantee);
          if (!claim.own_work) {
            q.usage = e.u[x];
            q.supply = e.supply(x);
          } else {
            q.usage = e.own(x);
            std::vector<NodeId> preemptible;
            for (Index c : policy.scopes[x].children) preemptible.push_back(o.sub(e.u[c], e.n[c]));
            q.supply = o.add(o.add(preemptible), o.min(o.sub(e.lim[x], e.u[x]), e.supply(x)));
          }
          // The negated property: the claimant is below its guarantee and
          // cannot get the rest.
          o.require(o.lt(q.usage, g));
          o.require(o.lt(q.supply, o.sub(g, q.usage)));
          o.ranges.push_back(bound_range(policy, x, r));
          q.usages = e.usages;
          q.saturate = e.saturate;
          const bool memory =
              r < policy.resources.size() ? policy.resources[r].kind == ResourceKind::memory : r == kMemory;
          q.unit = memory ? 1024 : 1000;
          queries.push_back(std::move(q));
        }
      }
    }
  }
  return queries;
}

namespace {

std::string scope_name(const Scope& s) {
  return quoted(s.kind == ScopeKind::quota || s.kind == ScopeKind::workspace ? s.name : s.path);
}

// Who asks, in words: a workspace bound to the scope without its own bound
// speaks for the scope's own jobs.
std::string claimant_name(const Policy& policy, const Claim& claim) {
  const Scope& s = policy.scopes[claim.scope];
  if (!claim.own_work) return scope_name(s);
  for (Index c : s.children) {
    if (c < policy.scopes.size() && policy.scopes[c].kind == ScopeKind::workspace &&
        !bound_of(policy, c, claim.resource)) {
      return scope_name(policy.scopes[c]);
    }
  }
  return "jobs submitted to " + scope_name(s) + " itself";
}

}  // namespace

std::size_t check_reachability(const Policy& policy, DiagnosticSink& sink, const Options& options) {
  const std::size_t before = sink.error_count();
  std::unique_ptr<Solver> own_solver;
  Solver* solver = options.solver;
  if (solver == nullptr) {
    own_solver = make_z3_solver();
    solver = own_solver.get();
  }
  for (const ReachabilityQuery& q : build_reachability_queries(policy)) {
    const Index r = q.claim.resource;
    const Scope& s = policy.scopes[q.claim.scope];
    const std::string who = claimant_name(policy, q.claim);
    const SourceRange at = bound_range(policy, q.claim.scope, r);
    Result result = solver->check(q.obligation, options.timeout);
    if (std::holds_alternative<Refuted>(result)) {
      // Look for a more telling counterexample: whole units, and then also
      // the non-preemptible queues at their limits. Keep the first found.
      for (int attempt = 0; attempt < 2; ++attempt) {
        Obligation nicer = q.obligation;
        for (NodeId u : q.usages) {
          const NodeId k = nicer.var(fmt::format("k{}", u));
          nicer.require(nicer.eq(u, nicer.scale(q.unit, k)));
        }
        if (attempt == 0) {
          if (q.saturate.empty()) continue;
          for (const auto& [u, lim] : q.saturate) nicer.require(nicer.eq(u, lim));
        }
        Result better = solver->check(nicer, options.timeout);
        if (auto* refuted = std::get_if<Refuted>(&better)) {
          Assignment m;
          for (const Variable& v : q.obligation.variables()) m[v.name] = refuted->counterexample[v.name];
          result = Refuted{std::move(m)};
          break;
        }
      }
    }
    if (auto* refuted = std::get_if<Refuted>(&result)) {
      const Assignment& m = refuted->counterexample;
      // Never report a counterexample we cannot confirm ourselves.
      if (!satisfies(q.obligation, m)) {
        result = Unknown{"the solver's counterexample did not check"};
      } else {
        auto value = [&](const std::string& name) {
          auto it = m.find(name);
          return it == m.end() ? Amount{0} : it->second;
        };
        // The scopes that hold work in this state, by their own usage.
        std::vector<std::string> parts;
        std::vector<std::pair<std::string, SourceRange>> culprits;
        Index root = q.claim.scope;
        while (policy.scopes[root].parent != kNone) root = policy.scopes[root].parent;
        std::vector<Index> all;
        collect(policy, root, all);
        bool any_nonpreemptible = false;
        for (Index x : all) {
          const Scope& xs = policy.scopes[x];
          Amount own = value(usage_var(xs));
          for (Index c : xs.children) own -= value(usage_var(policy.scopes[c]));
          if (own <= 0 || (x == q.claim.scope)) continue;
          if (is_nonpreemptible_queue(xs)) {
            any_nonpreemptible = true;
            parts.push_back(
                fmt::format("{} using {} of non-preemptible work", scope_name(xs), format_amount(policy, r, own)));
            culprits.emplace_back(fmt::format("{} is not preemptible and may borrow up to {}", scope_name(xs),
                                              format_amount(policy, r, effective_limit(policy, x, r).value_or(own))),
                                  xs.name_range.valid() ? xs.name_range : xs.range);
          } else {
            parts.push_back(fmt::format("{} using {}", scope_name(xs), format_amount(policy, r, own)));
          }
        }
        if (value("others") > 0) {
          parts.push_back(fmt::format("other scopes on pool {} holding {}", quoted(policy.pools[q.pool].name),
                                      format_amount(policy, r, value("others"))));
        }
        const Amount usage = evaluate(q.obligation, q.usage, m).value_or(0);
        const Amount supply = evaluate(q.obligation, q.supply, m).value_or(0);
        std::string state = parts.empty() ? std::string("in the state where ") : "with ";
        for (std::size_t i = 0; i < parts.size(); ++i) {
          if (i > 0) state += i + 1 == parts.size() ? " and " : ", ";
          state += parts[i];
        }
        if (parts.empty()) state += "nothing else runs";
        Diagnostic& d = sink.error(
            "E0211", at,
            fmt::format("{}, {} cannot obtain its {}", state, who, format_amount(policy, r, q.claim.guarantee)));
        d.note(fmt::format("{} uses {} and can obtain only {} more", who, format_amount(policy, r, usage),
                           format_amount(policy, r, std::max<Amount>(0, supply))),
               s.name_range.valid() ? s.name_range : s.range);
        for (const auto& [text, range] : culprits) d.note(text, range);
        if (q.claim.own_work) {
          d.note(fmt::format("{} has `child_preemption`, so its own jobs may take back only its children's "
                             "preemptible work",
                             scope_name(s)),
                 s.name_range);
        }
        if (value("others") > 0) {
          d.note(fmt::format("pool {} is shared with other root scopes", quoted(policy.pools[q.pool].name)),
                 policy.pools[q.pool].name_range);
        }
        d.add_help(any_nonpreemptible
                       ? "make the non-preemptible queues preemptible, or limit them to their guarantees so "
                         "they cannot borrow"
                       : "lower the guarantee or give the scopes room to reclaim it");
        continue;
      }
    }
    if (auto* unknown = std::get_if<Unknown>(&result)) {
      sink.warning("E0212", at,
                   fmt::format("could not prove that {} can always obtain its {}: {}", who,
                               format_amount(policy, r, q.claim.guarantee), unknown->reason))
          .add_help("raise the per-obligation timeout with `--timeout-ms`, or split the quota tree");
    }
  }
  return sink.error_count() - before;
}

}  // namespace allot::verify

// The relation of the whole policies, proved through the obligation interface
// (compiler/smt/solver.h): "every usage state NEW allows, OLD allows" fails
// exactly when some state satisfies NEW's constraints and not OLD's, which is
// an obligation; its counterexample is the witness state, re-checked
// natively before it is reported. The constraints are those of diff.h over
// one variable pair (used, own) per scope and resource, the scopes of both
// sides unified through the matching.
#include <fmt/format.h>

#include <map>
#include <memory>

#include "compiler/diff/internal.h"
#include "compiler/sema/model_queries.h"
#include "compiler/smt/z3.h"

namespace allot::diff::detail {

using namespace model;

namespace {

struct Unified {
  std::string name;  // the scope's new path, or its old one when removed
  Index old_index = kNone, new_index = kNone;
};

std::vector<Unified> unify(const Matching& m) {
  std::vector<Unified> out;
  for (Index n = 0; n < m.new_policy->scopes.size(); ++n) {
    out.push_back({m.new_policy->scopes[n].path, m.old_of_new[n], n});
  }
  for (Index o = 0; o < m.old_policy->scopes.size(); ++o) {
    if (m.new_of_old[o] == kNone) out.push_back({m.old_policy->scopes[o].path + " (removed)", o, kNone});
  }
  return out;
}

struct Vars {
  std::vector<std::vector<smt::NodeId>> used, own;  // [unified][resource], in base units
};

// `unit[r]`: the variables count multiples of it (1: base units).
Vars declare(smt::Obligation& ob, const std::vector<Unified>& scopes, const std::vector<std::string>& resources,
             const std::vector<std::int64_t>& unit) {
  Vars v;
  auto scaled = [&](smt::NodeId x, std::int64_t u) { return u == 1 ? x : ob.scale(u, x); };
  for (const Unified& u : scopes) {
    v.used.emplace_back();
    v.own.emplace_back();
    for (std::size_t r = 0; r < resources.size(); ++r) {
      v.used.back().push_back(scaled(ob.var(fmt::format("used {} {}", u.name, resources[r])), unit[r]));
      v.own.back().push_back(scaled(ob.var(fmt::format("own {} {}", u.name, resources[r])), unit[r]));
    }
  }
  return v;
}

// The usage states `policy` allows, as one condition.
smt::NodeId allowed(smt::Obligation& ob, const Matching& m, bool old_side, const std::vector<Unified>& scopes,
                    const Vars& v) {
  const Policy& p = old_side ? *m.old_policy : *m.new_policy;
  std::vector<std::size_t> unified_of(p.scopes.size(), 0);
  for (std::size_t k = 0; k < scopes.size(); ++k) {
    const Index i = old_side ? scopes[k].old_index : scopes[k].new_index;
    if (i != kNone) unified_of[i] = k;
  }
  std::vector<smt::NodeId> all;
  for (std::size_t k = 0; k < scopes.size(); ++k) {
    const Index i = old_side ? scopes[k].old_index : scopes[k].new_index;
    for (std::size_t r = 0; r < m.resources.size(); ++r) {
      const smt::NodeId used = v.used[k][r], own = v.own[k][r];
      if (i == kNone) {
        all.push_back(ob.eq(used, ob.constant(0)));
        all.push_back(ob.eq(own, ob.constant(0)));
        continue;
      }
      const Effect e = effect_of(p, i, m.resources[r]);
      all.push_back(ob.le(own, used));
      all.push_back(ob.le(own, ob.constant(e.guarantee)));
      if (e.limit) all.push_back(ob.le(used, ob.constant(*e.limit)));
      std::vector<smt::NodeId> children;
      for (Index c : p.scopes[i].children) children.push_back(v.used[unified_of[c]][r]);
      if (!children.empty()) all.push_back(ob.le(ob.add(children), used));
    }
  }
  // The roots of each pool together use at most what it offers.
  for (Index pool = 0; pool < p.pools.size(); ++pool) {
    for (std::size_t r = 0; r < m.resources.size(); ++r) {
      const Index ri = resource_index(p, m.resources[r]);
      if (ri == kNone) continue;
      const Capacity cap = pool_capacity(p, pool, ri);
      if (!cap.known || cap.unbounded) continue;
      std::vector<smt::NodeId> roots;
      for (Index root : pool_roots(p, pool)) roots.push_back(v.used[unified_of[root]][r]);
      if (!roots.empty()) all.push_back(ob.le(ob.add(roots), ob.constant(cap.amount)));
    }
  }
  return ob.all(std::move(all));
}

std::vector<Usage> state_of(const Matching& m, const std::vector<Unified>& scopes, const smt::Assignment& a,
                            const std::vector<std::int64_t>& unit) {
  std::vector<Usage> out;
  for (const Unified& u : scopes) {
    for (std::size_t r = 0; r < m.resources.size(); ++r) {
      const std::string& name = m.resources[r];
      const auto used = a.find(fmt::format("used {} {}", u.name, name));
      const auto own = a.find(fmt::format("own {} {}", u.name, name));
      if (used == a.end() || own == a.end() || (used->second == 0 && own->second == 0)) continue;
      const Policy& p = u.new_index != kNone ? *m.new_policy : *m.old_policy;
      out.push_back(
          {u.name, name, amount_text(p, name, used->second * unit[r]), amount_text(p, name, own->second * unit[r])});
    }
  }
  return out;
}

// What one direction's obligation answers, with the units of its variables.
struct Attempt {
  smt::Result result;
  std::string name;
  std::vector<Usage> state;  // when refuted and the counterexample checks
  bool checks = false;
};

Attempt attempt(const Matching& m, const std::vector<Unified>& scopes, bool inner_is_old,
                const std::vector<std::int64_t>& unit, smt::Solver& solver, std::chrono::milliseconds timeout) {
  smt::Obligation ob(inner_is_old ? "every usage state OLD allows, NEW allows"
                                  : "every usage state NEW allows, OLD allows");
  const Vars v = declare(ob, scopes, m.resources, unit);
  ob.require(allowed(ob, m, inner_is_old, scopes, v));
  ob.require(ob.negate(allowed(ob, m, !inner_is_old, scopes, v)));
  Attempt a{solver.check(ob, timeout), ob.name(), {}, false};
  if (const auto* r = std::get_if<smt::Refuted>(&a.result)) {
    a.checks = smt::satisfies(ob, r->counterexample);
    if (a.checks) a.state = state_of(m, scopes, r->counterexample, unit);
  }
  return a;
}

}  // namespace

void prove_policy(const Matching& m, const Options& options, PolicyDiff& out) {
  const std::vector<Unified> scopes = unify(m);
  std::unique_ptr<smt::Solver> own_solver;
  smt::Solver* solver = options.solver;
  if (solver == nullptr) {
    own_solver = smt::make_z3_solver();
    solver = own_solver.get();
  }
  bool within_side[2] = {true, true};  // [0]: NEW within OLD, [1]: OLD within NEW
  // Base units decide the relation; a state in whole units (GPUs, cores,
  // CUs) is preferred as the witness when there is one.
  const std::vector<std::int64_t> base(m.resources.size(), 1);
  std::vector<std::int64_t> whole;
  for (const std::string& r : m.resources) {
    const Index ri = resource_index(*m.new_policy, r);
    const Policy& p = ri != kNone ? *m.new_policy : *m.old_policy;
    const Index i = resource_index(p, r);
    whole.push_back(i != kNone && p.resources[i].kind == ResourceKind::memory ? 1024 : 1000);
  }
  for (int direction = 0; direction < 2; ++direction) {
    const bool inner_is_old = direction == 1;
    Attempt a = attempt(m, scopes, inner_is_old, base, *solver, options.timeout);
    if (std::holds_alternative<smt::Proved>(a.result)) continue;
    within_side[direction] = false;
    if (const auto* u = std::get_if<smt::Unknown>(&a.result)) {
      out.unknown.push_back(fmt::format("{}: {}", a.name, u->reason));
      continue;
    }
    if (!a.checks) {
      out.unknown.push_back(fmt::format("{}: the solver's counterexample does not check", a.name));
      continue;
    }
    Attempt in_whole = attempt(m, scopes, inner_is_old, whole, *solver, options.timeout);
    Witness w;
    w.allowed_by = inner_is_old ? Side::old_policy : Side::new_policy;
    w.state = in_whole.checks ? std::move(in_whole.state) : std::move(a.state);
    out.witnesses.push_back(std::move(w));
  }
  out.relation = relation_of(within_side[0], within_side[1]);
}

}  // namespace allot::diff::detail

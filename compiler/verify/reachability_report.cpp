// Invariant 6 reported: sends the claims reachability.cpp could not prove
// natively to the solver, re-checks every counterexample natively, and turns
// refutations into E0211 (or W0105 when only a reclaim policy refutes), with
// a readable usage state; W0106 for workspaces whose guarantee is carved out.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string_view>
#include <unordered_map>

#include "compiler/base/codes.h"
#include "compiler/sema/model_queries.h"
#include "compiler/smt/z3.h"
#include "compiler/verify/reachability.h"
#include "compiler/verify/reachability_facts.h"
#include "compiler/verify/verify.h"

namespace allot::verify {

using namespace model;
using namespace smt;
using reach::distribute;
using reach::encode_claim;
using reach::Facts;
using reach::for_each_claim;
using reach::is_nonpreemptible_queue;
using reach::kUnbounded;
using reach::native_counterexample;

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

namespace {

// W0106: a workspace bound to a quota whose guarantee its sub-quotas take
// entirely, without child_preemption: its jobs have no claim (R2 needs a
// guarantee, R1 child_preemption) and run only on idle or borrowed capacity.
void warn_carved_out(const Policy& policy, DiagnosticSink& sink) {
  std::size_t resources = policy.resources.size();
  for (const Scope& s : policy.scopes) resources = std::max(resources, s.bounds.size());
  for (Index qi = 0; qi < policy.scopes.size(); ++qi) {
    const Scope& q = policy.scopes[qi];
    if (q.kind != ScopeKind::quota || q.child_preemption) continue;
    for (Index r = 0; r < resources; ++r) {
      const Amount g = guarantee_of(policy, qi, r);
      if (g <= 0) continue;
      Amount carved = 0;
      bool sub_quotas = false;
      for (Index c : q.children)
        if (c < policy.scopes.size() && policy.scopes[c].kind == ScopeKind::quota) {
          carved += guarantee_of(policy, c, r);
          sub_quotas = true;
        }
      if (!sub_quotas || carved < g) continue;
      for (Index c : q.children) {
        const Scope& w = policy.scopes[c];
        if (w.kind != ScopeKind::workspace || bound_of(policy, c, r)) continue;
        sink.warning(code::W0106, w.name_range.valid() ? w.name_range : w.range,
                     fmt::format("workspace {} is bound to {}, whose {} are all guaranteed to its sub-quotas: its jobs "
                                 "get only idle or borrowed capacity",
                                 quoted(w.name), quoted(q.name), format_amount(policy, r, g)))
            .note(fmt::format("{} has no `child_preemption`, so its own jobs cannot take anything back from its "
                              "sub-quotas",
                              quoted(q.name)),
                  q.name_range.valid() ? q.name_range : q.range)
            .add_help(fmt::format("set `child_preemption = true` on {} so that its own jobs come first, or leave "
                                  "part of its guarantee to them",
                                  quoted(q.name)));
      }
    }
  }
}

}  // namespace

std::size_t check_reachability(const Policy& policy, DiagnosticSink& sink, const Options& options) {
  return check_reachability(policy, sink, options, nullptr);
}

std::size_t check_reachability(const Policy& policy, DiagnosticSink& sink, const Options& options,
                               ReachabilityStats* stats) {
  const std::size_t before = sink.error_count();
  std::unique_ptr<Solver> own_solver;
  Solver* solver = options.solver;
  ReachabilityStats counts;
  constexpr std::size_t kNicerCounterexamples = 10;
  std::size_t nicer_searches = 0;
  // E0211 errors, held back until every claim is seen so that the claims one
  // cause blocks are reported together; keyed by the non-preemptible queues
  // that block them.
  // The further claims are listed up to kListedAlso and then only counted.
  constexpr std::size_t kListedAlso = 10;
  struct Blocked {
    Diagnostic first;
    std::vector<std::pair<std::string, SourceRange>> also;
    std::size_t also_count = 0;
    void add(const Policy& policy, const Claim& claim, std::string_view who, SourceRange at) {
      if (also_count++ < kListedAlso)
        also.emplace_back(
            fmt::format("{} cannot obtain its {} either", who, format_amount(policy, claim.resource, claim.guarantee)),
            at);
    }
  };
  std::vector<Blocked> blocked;
  std::map<std::vector<Index>, std::size_t> group_of;
  // Past as many problems as the sink keeps, no claim is sent to the solver.
  constexpr std::size_t sink_limit = 200;
  // Claims whose native counterexample shares its culprits with a group
  // already reported become that group's notes without an obligation of
  // their own: at 100k quotas there are 99k of them, each beside about
  // 1,100 summarised scopes.
  std::unique_ptr<reach::LevelWitness> levels;
  Index levels_pool = kNone, levels_resource = kNone;
  auto settle = [&](const Facts& f, const Claim& claim) {
    if (!options.shared_witnesses) return false;
    if (sink.saturated()) {
      ++counts.claims;
      return true;
    }
    if (!levels || levels_pool != f.pool || levels_resource != f.r) {
      levels = std::make_unique<reach::LevelWitness>(f);
      levels_pool = f.pool;
      levels_resource = f.r;
    }
    reach::SharedRefutation* shared = levels->refute(claim);
    if (shared == nullptr) return false;
    if (shared->group == static_cast<std::size_t>(-1)) {
      auto it = group_of.find(shared->culprits);
      if (it == group_of.end()) return false;  // the first claim of its group is reported in full
      shared->group = it->second;
      shared->culprits = {};
    }
    ++counts.claims;
    ++counts.refuted_natively;
    ++counts.refuted_shared;
    blocked[shared->group].add(policy, claim, claimant_name(policy, claim),
                               bound_range(policy, claim.scope, claim.resource));
    return true;
  };
  auto visit = [&](const Facts& f, ReachabilityQuery& q) {
    ++counts.claims;
    if (q.proved_natively) {
      ++counts.proved_natively;
      return;
    }
    // Past the sink's error limit every further report is dropped, so the
    // solver's time would be spent on nothing anyone sees.
    if (sink.saturated()) return;
    const bool solver_budget = sink.error_count() + blocked.size() < sink_limit;
    if (solver == nullptr) {
      own_solver = make_z3_solver();
      solver = own_solver.get();
    }
    const Index r = q.claim.resource;
    const Scope& s = policy.scopes[q.claim.scope];
    const std::string who = claimant_name(policy, q.claim);
    const SourceRange at = bound_range(policy, q.claim.scope, r);
    // The state the linear argument points at refutes most claims that
    // fail; the solver is asked only when it does not.
    std::optional<Values> native = native_counterexample(f, q);
    if (!native && !solver_budget) return;
    if (native) {
      ++counts.refuted_natively;
    } else {
      ++counts.solver_obligations;
    }
    Result result = native ? Result{Refuted{}} : solver->check(q.obligation, options.timeout);
    // Refuted only because a scope of the path takes back its guarantee
    // from lower-priority work alone, or never: the guarantee holds against
    // such borrowers, which is what the policy asked for. `never` is
    // reported by sema (W0104); `lower_priority` is a warning here.
    if (std::holds_alternative<Refuted>(result)) {
      Index policy_scope = kNone;
      for (Index y = q.claim.scope; y != kNone; y = policy.scopes[y].parent)
        if (policy.scopes[y].reclaim != ReclaimPolicy::any && policy.scopes[y].parent != kNone) {
          policy_scope = y;
          break;
        }
      if (policy_scope != kNone) {
        Index root = q.claim.scope;
        while (policy.scopes[root].parent != kNone) root = policy.scopes[root].parent;
        const ReachabilityQuery relaxed = encode_claim(f, q.claim, root, false, /*honor_reclaim=*/false);
        if (std::holds_alternative<Proved>(solver->check(relaxed.obligation, options.timeout))) {
          const Scope& ps = policy.scopes[policy_scope];
          if (ps.reclaim == ReclaimPolicy::lower_priority) {
            sink.warning(code::W0105, bound_range(policy, q.claim.scope, r),
                         fmt::format("{} is guaranteed {} only against lower-priority borrowers", who,
                                     format_amount(policy, r, q.claim.guarantee)))
                .note(fmt::format("{} takes back lent capacity only from work of lower priority than its own",
                                  scope_name(ps)),
                      ps.reclaim_range.valid() ? ps.reclaim_range : ps.name_range)
                .add_help("write `reclaim = any` to take it back from any borrower, or `lend` less of it");
          }
          return;
        }
      }
    }
    // Look for a more telling counterexample: whole units, and then also
    // the non-preemptible queues at their limits. Keep the first found.
    // Only for the first few refuted claims: each search costs several times
    // the refutation (200 ms against 28 ms per claim on a 1k-quota policy
    // with 200 refuted claims), and a fixed count, unlike a time budget,
    // keeps the report the same on every machine.
    if (std::holds_alternative<Refuted>(result) && !native && nicer_searches < kNicerCounterexamples) {
      ++nicer_searches;
      for (int attempt = 0; attempt < 2; ++attempt) {
        Obligation nicer = q.obligation;
        for (NodeId u : q.usages) {
          const NodeId k = nicer.var(fmt::format("k{}", u));
          nicer.require(nicer.eq(u, nicer.scale(q.unit, k)));
        }
        if (attempt == 0) {
          if (q.saturate.empty()) continue;
          for (NodeId condition : q.saturate) nicer.require(condition);
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
      const std::optional<Values> found = native ? std::move(native) : values_of(q.obligation, refuted->counterexample);
      // Never report a counterexample we cannot confirm ourselves.
      if (!found || !satisfies(q.obligation, *found)) {
        result = Unknown{"the solver's counterexample did not check"};
      } else {
        const Values& m = *found;
        auto term_value = [&](const std::unordered_map<Index, NodeId>& terms, Index x) {
          auto it = terms.find(x);
          return it == terms.end() ? Amount{0} : evaluate(q.obligation, it->second, m).value_or(0);
        };
        auto value = [&](Index x) { return term_value(q.usage_term, x); };
        auto value_n = [&](Index x) { return term_value(q.nonpreemptible_term, x); };
        // Own usage by scope: the path's scopes hold what their children do
        // not; a summarised subtree holds its non-preemptible part in its
        // non-preemptible queues and the rest itself.
        std::unordered_map<Index, Amount> own;
        auto summarised = [&](Index c) {
          const Amount u = value(c);
          const Amount np = is_nonpreemptible_queue(policy.scopes[c]) ? u : std::min(u, value_n(c));
          distribute(f, c, np, [&](Index queue, Amount amount) { own[queue] += amount; });
          if (u - np > 0) own[c] += u - np;
        };
        std::vector<Index> path;
        for (Index y = q.claim.scope; y != kNone; y = policy.scopes[y].parent) path.push_back(y);
        for (std::size_t i = 1; i < path.size(); ++i) {
          const Index p = path[i];
          Amount rest = value(p);
          for (Index c : policy.scopes[p].children) {
            rest -= value(c);
            if (c != path[i - 1]) summarised(c);
          }
          if (rest > 0) own[p] += rest;
        }
        if (q.claim.own_work) {
          for (Index c : s.children) summarised(c);
        }
        std::vector<std::pair<Index, Amount>> holders(own.begin(), own.end());
        std::sort(holders.begin(), holders.end(),
                  [&](const auto& a, const auto& b) { return f.position[a.first] < f.position[b.first]; });
        // The scopes that hold work in this state, by their own usage.
        std::vector<std::string> parts;
        std::vector<std::pair<std::string, SourceRange>> culprits;
        std::size_t culprits_listed = 0;
        // Preemptible holders beyond the first few are summed up: at
        // thousands of scopes a list of each would bury the cause.
        constexpr std::size_t kListedHolders = 6;
        std::size_t unlisted = 0;
        Amount unlisted_amount = 0;
        bool any_nonpreemptible = false;
        // For the parent's own claim its own workspaces are the claimant,
        // not what blocks it.
        auto claimant_side = [&](Index h) {
          if (!q.claim.own_work) return false;
          for (Index y = h; y != kNone; y = policy.scopes[y].parent)
            if (policy.scopes[y].parent == q.claim.scope) return policy.scopes[y].kind != ScopeKind::quota;
          return false;
        };
        // Claims blocked by the same non-preemptible queues are one problem:
        // one error, the further claims as its notes.
        std::vector<Index> culprit_scopes;
        for (const auto& [x, amount] : holders)
          if (amount > 0 && x != q.claim.scope && !claimant_side(x) && is_nonpreemptible_queue(policy.scopes[x]))
            culprit_scopes.push_back(x);
        if (!culprit_scopes.empty()) {
          auto [it, fresh] = group_of.try_emplace(culprit_scopes, blocked.size());
          if (!fresh) {
            blocked[it->second].add(policy, q.claim, who, at);
            return;
          }
        }
        for (const auto& [x, amount] : holders) {
          const Scope& xs = policy.scopes[x];
          if (amount <= 0 || x == q.claim.scope || claimant_side(x)) continue;
          if (is_nonpreemptible_queue(xs)) {
            any_nonpreemptible = true;
            parts.push_back(
                fmt::format("{} using {} of non-preemptible work", scope_name(xs), format_amount(policy, r, amount)));
            culprits.emplace_back(fmt::format("{} is not preemptible and may borrow up to {}", scope_name(xs),
                                              format_amount(policy, r, f.limit[x].value_or(amount))),
                                  xs.name_range.valid() ? xs.name_range : xs.range);
            ++culprits_listed;
          } else if (parts.size() - culprits_listed < kListedHolders) {
            parts.push_back(fmt::format("{} using {}", scope_name(xs), format_amount(policy, r, amount)));
          } else {
            ++unlisted;
            unlisted_amount += amount;
          }
        }
        if (unlisted > 0) {
          parts.push_back(fmt::format("{} other scope{} using {} in all", unlisted, unlisted == 1 ? "" : "s",
                                      format_amount(policy, r, unlisted_amount)));
        }
        const Amount others = evaluate(q.obligation, q.others_term, m).value_or(0);
        if (others > 0) {
          parts.push_back(fmt::format("other scopes on pool {} holding {}", quoted(policy.pools[q.pool].name),
                                      format_amount(policy, r, others)));
        }
        const Amount usage = evaluate(q.obligation, q.usage, m).value_or(0);
        const Amount supply = evaluate(q.obligation, q.supply, m).value_or(0);
        std::string state = parts.empty() ? std::string("in the state where ") : "with ";
        for (std::size_t i = 0; i < parts.size(); ++i) {
          if (i > 0) state += i + 1 == parts.size() ? " and " : ", ";
          state += parts[i];
        }
        if (parts.empty()) state += "nothing else runs";
        blocked.emplace_back();
        Diagnostic& d = blocked.back().first;
        d.code = code::E0211;
        d.range = at;
        d.message = fmt::format("{}, {} cannot obtain its {}", state, who, format_amount(policy, r, q.claim.guarantee));
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
        if (others > 0) {
          d.note(fmt::format("pool {} is shared with other root scopes", quoted(policy.pools[q.pool].name)),
                 policy.pools[q.pool].name_range);
        }
        d.add_help(any_nonpreemptible
                       ? "make the non-preemptible queues preemptible, or limit them to their guarantees so "
                         "they cannot borrow"
                       : "lower the guarantee or give the scopes room to reclaim it");
        return;
      }
    }
    if (auto* unknown = std::get_if<Unknown>(&result)) {
      sink.warning(code::E0212, at,
                   fmt::format("could not prove that {} can always obtain its {}: {}", who,
                               format_amount(policy, r, q.claim.guarantee), unknown->reason))
          .add_help("raise the per-obligation timeout with `--timeout-ms`, or split the quota tree");
    }
  };
  for_each_claim(policy, {}, visit, settle);
  for (Blocked& b : blocked) {
    Diagnostic& e = sink.error(b.first.code, b.first.range, std::move(b.first.message));
    e.notes = std::move(b.first.notes);
    if (b.also_count > 0) {
      e.note(fmt::format("the same non-preemptible queues keep {} more guarantee{} from being reachable", b.also_count,
                         b.also_count == 1 ? "" : "s"));
      for (const auto& [text, range] : b.also) e.note(text, range);
      if (b.also_count > kListedAlso) e.note(fmt::format("and {} more", b.also_count - kListedAlso));
    }
    e.help = std::move(b.first.help);
  }
  warn_carved_out(policy, sink);
  if (stats) *stats = counts;
  return sink.error_count() - before;
}

}  // namespace allot::verify

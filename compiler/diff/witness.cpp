// Witnesses of one scope's change: the usage state one side allows and the
// other refuses, and, where a simple scenario shows it, a job that the two
// policies treat differently. The scenarios (docs/diff.md):
//   - a queue added or removed: a job to it is refused where it is missing;
//   - a guarantee changed: a competing sibling fills the parent's room, the
//     scope runs the smaller guarantee and asks for more; the side with the
//     larger guarantee takes it back by preemption (R2), the other waits;
//   - a limit changed: the scope runs the smaller limit and asks for more;
//     the side with the larger limit admits it, the other does not.
// Jobs are whole GPUs, at most one node's worth each. tests/unit/diff_test.cpp
// replays every scenario through the runtime core.
#include <fmt/format.h>

#include <algorithm>

#include "compiler/diff/internal.h"
#include "compiler/sema/model_queries.h"

namespace allot::diff::detail {

using namespace model;

namespace {

constexpr Amount kMilli = 1000;

bool under(const Policy& p, Index s, Index ancestor) {
  for (; s != kNone; s = p.scopes[s].parent) {
    if (s == ancestor) return true;
  }
  return false;
}

// The queues at or below `scope`, in the policy's order.
std::vector<Index> queues_under(const Policy& p, Index scope) {
  std::vector<Index> out;
  for (Index i = scope; i < p.scopes.size(); ++i) {
    if (p.scopes[i].kind == ScopeKind::queue && under(p, i, scope)) out.push_back(i);
  }
  return out;
}

// The same queue on the other side, under the same path.
Index same_path(const Policy& other, const Policy& p, Index q) {
  const auto i = other.find_scope(p.scopes[q].path);
  return i && other.scopes[*i].kind == ScopeKind::queue ? *i : kNone;
}

// The largest node's GPUs in the scope's pool, in milli-GPUs.
Amount node_gpus(const Policy& p, Index scope) {
  const Index pool = p.scopes[scope].pool;
  Amount best = 0;
  if (pool >= p.pools.size()) return 0;
  auto consider = [&](Index f) {
    if (f < p.flavors.size()) best = std::max(best, p.flavors[f].gpus * kMilli);
  };
  for (const NodeGroup& g : p.pools[pool].node_groups) consider(g.flavor);
  for (const NamedNode& n : p.pools[pool].nodes) consider(n.flavor);
  return best;
}

// A user who may submit to the queue (through the roles on it and its
// ancestors); `anyone` when no role restricts it.
std::string submitter(const Policy& p, Index q) {
  bool restricted = false;
  for (Index s = q; s != kNone; s = p.scopes[s].parent) {
    for (Index r : p.scopes[s].roles) {
      if (r >= p.roles.size()) continue;
      restricted = true;
      if ((p.roles[r].permissions & kSubmit) && !p.roles[r].users.empty()) return p.roles[r].users.front();
    }
  }
  return restricted ? std::string() : std::string("anyone");
}

std::string kind_of(const Policy& p, Index q) {
  const Scope& s = p.scopes[q];
  const WorkloadSet hosts = s.pool < p.pools.size() ? p.pools[s.pool].hosts : kAllWorkloads;
  for (WorkloadKind k : {WorkloadKind::training, WorkloadKind::inference, WorkloadKind::development}) {
    if (s.accepts & hosts & static_cast<WorkloadSet>(k)) return to_string(k);
  }
  return {};
}

// `amount` split into jobs of at most one node each, largest first.
void fill(std::vector<Jobs>& out, const Jobs& shape, Amount amount, Amount chunk) {
  if (amount <= 0 || chunk <= 0) return;
  if (amount / chunk > 0) {
    Jobs j = shape;
    j.count = amount / chunk;
    j.gpu_milli = chunk;
    out.push_back(j);
  }
  if (amount % chunk != 0) {
    Jobs j = shape;
    j.count = 1;
    j.gpu_milli = amount % chunk;
    out.push_back(j);
  }
}

Jobs shape_of(const Policy& p, Index q) { return Jobs{p.scopes[q].path, submitter(p, q), kind_of(p, q), 1, 0}; }

struct Sides {
  const Policy* hi;  // the side that treats the job better
  const Policy* lo;
  Index hi_scope, lo_scope;
  bool hi_is_new;
};

bool usable(const Policy& p, Index q) { return !submitter(p, q).empty() && !kind_of(p, q).empty(); }

std::int64_t priority_value(const Policy& p, Index q) {
  const Index c = p.scopes[q].default_priority;
  return c < p.priorities.size() ? p.priorities[c].value : 0;
}

// R2's condition on the preemptor's `reclaim` setting.
bool reclaims_from(const Policy& p, Index preemptor, Index victim) {
  const ReclaimPolicy r = p.scopes[preemptor].reclaim;
  return r == ReclaimPolicy::any ||
         (r == ReclaimPolicy::lower_priority && priority_value(p, victim) < priority_value(p, preemptor));
}

// Whether R1 (an own job of a quota with `child_preemption` against its
// sub-quotas) or R4 (`borrow_within`) could let the preemptor take from the
// victim whatever the guarantees: the scenario then shows nothing.
bool other_rule_applies(const Policy& p, Index preemptor, Index victim) {
  if (p.scopes[preemptor].borrow_within.enabled) return true;
  Index quota = preemptor;
  while (quota != kNone && p.scopes[quota].kind != ScopeKind::quota) quota = p.scopes[quota].parent;
  if (quota == kNone || !p.scopes[quota].child_preemption) return false;
  for (Index s = p.scopes[victim].parent; s != kNone && s != quota; s = p.scopes[s].parent) {
    if (p.scopes[s].kind == ScopeKind::quota && under(p, s, quota)) return true;
  }
  return false;
}

// A guarantee changed at the scope.
std::optional<JobWitness> guarantee_scenario(const Sides& s) {
  const Policy& hi = *s.hi;
  const Policy& lo = *s.lo;
  const Amount g_hi = guarantee_of(hi, s.hi_scope, kGpu), g_lo = guarantee_of(lo, s.lo_scope, kGpu);
  const Amount chunk = node_gpus(hi, s.hi_scope);
  Amount d = std::min(g_hi - g_lo, chunk);
  d -= d % kMilli;
  if (d <= 0) return std::nullopt;
  const Effect e_hi = effect_of(hi, s.hi_scope, "gpu"), e_lo = effect_of(lo, s.lo_scope, "gpu");
  if (!e_hi.limit || !e_lo.limit || g_lo + d > *e_hi.limit) return std::nullopt;
  // The parent's room (or the pool's, for a root), the same on both sides.
  const Index parent_hi = hi.scopes[s.hi_scope].parent, parent_lo = lo.scopes[s.lo_scope].parent;
  if ((parent_hi == kNone) != (parent_lo == kNone)) return std::nullopt;
  std::optional<Amount> room_hi, room_lo;
  std::vector<Index> siblings;
  if (parent_hi != kNone) {
    room_hi = effect_of(hi, parent_hi, "gpu").limit;
    room_lo = effect_of(lo, parent_lo, "gpu").limit;
    siblings = hi.scopes[parent_hi].children;
  } else {
    const Capacity c_hi = pool_capacity(hi, hi.scopes[s.hi_scope].pool, kGpu);
    const Capacity c_lo = pool_capacity(lo, lo.scopes[s.lo_scope].pool, kGpu);
    if (c_hi.known && !c_hi.unbounded) room_hi = c_hi.amount;
    if (c_lo.known && !c_lo.unbounded) room_lo = c_lo.amount;
    siblings = pool_roots(hi, hi.scopes[s.hi_scope].pool);
  }
  if (!room_hi || room_hi != room_lo || *room_hi < g_lo + d) return std::nullopt;
  const Amount competing = *room_hi - g_lo;
  std::vector<Index> own_queues;
  for (Index q : queues_under(hi, s.hi_scope)) {
    if (same_path(lo, hi, q) != kNone && usable(hi, q) && usable(lo, same_path(lo, hi, q))) own_queues.push_back(q);
  }
  if (own_queues.empty()) return std::nullopt;
  const Index q_s = own_queues.front();
  for (Index sibling : siblings) {
    if (sibling == s.hi_scope) continue;
    // Borrowing at the sibling on the side with the larger guarantee.
    if (bound_of(hi, sibling, kGpu) == nullptr || competing <= guarantee_of(hi, sibling, kGpu)) continue;
    for (Index q_o : queues_under(hi, sibling)) {
      const Index q_o_lo = same_path(lo, hi, q_o);
      if (q_o_lo == kNone || !hi.scopes[q_o].preemptible || !usable(hi, q_o)) continue;
      if (!reclaims_from(hi, q_s, q_o) || other_rule_applies(hi, q_s, q_o) ||
          other_rule_applies(lo, same_path(lo, hi, q_s), q_o_lo)) {
        continue;
      }
      const Effect o_hi = effect_of(hi, q_o, "gpu"), o_lo = effect_of(lo, q_o_lo, "gpu");
      if (!o_hi.limit || !o_lo.limit || *o_hi.limit < competing || *o_lo.limit < competing) continue;
      JobWitness w;
      fill(w.running, shape_of(hi, q_o), competing, chunk);
      fill(w.running, shape_of(hi, q_s), g_lo, chunk);
      w.job = shape_of(hi, q_s);
      w.job.gpu_milli = d;
      const Outcome better = Outcome::admitted_preempting, worse = Outcome::waits;
      w.old_outcome = s.hi_is_new ? worse : better;
      w.new_outcome = s.hi_is_new ? better : worse;
      w.reason = fmt::format(
          "{} guarantees {} under {} and {} under {}: with {} borrowing, the job is inside the guarantee only under {}",
          quoted(hi.scopes[s.hi_scope].path), format_amount(hi, kGpu, g_hi), s.hi_is_new ? "NEW" : "OLD",
          format_amount(lo, kGpu, g_lo), s.hi_is_new ? "OLD" : "NEW", quoted(hi.scopes[q_o].path),
          s.hi_is_new ? "NEW" : "OLD");
      return w;
    }
  }
  return std::nullopt;
}

// A limit in effect changed at the scope.
std::optional<JobWitness> limit_scenario(const Sides& s) {
  const Policy& hi = *s.hi;
  const Policy& lo = *s.lo;
  const Effect e_hi = effect_of(hi, s.hi_scope, "gpu"), e_lo = effect_of(lo, s.lo_scope, "gpu");
  if (!e_lo.limit) return std::nullopt;
  const Amount chunk = node_gpus(hi, s.hi_scope);
  const Capacity cap = pool_capacity(hi, hi.scopes[s.hi_scope].pool, kGpu);
  Amount d = std::min(e_hi.limit ? *e_hi.limit - *e_lo.limit : chunk, chunk);
  if (cap.known && !cap.unbounded) d = std::min(d, cap.amount - *e_lo.limit);
  d -= d % kMilli;
  if (d <= 0) return std::nullopt;
  for (Index q : queues_under(hi, s.hi_scope)) {
    const Index q_lo = same_path(lo, hi, q);
    if (q_lo == kNone || !usable(hi, q) || !usable(lo, q_lo)) continue;
    const Effect q_hi = effect_of(hi, q, "gpu"), q_lo_e = effect_of(lo, q_lo, "gpu");
    if (q_lo_e.limit != e_lo.limit || (q_hi.limit && *q_hi.limit < *e_lo.limit + d)) continue;
    JobWitness w;
    fill(w.running, shape_of(hi, q), *e_lo.limit, chunk);
    w.job = shape_of(hi, q);
    w.job.gpu_milli = d;
    const Outcome worse = d > *e_lo.limit ? Outcome::refused : Outcome::waits;
    w.old_outcome = s.hi_is_new ? worse : Outcome::admitted;
    w.new_outcome = s.hi_is_new ? Outcome::admitted : worse;
    w.reason =
        fmt::format("the limit in effect of {} is {} under {} and {} under {}", quoted(hi.scopes[s.hi_scope].path),
                    e_hi.limit ? format_amount(hi, kGpu, *e_hi.limit) : std::string("unbounded"),
                    s.hi_is_new ? "NEW" : "OLD", format_amount(lo, kGpu, *e_lo.limit), s.hi_is_new ? "OLD" : "NEW");
    return w;
  }
  return std::nullopt;
}

// A scope on one side only: a job to its first queue is refused on the other.
std::optional<JobWitness> presence_scenario(const Policy& p, Index scope, const Policy& other, bool present_in_new) {
  for (Index q : queues_under(p, scope)) {
    if (!usable(p, q) || other.find_scope(p.scopes[q].path)) continue;
    const Amount chunk = node_gpus(p, q);
    const Effect e = effect_of(p, q, "gpu");
    Amount d = std::min(chunk, e.limit.value_or(chunk));
    d -= d % kMilli;
    if (d <= 0) continue;
    JobWitness w;
    w.job = shape_of(p, q);
    w.job.gpu_milli = d;
    w.old_outcome = present_in_new ? Outcome::refused : Outcome::admitted;
    w.new_outcome = present_in_new ? Outcome::admitted : Outcome::refused;
    w.reason = fmt::format("{} is a queue only under {}", quoted(p.scopes[q].path), present_in_new ? "NEW" : "OLD");
    return w;
  }
  return std::nullopt;
}

// The part of the usage state that one side allows and the other does not.
std::vector<Usage> state_for(const Matching& m, const ScopeDiff& d, bool allowed_by_new) {
  for (const ResourceRow& row : d.rows) {
    const Effect& yes = allowed_by_new ? row.new_effect : row.old_effect;
    const Effect& no = allowed_by_new ? row.old_effect : row.new_effect;
    if (within(yes, no)) continue;
    const Policy& p = allowed_by_new ? *m.new_policy : *m.old_policy;
    const Amount unit = resource_index(p, row.resource) == kMemory ? 1 : kMilli;
    Amount used = 0, own = 0;
    if (!no.present) {
      used = yes.limit ? std::min(*yes.limit, unit) : unit;
      own = std::min(used, yes.guarantee);
    } else if (yes.guarantee > no.guarantee) {
      used = own = yes.guarantee;
    } else {
      used = yes.limit ? *yes.limit : (no.limit ? *no.limit + unit : unit);
    }
    return {Usage{d.path, row.resource, amount_text(p, row.resource, used), amount_text(p, row.resource, own)}};
  }
  return {};
}

}  // namespace

std::optional<JobWitness> grant_witness(const Matching& m, const Grant& grant, bool gained) {
  if (grant.permission != "submit" || grant.principal.rfind("user ", 0) != 0) return std::nullopt;
  const auto n = m.new_policy->find_scope(grant.queue);
  if (!n || m.old_of_new[*n] == kNone) return std::nullopt;  // a queue on one side only: its presence says it
  const Policy& p = gained ? *m.new_policy : *m.old_policy;
  const Index q = gained ? *n : m.old_of_new[*n];
  if (kind_of(p, q).empty()) return std::nullopt;
  JobWitness w;
  w.job = shape_of(p, q);
  w.job.queue = p.scopes[q].path;
  w.job.user = grant.principal.substr(5);
  w.job.gpu_milli = kMilli;
  if (const auto limit = effect_of(p, q, "gpu").limit; limit && *limit < kMilli) return std::nullopt;
  w.old_outcome = gained ? Outcome::refused : Outcome::admitted;
  w.new_outcome = gained ? Outcome::admitted : Outcome::refused;
  w.reason = fmt::format("user {} may submit to {} only under {}", quoted(w.job.user), quoted(grant.queue),
                         gained ? "NEW" : "OLD");
  return w;
}

void add_job_witnesses(const Matching& m, Index old_scope, Index new_scope, ScopeDiff& out) {
  if (out.relation == Relation::equivalent) return;
  const Policy& op = *m.old_policy;
  const Policy& np = *m.new_policy;
  for (const bool allowed_by_new : {false, true}) {
    bool differs = false;
    for (const ResourceRow& row : out.rows) {
      if (!within(allowed_by_new ? row.new_effect : row.old_effect, allowed_by_new ? row.old_effect : row.new_effect))
        differs = true;
    }
    if (!differs) continue;
    Witness w;
    w.allowed_by = allowed_by_new ? Side::new_policy : Side::old_policy;
    w.state = state_for(m, out, allowed_by_new);
    if (old_scope == kNone || new_scope == kNone) {
      w.job =
          old_scope == kNone ? presence_scenario(np, new_scope, op, true) : presence_scenario(op, old_scope, np, false);
    } else {
      const Sides s =
          allowed_by_new ? Sides{&np, &op, new_scope, old_scope, true} : Sides{&op, &np, old_scope, new_scope, false};
      if (guarantee_of(*s.hi, s.hi_scope, kGpu) > guarantee_of(*s.lo, s.lo_scope, kGpu)) {
        w.job = guarantee_scenario(s);
      }
      if (!w.job) w.job = limit_scenario(s);
    }
    out.witnesses.push_back(std::move(w));
  }
}

}  // namespace allot::diff::detail

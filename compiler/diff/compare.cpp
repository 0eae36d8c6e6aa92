// compare(): matches the scopes of the two policies, states each scope's
// guarantee and limit in effect before and after, its other settings, the
// grants per queue, the preemption edges between queues and the changes of
// pools, classes, roles and flavors; then asks relation.cpp for the proof of
// the whole policy and witness.cpp for witness jobs.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "compiler/diff/internal.h"
#include "compiler/sema/model_queries.h"

namespace allot::diff {

using namespace model;

const char* to_string(Relation r) {
  switch (r) {
    case Relation::equivalent:
      return "equivalent";
    case Relation::stricter:
      return "stricter";
    case Relation::looser:
      return "looser";
    case Relation::incomparable:
      return "incomparable";
  }
  return "incomparable";
}

const char* to_string(Change c) {
  switch (c) {
    case Change::unchanged:
      return "unchanged";
    case Change::added:
      return "added";
    case Change::removed:
      return "removed";
    case Change::renamed:
      return "renamed";
  }
  return "unchanged";
}

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::admitted:
      return "admitted";
    case Outcome::admitted_preempting:
      return "admitted by preemption";
    case Outcome::waits:
      return "waits";
    case Outcome::refused:
      return "refused";
  }
  return "waits";
}

bool PolicyDiff::changed() const {
  if (relation != Relation::equivalent || !preemption_gained.empty() || !preemption_lost.empty() ||
      !grants_gained.empty() || !grants_lost.empty() || !others.empty() || !unknown.empty()) {
    return true;
  }
  for (const ScopeDiff& s : scopes) {
    if (s.change != Change::unchanged || !s.settings.empty() || s.relation != Relation::equivalent) return true;
  }
  return false;
}

namespace detail {

Index resource_index(const Policy& policy, const std::string& name) {
  for (Index r = 0; r < policy.resources.size(); ++r) {
    if (policy.resources[r].name == name) return r;
  }
  return kNone;
}

std::string amount_text(const Policy& policy, const std::string& resource, Amount amount) {
  const Index r = resource_index(policy, resource);
  return r == kNone ? fmt::format("{} {}", amount, resource) : format_amount(policy, r, amount);
}

Effect effect_of(const Policy& policy, Index scope, const std::string& resource) {
  Effect e;
  if (scope == kNone || scope >= policy.scopes.size()) return e;
  e.present = true;
  const Index r = resource_index(policy, resource);
  if (r == kNone) return e;  // the policy does not know the resource: nothing bounds it
  e.guarantee = guarantee_of(policy, scope, r);
  // The smallest limit on the path to the root, then the pool's capacity.
  for (Index s = scope; s != kNone && s < policy.scopes.size(); s = policy.scopes[s].parent) {
    const Bound* b = bound_of(policy, s, r);
    if (b && b->limit && (!e.limit || *b->limit < *e.limit)) e.limit = b->limit;
    if (policy.scopes[s].parent == kNone) {
      const Capacity cap = pool_capacity(policy, policy.scopes[s].pool, r);
      if (cap.known && !cap.unbounded && (!e.limit || cap.amount < *e.limit)) e.limit = cap.amount;
    }
  }
  return e;
}

bool within(const Effect& inner, const Effect& outer) {
  if (!inner.present) return true;  // only the empty state
  if (!outer.present) return inner.limit == Amount{0};
  if (inner.guarantee > outer.guarantee) return false;
  if (!outer.limit) return true;
  return inner.limit && *inner.limit <= *outer.limit;
}

Relation relation_of(bool new_within_old, bool old_within_new) {
  if (new_within_old && old_within_new) return Relation::equivalent;
  if (new_within_old) return Relation::stricter;
  if (old_within_new) return Relation::looser;
  return Relation::incomparable;
}

namespace {

bool same_effects(const Matching& m, Index o, Index n) {
  for (const std::string& r : m.resources) {
    Effect a = effect_of(*m.old_policy, o, r), b = effect_of(*m.new_policy, n, r);
    if (!(a == b)) return false;
  }
  return true;
}

}  // namespace

Matching match(const Policy& old_policy, const Policy& new_policy) {
  Matching m;
  m.old_policy = &old_policy;
  m.new_policy = &new_policy;
  m.old_of_new.assign(new_policy.scopes.size(), kNone);
  m.new_of_old.assign(old_policy.scopes.size(), kNone);
  for (const Policy* p : {&old_policy, &new_policy}) {
    for (const Resource& r : p->resources) {
      if (std::find(m.resources.begin(), m.resources.end(), r.name) != m.resources.end()) continue;
      bool bounded = r.name == "gpu";
      for (Index s = 0; s < p->scopes.size() && !bounded; ++s) {
        const Index ri = resource_index(*p, r.name);
        bounded = bound_of(*p, s, ri) != nullptr;
      }
      if (bounded) m.resources.push_back(r.name);
    }
  }
  std::map<std::string, Index> old_by_path, new_by_path;
  for (Index i = 0; i < old_policy.scopes.size(); ++i) old_by_path[old_policy.scopes[i].path] = i;
  for (Index i = 0; i < new_policy.scopes.size(); ++i) new_by_path[new_policy.scopes[i].path] = i;
  auto pair = [&](Index o, Index n) {
    m.old_of_new[n] = o;
    m.new_of_old[o] = n;
  };
  // Parents come before children in both policies, so one pass in the new
  // policy's order sees each parent matched before its children.
  for (Index n = 0; n < new_policy.scopes.size(); ++n) {
    const Scope& ns = new_policy.scopes[n];
    if (auto it = old_by_path.find(ns.path);
        it != old_by_path.end() && m.new_of_old[it->second] == kNone && old_policy.scopes[it->second].kind == ns.kind) {
      pair(it->second, n);
      continue;
    }
    const Index old_parent = ns.parent == kNone ? kNone : m.old_of_new[ns.parent];
    if (ns.parent != kNone && old_parent == kNone) continue;  // under an added scope
    // The children of the old parent (or the old roots), unmatched, of the same kind.
    std::vector<Index> candidates;
    if (old_parent == kNone) {
      for (Index o = 0; o < old_policy.scopes.size(); ++o) {
        if (old_policy.scopes[o].parent == kNone) candidates.push_back(o);
      }
    } else {
      candidates = old_policy.scopes[old_parent].children;
    }
    Index by_name = kNone, by_effect = kNone;
    for (Index o : candidates) {
      const Scope& os = old_policy.scopes[o];
      if (m.new_of_old[o] != kNone || os.kind != ns.kind) continue;
      if (new_by_path.count(os.path) != 0) continue;  // it is still there under its own path
      if (os.name == ns.name && by_name == kNone) by_name = o;
      if (by_effect == kNone && same_effects(m, o, n)) by_effect = o;
    }
    if (by_name != kNone) {
      pair(by_name, n);
    } else if (by_effect != kNone) {
      pair(by_effect, n);
    }
  }
  return m;
}

namespace {

std::string kinds_text(WorkloadSet set) {
  std::vector<std::string> names;
  for (WorkloadKind k : {WorkloadKind::inference, WorkloadKind::training, WorkloadKind::development}) {
    if (set & static_cast<WorkloadSet>(k)) names.push_back(to_string(k));
  }
  return "[" + fmt::format("{}", fmt::join(names, ", ")) + "]";
}

std::string class_name(const Policy& p, Index c) { return c < p.priorities.size() ? p.priorities[c].name : "none"; }

std::string billing_text(const Policy& p, const Billing& b) {
  static constexpr const char* kMode[] = {"subscription", "pay_as_you_go", "hybrid"};
  std::string text = kMode[static_cast<int>(b.mode)];
  if (b.mode != BillingMode::pay_as_you_go) text += fmt::format(" {}mo", b.term_months);
  if (b.auto_renew) text += " auto_renew";
  for (Index r = 0; r < b.ceiling.size(); ++r) {
    if (!b.ceiling[r]) continue;
    const Bound& c = *b.ceiling[r];
    text += " ceiling " + format_amount(p, r, c.limit ? *c.limit : c.guarantee);
  }
  return text;
}

// The settings of a scope other than its bounds, as name -> value text.
std::map<std::string, std::string> settings_of(const Policy& p, Index i) {
  const Scope& s = p.scopes[i];
  std::map<std::string, std::string> out;
  static constexpr const char* kReclaim[] = {"any", "lower_priority", "never"};
  out["pool"] = s.pool < p.pools.size() ? p.pools[s.pool].name : "none";
  out["reclaim"] = kReclaim[static_cast<int>(s.reclaim)];
  out["borrow_within"] = s.borrow_within.enabled
                             ? (s.borrow_within.max_priority == kNone
                                    ? std::string("lower_priority")
                                    : "lower_priority max " + class_name(p, s.borrow_within.max_priority))
                             : "never";
  std::vector<std::string> roles;
  for (Index r : s.roles) roles.push_back(r < p.roles.size() ? p.roles[r].name : "?");
  std::sort(roles.begin(), roles.end());
  out["roles"] = "[" + fmt::format("{}", fmt::join(roles, ", ")) + "]";
  if (s.billing) out["billing"] = billing_text(p, *s.billing);
  for (Index r = 0; r < s.bounds.size(); ++r) {
    if (s.bounds[r] && s.bounds[r]->lend) out["lend " + resource_name(p, r)] = format_amount(p, r, *s.bounds[r]->lend);
  }
  if (s.kind == ScopeKind::quota) out["child_preemption"] = s.child_preemption ? "true" : "false";
  if (s.kind == ScopeKind::queue) {
    static constexpr const char* kWithin[] = {"by_class", "never", "lower_priority", "lower_or_newer_equal_priority"};
    out["priority"] = class_name(p, s.default_priority);
    out["preemptible"] = s.preemptible ? "true" : "false";
    out["grace_period"] = fmt::format("{}ms", s.grace_period_ms);
    out["on_preempt"] = s.on_preempt == OnPreempt::requeue ? "requeue" : "cancel";
    out["accepts"] = kinds_text(s.accepts);
    out["gpu_sharing"] = s.gpu_sharing ? "true" : "false";
    out["preemption"] = kWithin[static_cast<int>(s.within_queue)];
  }
  return out;
}

// `key`: `a` -> `b` for every key whose value differs (a missing key is `none`).
std::vector<std::string> changed_settings(const std::map<std::string, std::string>& a,
                                          const std::map<std::string, std::string>& b) {
  std::set<std::string> keys;
  for (const auto& [k, v] : a) keys.insert(k);
  for (const auto& [k, v] : b) keys.insert(k);
  std::vector<std::string> out;
  for (const std::string& k : keys) {
    const auto ia = a.find(k), ib = b.find(k);
    const std::string va = ia == a.end() ? "none" : ia->second, vb = ib == b.end() ? "none" : ib->second;
    if (va != vb) out.push_back(fmt::format("`{}`: {} -> {}", k, va, vb));
  }
  return out;
}

std::string bound_text(const Policy& p, const std::string& resource, const Effect& e) {
  if (!e.present) return "-";
  std::string g = amount_text(p, resource, e.guarantee);
  if (!e.limit) return g + "..";
  if (*e.limit == e.guarantee) return g;
  const Index r = resource_index(p, resource);
  const std::string lim = r == kNone ? std::to_string(*e.limit) : format_quantity(p, r, *e.limit);
  const std::string gq = r == kNone ? std::to_string(e.guarantee) : format_quantity(p, r, e.guarantee);
  return fmt::format("{}..{} {}", gq, lim, resource);
}

ScopeDiff scope_diff(const Matching& m, Index o, Index n) {
  const Policy& op = *m.old_policy;
  const Policy& np = *m.new_policy;
  ScopeDiff d;
  const Scope& any = n != kNone ? np.scopes[n] : op.scopes[o];
  d.path = any.path;
  d.kind = to_string(any.kind);
  const Policy& side = n != kNone ? np : op;
  const Index parent = any.parent;
  if (parent != kNone) {
    // A removed scope's parent may live on in the new policy under another path.
    const Index parent_new = n != kNone ? parent : m.new_of_old[parent];
    d.parent = parent_new != kNone ? np.scopes[parent_new].path : side.scopes[parent].path;
  }
  if (o == kNone) d.change = Change::added;
  if (n == kNone) d.change = Change::removed;
  if (o != kNone && n != kNone && op.scopes[o].path != np.scopes[n].path) {
    d.change = Change::renamed;
    d.renamed_from = op.scopes[o].path;
  }
  bool new_in_old = true, old_in_new = true;
  for (const std::string& r : m.resources) {
    ResourceRow row;
    row.resource = r;
    row.old_effect = effect_of(op, o, r);
    row.new_effect = effect_of(np, n, r);
    row.old_text = bound_text(op, r, row.old_effect);
    row.new_text = bound_text(np, r, row.new_effect);
    new_in_old = new_in_old && within(row.new_effect, row.old_effect);
    old_in_new = old_in_new && within(row.old_effect, row.new_effect);
    d.rows.push_back(std::move(row));
  }
  d.relation = relation_of(new_in_old, old_in_new);
  if (o != kNone && n != kNone) d.settings = changed_settings(settings_of(op, o), settings_of(np, n));
  return d;
}

// ---- grants and preemption edges ---------------------------------------------

std::set<Grant> grants_of(const Matching& m, bool old_side) {
  const Policy& p = old_side ? *m.old_policy : *m.new_policy;
  std::set<Grant> out;
  static constexpr std::pair<Permission, const char*> kPermissions[] = {
      {kSubmit, "submit"}, {kList, "list"}, {kCancel, "cancel"}, {kAdmin, "admin"}};
  for (Index q = 0; q < p.scopes.size(); ++q) {
    if (p.scopes[q].kind != ScopeKind::queue) continue;
    // The path the queue has in the new policy, so that a rename alone changes no grant.
    const Index n = old_side ? m.new_of_old[q] : q;
    const std::string queue = n != kNone ? m.new_policy->scopes[n].path : p.scopes[q].path;
    for (Index s = q; s != kNone; s = p.scopes[s].parent) {
      for (Index r : p.scopes[s].roles) {
        if (r >= p.roles.size()) continue;
        const Role& role = p.roles[r];
        for (const auto& [bit, name] : kPermissions) {
          if (!(role.permissions & bit)) continue;
          for (const std::string& u : role.users) out.insert(Grant{queue, "user " + u, name});
          for (const std::string& g : role.groups) out.insert(Grant{queue, "group " + g, name});
        }
      }
    }
  }
  return out;
}

Index nearest_quota(const Policy& p, Index s) {
  for (; s != kNone; s = p.scopes[s].parent) {
    if (p.scopes[s].kind == ScopeKind::quota) return s;
  }
  return kNone;
}

bool under(const Policy& p, Index s, Index ancestor) {
  for (; s != kNone; s = p.scopes[s].parent) {
    if (s == ancestor) return true;
  }
  return false;
}

std::vector<Index> path_of(const Policy& p, Index s) {
  std::vector<Index> path;
  for (; s != kNone; s = p.scopes[s].parent) path.push_back(s);
  std::reverse(path.begin(), path.end());
  return path;
}

// Whether a scope on `path` from index `from` downwards guarantees anything.
bool guarantees_below(const Policy& p, const std::vector<Index>& path, std::size_t from) {
  for (std::size_t i = from; i < path.size(); ++i) {
    for (const auto& b : p.scopes[path[i]].bounds) {
      if (b && b->guarantee > 0) return true;
    }
  }
  return false;
}

std::int64_t priority_value(const Policy& p, Index queue) {
  const Index c = p.scopes[queue].default_priority;
  return c < p.priorities.size() ? p.priorities[c].value : 0;
}

// The edges of rules R1, R2 and R4 (docs/scheduling.md) that the structure
// permits: a queue whose jobs may, in some usage state, preempt jobs of
// another queue. Named by the queues' new paths.
std::set<PreemptionEdge> edges_of(const Matching& m, bool old_side) {
  const Policy& p = old_side ? *m.old_policy : *m.new_policy;
  auto name = [&](Index q) {
    const Index n = old_side ? m.new_of_old[q] : q;
    return n != kNone ? m.new_policy->scopes[n].path : p.scopes[q].path;
  };
  std::vector<Index> queues;
  for (Index i = 0; i < p.scopes.size(); ++i) {
    if (p.scopes[i].kind == ScopeKind::queue) queues.push_back(i);
  }
  std::set<PreemptionEdge> out;
  for (Index a : queues) {
    const Scope& qa = p.scopes[a];
    const Index own_quota = nearest_quota(p, a);
    const std::vector<Index> pa = path_of(p, a);
    for (Index b : queues) {
      const Scope& qb = p.scopes[b];
      if (a == b || !qb.preemptible || qa.pool != qb.pool) continue;
      const Index victim_quota = nearest_quota(p, b);
      const bool victim_is_own_of_cp = victim_quota != kNone && p.scopes[victim_quota].child_preemption;
      // R1: an own job of a quota with child_preemption, against its sub-quotas.
      if (own_quota != kNone && p.scopes[own_quota].child_preemption && victim_quota != own_quota &&
          under(p, b, own_quota)) {
        out.insert({name(a), name(b), "child_preemption"});
      }
      const std::vector<Index> pb = path_of(p, b);
      std::size_t meet = 0;  // the first index where the paths part
      while (meet < pa.size() && meet < pb.size() && pa[meet] == pb[meet]) ++meet;
      if (meet >= pa.size() || meet >= pb.size()) continue;
      // R2: inside a guarantee at S, against borrowed work at T.
      const bool reclaim_allowed = qa.reclaim == ReclaimPolicy::any || (qa.reclaim == ReclaimPolicy::lower_priority &&
                                                                        priority_value(p, b) < priority_value(p, a));
      const bool preemptor_in_sub_quota = victim_is_own_of_cp && under(p, a, victim_quota) && own_quota != victim_quota;
      if (reclaim_allowed && guarantees_below(p, pa, meet) && guarantees_below(p, pb, meet) &&
          !preemptor_in_sub_quota) {
        out.insert({name(a), name(b), "reclaim_guarantee"});
      }
      // R4: higher priority while borrowing, against borrowed work.
      if (qa.borrow_within.enabled && priority_value(p, a) > priority_value(p, b) && !victim_is_own_of_cp &&
          (qa.borrow_within.max_priority == kNone ||
           priority_value(p, b) <= p.priorities[qa.borrow_within.max_priority].value)) {
        out.insert({name(a), name(b), "borrow_within"});
      }
    }
  }
  return out;
}

template <typename T>
std::vector<T> minus(const std::set<T>& a, const std::set<T>& b) {
  std::vector<T> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

// ---- pools, classes, roles, flavors --------------------------------------------

std::map<std::string, std::string> pool_settings(const Policy& p, const Pool& pool) {
  std::map<std::string, std::string> out;
  out["type"] = pool.type == PoolType::shared ? "shared" : "dedicated";
  out["hosts"] = kinds_text(pool.hosts);
  out["billing"] = billing_text(p, pool.billing);
  static constexpr const char* kPlacement[] = {"best_fit", "first_fit", "spread", "fgd"};
  out["placement"] = kPlacement[static_cast<int>(pool.placement)];
  std::vector<std::string> nodes;
  for (const NodeGroup& g : pool.node_groups) {
    nodes.push_back(fmt::format("{} x {}", g.count, g.flavor < p.flavors.size() ? p.flavors[g.flavor].name : "?"));
  }
  for (const NamedNode& n : pool.nodes) nodes.push_back(n.name);
  out["nodes"] = fmt::format("{}", fmt::join(nodes, ", "));
  for (Index r = 0; r < p.resources.size(); ++r) {
    const Capacity c = pool_capacity(p, static_cast<Index>(&pool - p.pools.data()), r);
    if (c.known) out["capacity " + p.resources[r].name] = c.unbounded ? "unbounded" : format_amount(p, r, c.amount);
  }
  return out;
}

template <typename Item, typename Settings>
void diff_named(const std::string& kind, const std::vector<Item>& a, const std::vector<Item>& b, Settings settings,
                std::vector<NamedChange>& out) {
  std::vector<bool> used(b.size(), false);
  std::vector<const Item*> removed;
  for (const Item& x : a) {
    auto it = std::find_if(b.begin(), b.end(), [&](const Item& y) { return y.name == x.name; });
    if (it == b.end()) {
      removed.push_back(&x);
      continue;
    }
    used[static_cast<std::size_t>(it - b.begin())] = true;
    std::vector<std::string> details = changed_settings(settings(true, x), settings(false, *it));
    if (!details.empty()) out.push_back({kind, x.name, Change::unchanged, "", std::move(details)});
  }
  // An added item with the settings of a removed one is a rename.
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (used[i]) continue;
    auto r = std::find_if(removed.begin(), removed.end(),
                          [&](const Item* x) { return x && settings(true, *x) == settings(false, b[i]); });
    if (r != removed.end()) {
      out.push_back({kind, b[i].name, Change::renamed, (*r)->name, {}});
      *r = nullptr;
    } else {
      out.push_back({kind, b[i].name, Change::added, "", {}});
    }
  }
  for (const Item* x : removed) {
    if (x) out.push_back({kind, x->name, Change::removed, "", {}});
  }
}

}  // namespace
}  // namespace detail

PolicyDiff compare(const Policy& old_policy, const Policy& new_policy, const Options& options) {
  using namespace detail;
  PolicyDiff out;
  const Matching m = match(old_policy, new_policy);
  for (Index n = 0; n < new_policy.scopes.size(); ++n) {
    ScopeDiff d = scope_diff(m, m.old_of_new[n], n);
    add_job_witnesses(m, m.old_of_new[n], n, d);
    out.scopes.push_back(std::move(d));
  }
  for (Index o = 0; o < old_policy.scopes.size(); ++o) {
    if (m.new_of_old[o] != kNone) continue;
    ScopeDiff d = scope_diff(m, o, kNone);
    add_job_witnesses(m, o, kNone, d);
    out.scopes.push_back(std::move(d));
  }

  diff_named(
      "pool", old_policy.pools, new_policy.pools,
      [&](bool old_side, const Pool& pool) { return pool_settings(old_side ? old_policy : new_policy, pool); },
      out.others);
  diff_named(
      "priority", old_policy.priorities, new_policy.priorities,
      [&](bool old_side, const PriorityClass& c) {
        const Policy& p = old_side ? old_policy : new_policy;
        std::vector<std::string> names;
        for (Index v : c.preempts) names.push_back(v < p.priorities.size() ? p.priorities[v].name : "?");
        std::sort(names.begin(), names.end());
        return std::map<std::string, std::string>{{"value", std::to_string(c.value)},
                                                  {"preempts", fmt::format("[{}]", fmt::join(names, ", "))}};
      },
      out.others);
  diff_named(
      "role", old_policy.roles, new_policy.roles,
      [&](bool, const Role& r) {
        std::vector<std::string> users = r.users, groups = r.groups, perms;
        std::sort(users.begin(), users.end());
        std::sort(groups.begin(), groups.end());
        for (const auto& [bit, name] : {std::pair{kSubmit, "submit"}, std::pair{kList, "list"},
                                        std::pair{kCancel, "cancel"}, std::pair{kAdmin, "admin"}}) {
          if (r.permissions & bit) perms.push_back(name);
        }
        return std::map<std::string, std::string>{{"users", fmt::format("[{}]", fmt::join(users, ", "))},
                                                  {"groups", fmt::format("[{}]", fmt::join(groups, ", "))},
                                                  {"permissions", fmt::format("[{}]", fmt::join(perms, ", "))}};
      },
      out.others);
  diff_named(
      "flavor", old_policy.flavors, new_policy.flavors,
      [&](bool, const Flavor& f) {
        return std::map<std::string, std::string>{{"gpu_model", f.gpu_model},
                                                  {"gpus", std::to_string(f.gpus)},
                                                  {"gpu_memory", std::to_string(f.gpu_memory) + "MiB"},
                                                  {"cpu", std::to_string(f.cpu) + "m"},
                                                  {"memory", std::to_string(f.memory) + "MiB"},
                                                  {"interconnect", std::to_string(f.interconnect)}};
      },
      out.others);

  const std::set<PreemptionEdge> old_edges = edges_of(m, true), new_edges = edges_of(m, false);
  out.preemption_gained = minus(new_edges, old_edges);
  out.preemption_lost = minus(old_edges, new_edges);
  const std::set<Grant> old_grants = grants_of(m, true), new_grants = grants_of(m, false);
  out.grants_gained = minus(new_grants, old_grants);
  out.grants_lost = minus(old_grants, new_grants);
  for (const bool gained : {false, true}) {
    for (const Grant& g : gained ? out.grants_gained : out.grants_lost) {
      if (auto w = grant_witness(m, g, gained)) out.grant_witnesses.push_back(std::move(*w));
    }
  }

  prove_policy(m, options, out);
  return out;
}

}  // namespace allot::diff

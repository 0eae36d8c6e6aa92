#include "compiler/plan/migration.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <tuple>

#include "compiler/base/codes.h"
#include "compiler/sema/model_queries.h"

namespace allot::plan {

using namespace model;

const char* to_string(StepAction action) {
  switch (action) {
    case StepAction::drain:
      return "drain";
    case StepAction::remove:
      return "delete";
    case StepAction::shrink:
      return "shrink";
    case StepAction::grow:
      return "grow";
    case StepAction::create:
      return "create";
    case StepAction::update:
      return "update";
  }
  return "?";
}

std::string format_bound(const Policy& policy, Index resource, const std::optional<StepBound>& bound) {
  if (!bound) return "none";
  const std::string g = model::format_quantity(policy, resource, bound->guarantee);
  if (!bound->limit) return g + "..";
  if (*bound->limit == bound->guarantee) return g;
  return g + ".." + model::format_quantity(policy, resource, *bound->limit);
}

namespace {

constexpr Amount kInfinite = std::numeric_limits<Amount>::max();

struct WorkScope {
  std::string path;
  const Scope* deployed = nullptr;
  const Scope* next = nullptr;
  bool exists = false;
  std::vector<std::optional<StepBound>> bounds;  // by resource of `next`
  int depth = 0;
  std::size_t order = 0;
};

struct WorkPool {
  std::string name;
  const Pool* deployed = nullptr;
  const Pool* next = nullptr;
  int version = 0;  // 0 absent, 1 deployed, 2 next
};

// The state between the two policies: which scopes exist with which bounds,
// which version of each pool is in force.
class World {
 public:
  World(const Policy& deployed, const Policy& next) : deployed_(&deployed), next_(&next) {
    resources_ = std::max<std::size_t>(4, next.resources.size());
    for (Index r = 0; r < deployed.resources.size(); ++r) {
      Index mapped = kNone;
      for (Index q = 0; q < next.resources.size(); ++q) {
        if (next.resources[q].name == deployed.resources[r].name) mapped = q;
      }
      if (next.resources.empty() && r < 4) mapped = r;
      resource_map_.push_back(mapped);
    }
    for (const Scope& s : next.scopes) add_scope(s.path, nullptr, &s);
    // A renamed scope (`renamed_from`) is the same scope under its new path.
    std::map<std::string, std::string> renamed;
    for (Index n = 0; n < next.scopes.size(); ++n) {
      std::string before = model::previous_path(next, n);
      if (before != next.scopes[n].path && !deployed.find_scope(next.scopes[n].path))
        renamed.emplace(std::move(before), next.scopes[n].path);
    }
    for (const Scope& s : deployed.scopes) {
      const auto it = renamed.find(s.path);
      add_scope(it == renamed.end() ? s.path : it->second, &s, nullptr);
    }
    for (WorkScope& w : scopes_) {
      if (w.deployed) {
        w.exists = true;
        w.bounds = bounds_of_deployed(*w.deployed);
      } else {
        w.bounds.assign(resources_, std::nullopt);
      }
      const Scope& s = w.next ? *w.next : *w.deployed;
      const Policy& p = w.next ? next : deployed;
      for (Index a = s.parent; a != kNone && a < p.scopes.size(); a = p.scopes[a].parent) ++w.depth;
    }
    for (const Pool& p : next.pools) add_pool(p.name, nullptr, &p);
    for (const Pool& p : deployed.pools) add_pool(p.name, &p, nullptr);
    for (WorkPool& w : pools_) {
      if (!w.deployed) {
        w.version = 0;
      } else if (w.next && same_capacity(w)) {
        w.version = 2;
      } else {
        w.version = 1;
      }
    }
  }

  std::vector<std::optional<StepBound>> bounds_of_deployed(const Scope& s) const {
    std::vector<std::optional<StepBound>> out(resources_);
    for (Index r = 0; r < s.bounds.size() && r < resource_map_.size(); ++r) {
      if (!s.bounds[r] || resource_map_[r] == kNone || resource_map_[r] >= resources_) continue;
      out[resource_map_[r]] = StepBound{s.bounds[r]->guarantee, s.bounds[r]->limit};
    }
    return out;
  }
  static std::vector<std::optional<StepBound>> bounds_of_next(const Scope& s, std::size_t resources) {
    std::vector<std::optional<StepBound>> out(resources);
    for (Index r = 0; r < s.bounds.size() && r < resources; ++r) {
      if (s.bounds[r]) out[r] = StepBound{s.bounds[r]->guarantee, s.bounds[r]->limit};
    }
    return out;
  }

  bool same_capacity(const WorkPool& w) const {
    const Index d = static_cast<Index>(w.deployed - deployed_->pools.data());
    const Index n = static_cast<Index>(w.next - next_->pools.data());
    for (Index r : {kGpu, kCpu, kMemory}) {
      const model::Capacity a = model::pool_capacity(*deployed_, d, r), b = model::pool_capacity(*next_, n, r);
      if (a.known != b.known || a.unbounded != b.unbounded || a.amount != b.amount || a.fixed != b.fixed) return false;
    }
    return true;
  }

  std::vector<WorkScope>& scopes() { return scopes_; }
  const std::vector<WorkScope>& scopes() const { return scopes_; }
  std::vector<WorkPool>& pools() { return pools_; }
  std::size_t resources() const { return resources_; }
  WorkScope* scope(const std::string& path) {
    const auto it = by_path_.find(path);
    return it == by_path_.end() ? nullptr : &scopes_[it->second];
  }
  WorkPool* pool(const std::string& name) {
    for (WorkPool& p : pools_) {
      if (p.name == name) return &p;
    }
    return nullptr;
  }
  std::string parent_path(const WorkScope& w) const {
    const Scope& s = w.next ? *w.next : *w.deployed;
    const Policy& p = w.next ? *next_ : *deployed_;
    return s.parent == kNone ? std::string() : p.scopes[s.parent].path;
  }
  std::string pool_name(const WorkScope& w) const {
    const Scope& s = w.next ? *w.next : *w.deployed;
    const Policy& p = w.next ? *next_ : *deployed_;
    return s.pool < p.pools.size() ? p.pools[s.pool].name : std::string();
  }

  void apply(const Step& step) {
    if (step.kind == "node") return;  // a drain of a leaving node changes no bound
    if (step.kind == "pool") {
      WorkPool* p = pool(step.target);
      if (!p) return;
      p->version = step.action == StepAction::remove ? 0 : 2;
      return;
    }
    WorkScope* w = scope(step.target);
    if (!w) return;
    if (step.action == StepAction::remove) {
      w->exists = false;
      return;
    }
    if (step.action == StepAction::create) w->exists = true;
    for (const BoundChange& c : step.changes) {
      if (c.resource < w->bounds.size()) w->bounds[c.resource] = c.to;
    }
  }

  // The policy of this state, in the resources of `next`.
  Policy materialize() const {
    Policy p;
    p.resources = next_->resources;
    p.flavors = next_->flavors;
    const Index flavor_offset = static_cast<Index>(p.flavors.size());
    p.flavors.insert(p.flavors.end(), deployed_->flavors.begin(), deployed_->flavors.end());
    p.roles = next_->roles;
    p.priorities = next_->priorities;
    std::map<std::string, Index> pool_index;
    for (const WorkPool& w : pools_) {
      if (w.version == 0) continue;
      Pool pool = w.version == 2 ? *w.next : *w.deployed;
      if (w.version == 1) {
        for (NodeGroup& g : pool.node_groups) g.flavor = g.flavor == kNone ? kNone : g.flavor + flavor_offset;
        for (NamedNode& n : pool.nodes) n.flavor = n.flavor == kNone ? kNone : n.flavor + flavor_offset;
      }
      pool_index[w.name] = static_cast<Index>(p.pools.size());
      p.pools.push_back(std::move(pool));
    }
    std::map<std::string, Index> index;
    for (const WorkScope& w : scopes_) {
      if (!w.exists) continue;
      Scope s = w.next ? *w.next : *w.deployed;
      if (!w.next) {
        s.roles.clear();
        s.default_priority = kNone;
      }
      s.children.clear();
      const std::string parent = parent_path(w);
      s.parent = kNone;
      if (!parent.empty()) {
        const auto it = index.find(parent);
        if (it == index.end()) continue;  // parent gone: not materialised
        s.parent = it->second;
      }
      const auto pit = pool_index.find(pool_name(w));
      s.pool = pit == pool_index.end() ? kNone : pit->second;
      const Bounds original = s.bounds;
      s.bounds.assign(resources_, std::nullopt);
      for (Index r = 0; r < resources_; ++r) {
        if (!w.bounds[r]) continue;
        Bound b;
        b.guarantee = w.bounds[r]->guarantee;
        b.limit = w.bounds[r]->limit;
        if (w.next && r < w.next->bounds.size() && w.next->bounds[r]) {
          const Bound& n = *w.next->bounds[r];
          b.range = n.range;
          // The new lending limit, within the guarantee of this state.
          if (n.lend) b.lend = std::min(*n.lend, b.guarantee);
          b.lend_range = n.lend_range;
        } else if (!w.next) {
          for (Index d = 0; d < w.deployed->bounds.size() && d < resource_map_.size(); ++d) {
            if (resource_map_[d] == r && w.deployed->bounds[d] && w.deployed->bounds[d]->lend)
              b.lend = std::min(*w.deployed->bounds[d]->lend, b.guarantee);
          }
        }
        s.bounds[r] = b;
      }
      (void)original;
      const Index me = static_cast<Index>(p.scopes.size());
      index[w.path] = me;
      if (s.parent != kNone) p.scopes[s.parent].children.push_back(me);
      p.scopes.push_back(std::move(s));
    }
    return p;
  }

 private:
  void add_scope(const std::string& path, const Scope* deployed, const Scope* next) {
    const auto it = by_path_.find(path);
    if (it != by_path_.end()) {
      if (deployed) scopes_[it->second].deployed = deployed;
      return;
    }
    WorkScope w;
    w.path = path;
    w.deployed = deployed;
    w.next = next;
    w.order = scopes_.size();
    by_path_[path] = scopes_.size();
    scopes_.push_back(std::move(w));
  }
  void add_pool(const std::string& name, const Pool* deployed, const Pool* next) {
    for (WorkPool& p : pools_) {
      if (p.name == name) {
        if (deployed) p.deployed = deployed;
        return;
      }
    }
    pools_.push_back(WorkPool{name, deployed, next, 0});
  }

  const Policy* deployed_;
  const Policy* next_;
  std::size_t resources_ = 4;
  std::vector<Index> resource_map_;
  std::vector<WorkScope> scopes_;
  std::map<std::string, std::size_t> by_path_;
  std::vector<WorkPool> pools_;
};

struct Op {
  Step step;
  int phase = 0;  // the order of kinds of steps
  int depth = 0;
  std::size_t order = 0;
};

StepBound normal(const std::optional<StepBound>& b) {
  if (!b) return StepBound{0, kInfinite};
  return StepBound{b->guarantee, b->limit ? *b->limit : kInfinite};
}
std::optional<StepBound> denormal(const StepBound& b) {
  return StepBound{b.guarantee, b.limit == kInfinite ? std::nullopt : std::optional<Amount>(b.limit)};
}

std::vector<std::string> changed_fields(const Policy& deployed, const Scope& a, const Policy& next, const Scope& b) {
  std::vector<std::string> out;
  auto names = [](const Policy& p, const std::vector<Index>& roles) {
    std::vector<std::string> n;
    for (Index r : roles) n.push_back(r < p.roles.size() ? p.roles[r].name : "");
    std::sort(n.begin(), n.end());
    return n;
  };
  auto priority = [](const Policy& p, Index i) { return i < p.priorities.size() ? p.priorities[i].name : ""; };
  auto pool = [](const Policy& p, Index i) { return i < p.pools.size() ? p.pools[i].name : ""; };
  if (a.path != b.path) out.push_back("name");  // renamed, or below a renamed scope
  if (pool(deployed, a.pool) != pool(next, b.pool)) out.push_back("pool");
  if (names(deployed, a.roles) != names(next, b.roles)) out.push_back("roles");
  if (a.child_preemption != b.child_preemption) out.push_back("child_preemption");
  if (priority(deployed, a.default_priority) != priority(next, b.default_priority)) out.push_back("priority");
  if (a.preemptible != b.preemptible) out.push_back("preemptible");
  if (a.grace_period_ms != b.grace_period_ms) out.push_back("grace_period");
  if (a.on_preempt != b.on_preempt) out.push_back("on_preempt");
  if (a.accepts != b.accepts) out.push_back("accepts");
  if (a.gpu_sharing != b.gpu_sharing) out.push_back("gpu_sharing");
  // Lending limits by resource name: resource indices may differ between the
  // two policies.
  auto lends = [](const Policy& p, const Scope& s) {
    std::map<std::string, Amount> l;
    for (Index r = 0; r < s.bounds.size(); ++r) {
      if (s.bounds[r] && s.bounds[r]->lend) l[model::resource_name(p, r)] = *s.bounds[r]->lend;
    }
    return l;
  };
  if (lends(deployed, a) != lends(next, b)) out.push_back("lend");
  if (a.reclaim != b.reclaim) out.push_back("reclaim");
  if (a.borrow_within.enabled != b.borrow_within.enabled ||
      priority(deployed, a.borrow_within.max_priority) != priority(next, b.borrow_within.max_priority))
    out.push_back("borrow_within");
  if (a.within_queue != b.within_queue) out.push_back("preemption");
  if (a.weight_milli != b.weight_milli) out.push_back("weight");
  return out;
}

std::string describe(const Policy& next, const Step& step) {
  std::string text = fmt::format("{} {} `{}`", to_string(step.action), step.kind, step.target);
  for (const BoundChange& c : step.changes) {
    text += fmt::format(" {} {} -> {}", model::resource_name(next, c.resource), format_bound(next, c.resource, c.from),
                        format_bound(next, c.resource, c.to));
  }
  return text;
}

SourceRange scope_range(const Policy& p, const std::string& path, Index resource) {
  const std::optional<Index> s = p.find_scope(path);
  if (!s) return {};
  return resource == kNone ? (p.scopes[*s].name_range.valid() ? p.scopes[*s].name_range : p.scopes[*s].range)
                           : model::bound_range(p, *s, resource);
}

std::vector<Op> pending_ops(World& world, const Policy& deployed, const Policy& next) {
  std::vector<Op> ops;
  const std::size_t resources = world.resources();
  for (const WorkScope& w : world.scopes()) {
    const std::string kind = to_string((w.next ? w.next : w.deployed)->kind);
    if (w.deployed && w.next) {
      const std::vector<std::optional<StepBound>> from = w.bounds;
      const std::vector<std::optional<StepBound>> to = World::bounds_of_next(*w.next, resources);
      Step shrink{StepAction::shrink, kind, w.path, {}, {}};
      Step grow{StepAction::grow, kind, w.path, {}, {}};
      for (Index r = 0; r < resources; ++r) {
        if (from[r] == to[r]) continue;
        const StepBound o = normal(from[r]), n = normal(to[r]);
        const StepBound mid{std::min(o.guarantee, n.guarantee), std::min(o.limit, n.limit)};
        if (mid == o) {
          grow.changes.push_back({r, from[r], to[r]});
        } else if (mid == n) {
          shrink.changes.push_back({r, from[r], to[r]});
        } else {
          shrink.changes.push_back({r, from[r], denormal(mid)});
          grow.changes.push_back({r, denormal(mid), to[r]});
        }
      }
      if (!shrink.changes.empty()) ops.push_back({shrink, 2, w.depth, w.order});
      if (!grow.changes.empty()) ops.push_back({grow, 6, w.depth, w.order});
      std::vector<std::string> fields = changed_fields(deployed, *w.deployed, next, *w.next);
      if (!fields.empty()) ops.push_back({Step{StepAction::update, kind, w.path, {}, fields}, 7, w.depth, w.order});
    } else if (w.deployed) {
      Step drain{StepAction::drain, kind, w.path, {}, {}};
      for (Index r = 0; r < resources; ++r) {
        if (w.bounds[r]) drain.changes.push_back({r, w.bounds[r], StepBound{0, 0}});
      }
      ops.push_back({drain, 0, w.depth, w.order});
      ops.push_back({Step{StepAction::remove, kind, w.path, {}, {}}, 1, w.depth, w.order});
    } else {
      Step create{StepAction::create, kind, w.path, {}, {}};
      const std::vector<std::optional<StepBound>> to = World::bounds_of_next(*w.next, resources);
      for (Index r = 0; r < resources; ++r) {
        if (to[r]) create.changes.push_back({r, std::nullopt, to[r]});
      }
      ops.push_back({create, 5, w.depth, w.order});
    }
  }
  std::size_t order = 0;
  for (const WorkPool& p : world.pools()) {
    ++order;
    auto gpu = [](const Policy& policy, const Pool* pool) -> std::optional<StepBound> {
      if (!pool) return std::nullopt;
      const Index i = static_cast<Index>(pool - policy.pools.data());
      const model::Capacity c = model::pool_capacity(policy, i, kGpu);
      return StepBound{c.fixed, c.unbounded ? std::nullopt : std::optional<Amount>(c.amount)};
    };
    // A named node that leaves its pool is drained first (`allot node
    // drain`, docs/runtime-api.md): its jobs stop and requeue elsewhere
    // before the pool shrinks or goes. The policy is unchanged by it.
    if (p.deployed) {
      for (const NamedNode& n : p.deployed->nodes) {
        bool stays = false;
        if (p.next)
          for (const NamedNode& m : p.next->nodes) stays = stays || m.name == n.name;
        if (!stays) ops.push_back({Step{StepAction::drain, "node", n.name, {}, {}}, 2, 0, order});
      }
    }
    if (p.deployed && !p.next) {
      ops.push_back({Step{StepAction::remove, "pool", p.name, {{kGpu, gpu(deployed, p.deployed), std::nullopt}}, {}}, 3,
                     0, order});
    } else if (!p.deployed && p.next) {
      ops.push_back(
          {Step{StepAction::create, "pool", p.name, {{kGpu, std::nullopt, gpu(next, p.next)}}, {}}, 4, 0, order});
    } else if (p.version == 1) {
      const std::optional<StepBound> a = gpu(deployed, p.deployed), b = gpu(next, p.next);
      const bool smaller = normal(b).guarantee < normal(a).guarantee || normal(b).limit < normal(a).limit;
      ops.push_back({Step{smaller ? StepAction::shrink : StepAction::grow, "pool", p.name, {{kGpu, a, b}}, {}},
                     smaller ? 3 : 4, 0, order});
    }
  }
  return ops;
}

bool prerequisites(World& world, const Op& op) {
  if (op.step.kind == "pool" || op.step.kind == "node") return true;
  WorkScope* w = world.scope(op.step.target);
  if (!w) return false;
  if (op.step.action == StepAction::remove) {
    for (const WorkScope& other : world.scopes()) {
      if (other.exists && world.parent_path(other) == w->path) return false;
    }
  }
  if (op.step.action == StepAction::create) {
    const std::string parent = world.parent_path(*w);
    if (!parent.empty()) {
      WorkScope* p = world.scope(parent);
      if (!p || !p->exists) return false;
    }
    WorkPool* pool = world.pool(world.pool_name(*w));
    if (pool && pool->version == 0) return false;
  }
  return true;
}

}  // namespace

Policy apply_steps(const Policy& deployed, const Policy& next, const std::vector<Step>& steps) {
  World world(deployed, next);
  for (const Step& s : steps) world.apply(s);
  return world.materialize();
}

std::vector<Step> plan_migration(const Policy& deployed, const Policy& next, const verify::LiveState* state,
                                 const MigrationOptions& options, DiagnosticSink& sink) {
  World world(deployed, next);
  const verify::LiveState empty;
  const verify::LiveState& live = state ? *state : empty;
  std::vector<Op> pending = pending_ops(world, deployed, next);

  // Steps that no order can make safe (a shrink below what runs, a scope
  // with work to delete) are the live-state check's, the rule `check
  // --state` applies: the same function, the same diagnostics.
  {
    DiagnosticSink scratch;
    if (verify::check_change(deployed, next, live, scratch) > 0) {
      for (const Diagnostic& d : scratch.diagnostics()) {
        if (d.severity != Severity::error) continue;
        Diagnostic& copy = sink.error(d.code, d.range, d.message);
        copy.notes = d.notes;
        copy.help = d.help;
      }
      return {};
    }
  }

  std::vector<Step> steps;
  Policy current = world.materialize();
  while (!pending.empty()) {
    std::stable_sort(pending.begin(), pending.end(), [](const Op& a, const Op& b) {
      const bool down_a = a.phase <= 3, down_b = b.phase <= 3;
      return std::make_tuple(a.phase, down_a ? -a.depth : a.depth, a.order) <
             std::make_tuple(b.phase, down_b ? -b.depth : b.depth, b.order);
    });
    bool progressed = false;
    std::vector<std::string> reasons;
    for (std::size_t i = 0; i < pending.size(); ++i) {
      if (!prerequisites(world, pending[i])) continue;
      World trial = world;
      trial.apply(pending[i].step);
      Policy candidate = trial.materialize();
      DiagnosticSink scratch;
      bool ok = verify::check_structure(candidate, scratch) == 0;
      if (ok && options.reachability) ok = verify::check_reachability(candidate, scratch, options.verify) == 0;
      if (ok) ok = verify::check_change(current, candidate, live, scratch) == 0;
      if (!ok) {
        for (const Diagnostic& d : scratch.diagnostics()) {
          if (d.severity == Severity::error) {
            reasons.push_back(fmt::format("{} would break {}: {}", describe(next, pending[i].step), d.code, d.message));
            break;
          }
        }
        continue;
      }
      world = std::move(trial);
      current = std::move(candidate);
      steps.push_back(pending[i].step);
      pending.erase(pending.begin() + static_cast<long>(i));
      progressed = true;
      break;
    }
    if (!progressed) {
      Diagnostic& d = sink.error(
          code::E0240, scope_range(next, pending.front().step.target, kNone),
          fmt::format("no safe order from the deployed policy: every remaining step breaks an invariant ({} left)",
                      pending.size()));
      for (std::size_t i = 0; i < reasons.size() && i < 3; ++i) d.note(reasons[i]);
      d.add_help("change the policy in smaller steps, deploying each");
      break;
    }
  }
  return steps;
}

}  // namespace allot::plan

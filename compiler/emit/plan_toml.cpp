#include "compiler/emit/plan_toml.h"

#include <fmt/format.h>

#include <map>

#include "compiler/emit/json.h"
#include "compiler/sema/model_queries.h"

namespace allot::emit {

using namespace model;

// JSON's escapes are all valid in a TOML basic string, and json_escape also
// escapes DEL, which TOML requires.
std::string toml_string(std::string_view text) { return "\"" + json_escape(text) + "\""; }

namespace {

std::string strings(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + toml_string(items[i]);
  return out + "]";
}

std::string key(std::string_view name) {
  for (char c : name) {
    const bool bare =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!bare) return toml_string(name);
  }
  return name.empty() ? "\"\"" : std::string(name);
}

const char* placement_name(PoolPlacement p) {
  switch (p) {
    case PoolPlacement::best_fit:
      return "best_fit";
    case PoolPlacement::first_fit:
      return "first_fit";
    case PoolPlacement::spread:
      return "spread";
    case PoolPlacement::fgd:
      return "fgd";
  }
  return "best_fit";
}

// For `allot plan`: what the runtime does with the pool's admitted jobs.
const char* placement_meaning(PoolPlacement p) {
  switch (p) {
    case PoolPlacement::best_fit:
      return "the fullest GPU or node the job fits on";
    case PoolPlacement::first_fit:
      return "the first node the job fits on";
    case PoolPlacement::spread:
      return "the emptiest GPU or node the job fits on";
    case PoolPlacement::fgd:
      return "the node and GPU whose choice least increases the GPUs fragmented for the expected workload "
             "(fragmentation gradient descent, docs/scheduling.md \"Placement\")";
  }
  return "";
}

std::string billing_mode(BillingMode m) {
  switch (m) {
    case BillingMode::subscription:
      return "subscription";
    case BillingMode::pay_as_you_go:
      return "pay_as_you_go";
    case BillingMode::hybrid:
      return "hybrid";
  }
  return "?";
}

std::vector<std::string> workloads(WorkloadSet set) {
  std::vector<std::string> out;
  for (WorkloadKind k : {WorkloadKind::inference, WorkloadKind::training, WorkloadKind::development}) {
    if (set & static_cast<WorkloadSet>(k)) out.emplace_back(to_string(k));
  }
  return out;
}

std::string bound_table(const model::Amount guarantee, const std::optional<model::Amount>& limit,
                        const std::optional<model::Amount>& lend = std::nullopt) {
  std::string out = fmt::format("{{ guarantee = {}", guarantee);
  if (limit) out += fmt::format(", limit = {}", *limit);
  if (lend) out += fmt::format(", lend = {}", *lend);
  return out + " }";
}

std::string bounds_table(const Policy& policy, const Bounds& bounds) {
  std::string out = "{";
  bool first = true;
  for (Index r = 0; r < bounds.size(); ++r) {
    if (!bounds[r]) continue;
    out += fmt::format("{} {} = {}", first ? "" : ",", key(model::resource_name(policy, r)),
                       bound_table(bounds[r]->guarantee, bounds[r]->limit, bounds[r]->lend));
    first = false;
  }
  return out + (first ? "}" : " }");
}

const char* reclaim_name(ReclaimPolicy p) {
  switch (p) {
    case ReclaimPolicy::any:
      return "any";
    case ReclaimPolicy::lower_priority:
      return "lower_priority";
    case ReclaimPolicy::never:
      return "never";
  }
  return "?";
}

const char* within_queue_name(WithinQueue w) {
  switch (w) {
    case WithinQueue::by_class:
      return "by_class";
    case WithinQueue::never:
      return "never";
    case WithinQueue::lower_priority:
      return "lower_priority";
    case WithinQueue::lower_or_newer_equal_priority:
      return "lower_or_newer_equal_priority";
  }
  return "?";
}

std::string ceiling_table(const Policy& policy, const Bounds& ceiling) {
  std::string out = "{";
  bool first = true;
  for (Index r = 0; r < ceiling.size(); ++r) {
    if (!ceiling[r]) continue;
    out += fmt::format("{} {} = {}", first ? "" : ",", key(model::resource_name(policy, r)),
                       ceiling[r]->limit ? *ceiling[r]->limit : ceiling[r]->guarantee);
    first = false;
  }
  return out + (first ? "}" : " }");
}

void quality_lines(std::string& out, const plan::Quality& q) {
  out += fmt::format("shared_nodes = {}\n", q.shared_nodes);
  out += fmt::format("shared_nodes_lower_bound = {}\n", q.shared_nodes_lower_bound);
  out += fmt::format("whole_free_nodes = {}\n", q.whole_free_nodes);
  out += fmt::format("whole_free_nodes_upper_bound = {}\n", q.whole_free_nodes_upper_bound);
  out += fmt::format("scope_nodes = {}\n", q.scope_nodes);
  out += fmt::format("scope_nodes_lower_bound = {}\n", q.scope_nodes_lower_bound);
  out += fmt::format("scope_domains = {}\n", q.scope_domains);
  out += fmt::format("scope_domains_lower_bound = {}\n", q.scope_domains_lower_bound);
  out += fmt::format("pay_as_you_go_gpus = {}\n", q.pay_as_you_go_gpus);
  out += fmt::format("pay_as_you_go_gpus_lower_bound = {}\n", q.pay_as_you_go_gpus_lower_bound);
  out += fmt::format("moved_gpus = {}\n", q.moved_gpus);
  out += fmt::format("moved_gpus_lower_bound = {}\n", q.moved_gpus_lower_bound);
}

std::string overall_method(const plan::Placement& p) {
  std::string method;
  for (const plan::PoolPlacement& pp : p.pools) {
    const std::string m = plan::to_string(pp.method);
    if (method.empty()) {
      method = m;
    } else if (method != m) {
      return "mixed";
    }
  }
  return method.empty() ? "none" : method;
}

std::string step_bounds(const Policy& policy, const plan::Step& step, bool to) {
  std::string out = "{";
  bool first = true;
  for (const plan::BoundChange& c : step.changes) {
    const std::optional<plan::StepBound>& b = to ? c.to : c.from;
    if (!b) continue;
    out += fmt::format("{} {} = {}", first ? "" : ",", key(model::resource_name(policy, c.resource)),
                       bound_table(b->guarantee, b->limit));
    first = false;
  }
  return out + (first ? "}" : " }");
}

}  // namespace

std::string render_plan_toml(const plan::Plan& plan) {
  const Policy& policy = *plan.policy;
  std::string out;
  out += "# Allot plan, written by `allot compile`; do not edit (docs/plan-format.md)\n";
  out += fmt::format("format_version = {}\n", plan::kFormatVersion);
  out += fmt::format("allot_version = {}\n", toml_string(plan.allot_version));
  out += fmt::format("source_sha256 = {}\n", toml_string(plan.source_sha256));
  for (const plan::SourceFile& f : plan.sources) {
    out += fmt::format("\n[[sources]]\npath = {}\nsha256 = {}\n", toml_string(f.path), toml_string(f.sha256));
  }

  std::int64_t inventory_gpus = 0;
  for (const plan::InventoryNode& n : plan.inventory.nodes) inventory_gpus += n.gpus;
  out += fmt::format("\n[inventory]\nsource = {}\nnodes = {}\ngpus = {}\n", toml_string(plan.inventory.source),
                     plan.inventory.nodes.size(), inventory_gpus);

  for (const Resource& r : policy.resources) {
    out += fmt::format("\n[[resources]]\nname = {}\nunit = {}\n", toml_string(r.name),
                       toml_string(r.kind == ResourceKind::memory ? "MiB" : "milli"));
  }

  for (Index p = 0; p < policy.pools.size(); ++p) {
    const Pool& pool = policy.pools[p];
    std::int64_t nodes = 0, gpus = 0;
    for (const plan::InventoryNode& n : plan.inventory.nodes) {
      if (n.pool != pool.name) continue;
      ++nodes;
      gpus += n.gpus;
    }
    out += fmt::format("\n[[pools]]\nname = {}\ntype = {}\n", toml_string(pool.name),
                       toml_string(pool.type == PoolType::shared ? "shared" : "dedicated"));
    out += fmt::format("purpose = {}\n", toml_string(pool.purpose == PoolPurpose::any        ? "any"
                                                     : pool.purpose == PoolPurpose::training ? "training"
                                                                                             : "serving"));
    out += fmt::format("hosts = {}\n", strings(workloads(pool.hosts)));
    if (pool.placement != PoolPlacement::best_fit)  // absent: best_fit
      out += fmt::format("placement = {}\n", toml_string(placement_name(pool.placement)));
    if (pool.provider != Provider::generic)  // absent: generic
      out += fmt::format("provider = {}\n", toml_string(pool.provider == Provider::eas ? "eas" : "modelarts"));
    if (pool.status != DeclaredStatus::running)  // absent: running; allotd admits only on a running pool
      out +=
          fmt::format("status = {}\n", toml_string(pool.status == DeclaredStatus::abnormal ? "abnormal" : "creating"));
    if (!pool.fair_sharing.empty()) {  // absent: off
      std::vector<std::string> strategies;
      for (model::FairStrategy st : pool.fair_sharing)
        strategies.emplace_back(st == model::FairStrategy::at_most_final_share ? "at_most_final_share"
                                                                               : "below_initial_share");
      out += fmt::format("fair_sharing = {}\n", strings(strategies));
    }
    out += fmt::format("billing = {}\n", toml_string(billing_mode(pool.billing.mode)));
    if (pool.billing.mode != BillingMode::pay_as_you_go) {
      out += fmt::format("term_months = {}\nauto_renew = {}\n", pool.billing.term_months, pool.billing.auto_renew);
    }
    if (pool.billing.mode != BillingMode::subscription) {
      out += fmt::format("ceiling = {}\n", ceiling_table(policy, pool.billing.ceiling));
    }
    out += fmt::format("system_disk_gib = {}\nnodes = {}\ngpus = {}\n", pool.system_disk_gib, nodes, gpus);
  }

  for (const plan::InventoryNode& n : plan.inventory.nodes) {
    out += fmt::format("\n[[nodes]]\nname = {}\npool = {}\n", toml_string(n.name), toml_string(n.pool));
    if (!n.flavor.empty()) out += fmt::format("flavor = {}\n", toml_string(n.flavor));
    out += fmt::format("gpu_model = {}\ngpus = {}\ninterconnect = {}\ncpu_milli = {}\nmemory_mib = {}\n",
                       toml_string(n.gpu_model), n.gpus, n.interconnect, n.cpu_milli, n.memory_mib);
    out += fmt::format("billing = {}\n",
                       toml_string(n.billing == plan::NodeBilling::subscription ? "subscription" : "pay_as_you_go"));
    if (n.expires) out += fmt::format("expires = {}\n", toml_string(*n.expires));
  }

  for (const PriorityClass& c : policy.priorities) {
    std::vector<std::string> preempts;
    for (Index i : c.preempts) {
      if (i < policy.priorities.size()) preempts.push_back(policy.priorities[i].name);
    }
    out += fmt::format("\n[[priorities]]\nname = {}\nvalue = {}\npreempts = {}\n", toml_string(c.name), c.value,
                       strings(preempts));
  }

  for (const Role& r : policy.roles) {
    std::vector<std::string> permissions;
    if (r.permissions & kSubmit) permissions.emplace_back("submit");
    if (r.permissions & kList) permissions.emplace_back("list");
    if (r.permissions & kCancel) permissions.emplace_back("cancel");
    if (r.permissions & kAdmin) permissions.emplace_back("admin");
    out += fmt::format("\n[[roles]]\nname = {}\nusers = {}\ngroups = {}\npermissions = {}\n", toml_string(r.name),
                       strings(r.users), strings(r.groups), strings(permissions));
  }

  for (Index s = 0; s < policy.scopes.size(); ++s) {
    const Scope& scope = policy.scopes[s];
    out += fmt::format("\n[[scopes]]\npath = {}\nkind = {}\nname = {}\n", toml_string(scope.path),
                       toml_string(to_string(scope.kind)), toml_string(scope.name));
    if (scope.parent != kNone) out += fmt::format("parent = {}\n", toml_string(policy.scopes[scope.parent].path));
    if (const std::string before = model::previous_path(policy, s); before != scope.path)
      out += fmt::format("renamed_from = {}\n", toml_string(before));
    if (scope.pool < policy.pools.size()) out += fmt::format("pool = {}\n", toml_string(policy.pools[scope.pool].name));
    out += fmt::format("bounds = {}\n", bounds_table(policy, scope.bounds));
    Bounds effective(policy.resources.size());
    for (Index r = 0; r < policy.resources.size(); ++r) {
      if (const std::optional<Amount> l = model::effective_limit(policy, s, r)) {
        effective[r] = Bound{model::guarantee_of(policy, s, r), *l, {}};
      }
    }
    out += fmt::format("effective = {}\n", bounds_table(policy, effective));
    std::vector<std::string> roles;
    for (Index r : scope.roles) {
      if (r < policy.roles.size()) roles.push_back(policy.roles[r].name);
    }
    out += fmt::format("roles = {}\n", strings(roles));
    if (scope.kind == ScopeKind::quota) out += fmt::format("child_preemption = {}\n", scope.child_preemption);
    // The preemption options, only where they differ from the defaults so
    // that plans of policies without them read as before.
    if (scope.reclaim != ReclaimPolicy::any)
      out += fmt::format("reclaim = {}\n", toml_string(reclaim_name(scope.reclaim)));
    if (scope.borrow_within.enabled) {
      out += "borrow_within = true\n";
      if (scope.borrow_within.max_priority < policy.priorities.size()) {
        out += fmt::format("borrow_max_priority = {}\n", policy.priorities[scope.borrow_within.max_priority].value);
      }
    }
    if (scope.weight_milli != 1000) out += fmt::format("weight_milli = {}\n", scope.weight_milli);
    if (scope.billing) {
      out += fmt::format("billing = {}\n", toml_string(billing_mode(scope.billing->mode)));
      if (scope.billing->mode != BillingMode::subscription) {
        out += fmt::format("ceiling = {}\n", ceiling_table(policy, scope.billing->ceiling));
      }
    }
    if (scope.kind == ScopeKind::queue) {
      if (scope.default_priority < policy.priorities.size()) {
        out += fmt::format("priority = {}\n", toml_string(policy.priorities[scope.default_priority].name));
      }
      out += fmt::format("preemptible = {}\ngrace_period_ms = {}\non_preempt = {}\naccepts = {}\ngpu_sharing = {}\n",
                         scope.preemptible, scope.grace_period_ms,
                         toml_string(scope.on_preempt == OnPreempt::requeue ? "requeue" : "cancel"),
                         strings(workloads(scope.accepts)), scope.gpu_sharing);
      if (scope.within_queue != WithinQueue::by_class) {
        out += fmt::format("preemption = {}\n", toml_string(within_queue_name(scope.within_queue)));
      }
      out += fmt::format("implicit = {}\n", scope.implicit);
    }
  }

  const plan::Placement& pl = plan.placement;
  out += fmt::format("\n[placement]\nmethod = {}\n", toml_string(overall_method(pl)));
  if (!plan.previous.empty()) out += fmt::format("previous = {}\n", toml_string(plan.previous));
  quality_lines(out, pl.quality);
  for (const plan::PoolPlacement& pp : pl.pools) {
    out += fmt::format("\n[[placement.pools]]\npool = {}\nmethod = {}\noptimal = {}\n", toml_string(pp.pool),
                       toml_string(plan::to_string(pp.method)), pp.optimal);
    if (!pp.note.empty()) out += fmt::format("note = {}\n", toml_string(pp.note));
    quality_lines(out, pp.quality);
  }
  for (const plan::Demand& d : pl.demands) {
    out += fmt::format("\n[[placement.shares]]\nscope = {}\npool = {}\nown_milli = {}\ngpus = {}\nelastic = {}\n",
                       toml_string(d.path), toml_string(d.pool < policy.pools.size() ? policy.pools[d.pool].name : ""),
                       d.own_milli, d.gpus, d.elastic);
  }
  for (std::size_t n = 0; n < plan.inventory.nodes.size() && n < pl.home.size(); ++n) {
    std::vector<std::string> home;
    for (std::int32_t d : pl.home[n]) home.push_back(d < 0 ? "" : pl.demands[static_cast<std::size_t>(d)].path);
    out += fmt::format("\n[[placement.nodes]]\nname = {}\nhome = {}\n", toml_string(plan.inventory.nodes[n].name),
                       strings(home));
  }

  if (plan.has_migration) {
    for (std::size_t i = 0; i < plan.steps.size(); ++i) {
      const plan::Step& step = plan.steps[i];
      out += fmt::format("\n[[migration]]\nstep = {}\naction = {}\nkind = {}\ntarget = {}\n", i + 1,
                         toml_string(plan::to_string(step.action)), toml_string(step.kind), toml_string(step.target));
      if (step.action == plan::StepAction::update) {
        out += fmt::format("fields = {}\n", strings(step.fields));
      } else if (!step.changes.empty()) {
        out += fmt::format("from = {}\nto = {}\n", step_bounds(policy, step, false), step_bounds(policy, step, true));
      }
    }
  }
  return out;
}

namespace {

struct Paint {
  bool on;
  std::string operator()(const char* code, const std::string& text) const {
    return on ? fmt::format("\x1b[{}m{}\x1b[0m", code, text) : text;
  }
};

const char* action_color(plan::StepAction a) {
  switch (a) {
    case plan::StepAction::drain:
    case plan::StepAction::remove:
    case plan::StepAction::shrink:
      return "31";
    case plan::StepAction::grow:
    case plan::StepAction::create:
      return "32";
    case plan::StepAction::update:
      return "33";
  }
  return "0";
}

std::string indices(std::size_t first, std::size_t last) {
  return first == last ? fmt::format("gpu {}", first) : fmt::format("gpus {}-{}", first, last);
}

}  // namespace

std::string render_step(const plan::Plan& plan, std::size_t index, bool color) {
  const Policy& policy = *plan.policy;
  const Paint paint{color};
  const plan::Step& s = plan.steps[index];
  std::string line = fmt::format("{}. {} {} `{}`", index + 1, paint(action_color(s.action), plan::to_string(s.action)),
                                 s.kind, s.target);
  if (s.action == plan::StepAction::update) {
    std::string fields;
    for (const std::string& f : s.fields) fields += (fields.empty() ? "" : ", ") + f;
    line += ": " + fields;
  }
  for (std::size_t c = 0; c < s.changes.size(); ++c) {
    const plan::BoundChange& ch = s.changes[c];
    line += fmt::format("{} {} {} -> {}", c == 0 ? ":" : ",", model::resource_name(policy, ch.resource),
                        plan::format_bound(policy, ch.resource, ch.from),
                        paint(action_color(s.action), plan::format_bound(policy, ch.resource, ch.to)));
  }
  return line;
}

std::string render_migration_text(const plan::Plan& plan, bool color) {
  if (!plan.has_migration) return "migration: no deployed policy (pass `--state` to order the change)\n";
  std::string out = plan.steps.empty()
                        ? "migration: no changes\n"
                        : fmt::format("migration: {} step{}\n", plan.steps.size(), plan.steps.size() == 1 ? "" : "s");
  for (std::size_t i = 0; i < plan.steps.size(); ++i) out += "  " + render_step(plan, i, color) + "\n";
  return out;
}

std::string render_plan_text(const plan::Plan& plan, const PlanTextOptions& options) {
  const Policy& policy = *plan.policy;
  const Paint paint{options.color};
  std::string out = render_migration_text(plan, options.color);
  const plan::Placement& pl = plan.placement;
  for (const Pool& pool : policy.pools)
    if (pool.placement != PoolPlacement::best_fit)
      out += fmt::format("runtime placement on pool `{}`: {}: {}\n", pool.name, placement_name(pool.placement),
                         placement_meaning(pool.placement));
  for (const plan::PoolPlacement& pp : pl.pools) {
    const plan::Quality& q = pp.quality;
    out += fmt::format("placement on pool `{}`: {}{}\n", pp.pool, plan::to_string(pp.method),
                       pp.optimal ? " (optimal)" : "");
    if (!pp.note.empty()) out += fmt::format("  note: {}\n", pp.note);
    out += fmt::format("  shared nodes {} (lower bound {}), whole free nodes {} (upper bound {})\n", q.shared_nodes,
                       q.shared_nodes_lower_bound, q.whole_free_nodes, q.whole_free_nodes_upper_bound);
    out += fmt::format("  nodes per scope {} (lower bound {}), interconnect domains per scope {}\n", q.scope_nodes,
                       q.scope_nodes_lower_bound, q.scope_domains);
    if (pl.has_previous) out += fmt::format("  moved gpus {}\n", q.moved_gpus);
  }
  for (const plan::Demand& d : pl.demands) {
    if (d.elastic > 0) {
      out += fmt::format("  `{}`: {} gpu elastic (beyond the pool's nodes)\n", d.path, d.elastic);
    }
  }
  // Where each scope's guaranteed GPUs live, as node and GPU ranges; long
  // lists are cut, the plan file has them all.
  constexpr std::size_t kRangesShown = 6;
  std::vector<std::vector<std::string>> ranges(pl.demands.size());
  for (std::size_t n = 0; n < pl.home.size() && n < plan.inventory.nodes.size(); ++n) {
    for (std::size_t g = 0; g < pl.home[n].size();) {
      const std::int32_t h = pl.home[n][g];
      std::size_t last = g;
      while (last + 1 < pl.home[n].size() && pl.home[n][last + 1] == h) ++last;
      if (h >= 0)
        ranges[static_cast<std::size_t>(h)].push_back(
            fmt::format("{} {}", plan.inventory.nodes[n].name, indices(g, last)));
      g = last + 1;
    }
  }
  if (!pl.demands.empty()) out += "homes of guaranteed gpus:\n";
  for (std::size_t d = 0; d < pl.demands.size(); ++d) {
    std::string where;
    for (std::size_t r = 0; r < ranges[d].size() && r < kRangesShown; ++r) where += (r ? ", " : "") + ranges[d][r];
    if (ranges[d].size() > kRangesShown) where += fmt::format(" and {} more", ranges[d].size() - kRangesShown);
    out += fmt::format("  `{}` ({} gpu): {}\n", pl.demands[d].path, pl.demands[d].gpus, where.empty() ? "none" : where);
  }
  if (options.previous) {
    std::string moves;
    std::size_t count = 0;
    for (std::size_t n = 0; n < plan.inventory.nodes.size() && n < pl.home.size(); ++n) {
      const auto it = options.previous->find(plan.inventory.nodes[n].name);
      auto old_home = [&](std::size_t g) -> std::string {
        return it == options.previous->end() || g >= it->second.size() ? std::string() : it->second[g];
      };
      auto new_home = [&](std::size_t g) -> std::string {
        return pl.home[n][g] < 0 ? std::string() : pl.demands[static_cast<std::size_t>(pl.home[n][g])].path;
      };
      for (std::size_t g = 0; g < pl.home[n].size();) {
        if (old_home(g) == new_home(g)) {
          ++g;
          continue;
        }
        std::size_t last = g;
        while (last + 1 < pl.home[n].size() && old_home(last + 1) == old_home(g) && new_home(last + 1) == new_home(g)) {
          ++last;
        }
        auto name = [](const std::string& s) { return s.empty() ? std::string("free") : "`" + s + "`"; };
        moves += fmt::format("  {} {}: {} -> {}\n", plan.inventory.nodes[n].name, indices(g, last),
                             paint("31", name(old_home(g))), paint("32", name(new_home(g))));
        count += last - g + 1;
        g = last + 1;
      }
    }
    out += count == 0 ? "placement moves: none\n"
                      : fmt::format("placement moves: {} gpu{}\n", count, count == 1 ? "" : "s");
    out += moves;
  }
  return out;
}

}  // namespace allot::emit

// Scopes: the third phase. Builds the scope tree (quota trees first, then
// workspaces with their namespaces and queues), reads each scope's bounds
// and options, and checks what a queue accepts against its pool.
#include <fmt/format.h>

#include <algorithm>

#include "compiler/sema/analyzer.h"
#include "compiler/sema/codes.h"

namespace allot::sema {
namespace {

using model::ScopeKind;

constexpr std::int64_t kMaxGracePeriodMs = 24 * 3'600'000;

std::string workload_names(model::WorkloadSet set) {
  std::string out;
  for (auto k : {model::WorkloadKind::inference, model::WorkloadKind::training, model::WorkloadKind::development}) {
    if ((set & static_cast<model::WorkloadSet>(k)) == 0) continue;
    if (!out.empty()) out += ", ";
    out += fmt::format("`{}`", model::to_string(k));
  }
  return out.empty() ? "nothing" : out;
}

// An amount in its resource's units, as a user would write it: `48`, `0.5`,
// `80GiB`.
std::string written_amount(const model::Resource& r, model::Amount a) {
  if (r.kind == model::ResourceKind::memory) {
    return a % 1024 == 0 ? fmt::format("{}GiB", a / 1024) : fmt::format("{}MiB", a);
  }
  std::string out = fmt::format("{}.{:03}", a / 1000, a % 1000);
  while (out.back() == '0') out.pop_back();
  if (out.back() == '.') out.pop_back();
  return out;
}
}  // namespace

void Analyzer::build_scopes() {
  // Quota trees first, so that every quota exists when a workspace binds to
  // it and parents precede children in `Policy::scopes`.
  // Every quota, and a workspace with a namespace and two queues: growing
  // the vector moves every scope, which cost 4% of `allot check` at 100k.
  const std::size_t expected = quota_nodes_.size() + 4 * top_scopes_.decls.size();
  policy_.scopes.reserve(expected);
  scope_paths_.reserve(expected);
  for (const Index q : quota_roots_) build_quota(q, kNone);
  for (const ast::Declaration* w : top_scopes_.decls) {
    if (w->kind.text == "workspace") build_workspace(*w);
  }
  inherit_preemption_options();
  check_fair_sharing();
  for (Index i = 0; i < policy_.scopes.size(); ++i) {
    if (policy_.scopes[i].kind == ScopeKind::queue) check_accepts(i, accepts_written_[i]);
  }
}

Index Analyzer::new_scope(ScopeKind kind, const ast::Declaration& decl, Index parent, std::string path) {
  const auto index = static_cast<Index>(policy_.scopes.size());
  model::Scope s;
  s.kind = kind;
  s.name = decl.name.text;
  s.path = std::move(path);
  s.parent = parent;
  s.bounds.resize(policy_.resources.size());
  s.range = decl.range;
  s.name_range = decl.name.range;
  if (parent != kNone) {
    s.pool = policy_.scopes[parent].pool;
    policy_.scopes[parent].children.push_back(index);
  }
  scope_paths_.emplace(s.path, index);
  policy_.scopes.push_back(std::move(s));
  accepts_written_.push_back(nullptr);
  child_preemption_written_.emplace_back();
  return index;
}

void Analyzer::scope_common(Index scope, const PropertyMap& props) {
  for (const auto& [resource, p] : props.resources) {
    if (auto b = values_.bound(*p, resource)) policy_.scopes[scope].bounds[resource] = *b;
  }
  if (const auto* p = props.get("roles")) policy_.scopes[scope].roles = roles(p->value);
  if (const auto* p = props.get("description")) values_.string(p->value);
  if (const auto* p = props.get("renamed_from")) {
    if (auto use = values_.name(p->value, "the scope's previous name", true)) {
      model::Scope& s = policy_.scopes[scope];
      if (use->name == s.name || use->name.find('/') != std::string::npos) {
        sink_
            .error(codes::kWrongValue, p->value.range,
                   fmt::format("`renamed_from` names the previous name of {} `{}`, not its own name or a path",
                               model::to_string(s.kind), s.name))
            .add_help("write the name it had in the deployed policy, e.g. `renamed_from = batch`");
      } else {
        s.renamed_from = use->name;
        s.renamed_from_range = p->value.range;
      }
    }
  }
  preemption_options(scope, props);
}

void Analyzer::preemption_options(Index scope, const PropertyMap& props) {
  model::Scope& s = policy_.scopes[scope];
  if (const auto* p = props.get("lend")) lend(scope, *p);
  if (const auto* p = props.get("reclaim")) {
    if (auto v = values_.choice(p->value, {{"any", 0}, {"lower_priority", 1}, {"never", 2}}, "reclaim policy")) {
      s.reclaim = *v == 0   ? model::ReclaimPolicy::any
                  : *v == 1 ? model::ReclaimPolicy::lower_priority
                            : model::ReclaimPolicy::never;
      s.reclaim_range = p->range;
    }
  }
  if (const auto* p = props.get("borrow_within")) {
    if (auto b = borrow_within(p->value)) {
      s.borrow_within = *b;
      s.borrow_within.range = p->range;
    }
  }
  if (const auto* p = props.get("weight")) weight(scope, *p);
}

void Analyzer::lend(Index scope, const ast::Property& p) {
  values_.resource_amounts(
      p.value, "{ gpu = 8 }", "`lend`",
      "write `lend = { RESOURCE = AMOUNT }`: how much of the guarantee other scopes may use",
      [&](Index r, const ast::Property& lp, const ast::Expr& e, model::Amount a) {
        model::Scope& s = policy_.scopes[scope];
        std::optional<model::Bound>& b = s.bounds[r];
        const std::string who = fmt::format("{} `{}`", model::to_string(s.kind), s.path);
        if (!b) {
          sink_
              .error(codes::kLendWithoutGuarantee, lp.key.range,
                     fmt::format("{} lends `{}` but guarantees none", who, lp.key.text))
              .add_help(fmt::format("only a guarantee can be lent: declare one, e.g. `{} = {}..`, or remove `{}` from "
                                    "`lend`",
                                    lp.key.text, text(e.range), lp.key.text));
          return;
        }
        if (a > b->guarantee) {
          sink_
              .error(codes::kLendAboveGuarantee, e.range,
                     fmt::format("{} lends `{}` of `{}`, more than its guarantee of `{}`", who, text(e.range),
                                 lp.key.text, written_amount(policy_.resources[r], b->guarantee)))
              .note("the guarantee is set here", b->range)
              .add_help("lend at most the guarantee; without `lend` all of it may be lent");
          return;
        }
        b->lend = a;
        b->lend_range = lp.range;
      });
}

std::optional<model::BorrowWithin> Analyzer::borrow_within(const ast::Value& v) {
  const ValueReader::Tagged value = values_.tagged(v);
  const std::optional<ast::Identifier>& tag = value.tag;
  const ast::Body* body = value.body;
  if (!tag) {
    sink_.error(codes::kWrongValue, v.range, fmt::format("expected a borrow-within policy, found {}", describe(v)))
        .add_help("write `never`, `lower_priority` or `lower_priority { max_priority = CLASS }`");
    return std::nullopt;
  }
  model::BorrowWithin out;
  if (tag->text == "never") {
    if (body != nullptr) {
      values_.object_members(*body, "`never`");
      values_.properties(*body, "`never`", {}, false);  // reports every member
    }
    return out;
  }
  if (tag->text != "lower_priority") {
    Diagnostic& d =
        sink_.error(codes::kUnknownEnum, tag->range, fmt::format("unknown borrow-within policy `{}`", tag->text));
    const std::unordered_map<std::string_view, int> policies{{"never", 0}, {"lower_priority", 0}};
    values_.suggest(d, tag->text, policies, [](std::string_view) { return SourceRange{}; });
    d.add_help("expected one of `never`, `lower_priority`");
    return std::nullopt;
  }
  out.enabled = true;
  if (body != nullptr) {
    values_.object_members(*body, "`lower_priority`");
    PropertyMap props = values_.properties(*body, "`lower_priority`", {"max_priority"}, false);
    if (const auto* p = props.get("max_priority")) {
      auto use = values_.name(p->value, "a priority class");
      if (!use) return std::nullopt;
      out.max_priority = resolve(priorities_, *use, "priority class", codes::kUnknownPriority);
      if (out.max_priority == kNone) return std::nullopt;
      priorities_.used[out.max_priority] = true;
    }
  }
  return out;
}

void Analyzer::inherit_preemption_options() {
  reclaim_origin_.assign(policy_.scopes.size(), kNone);
  for (Index i = 0; i < policy_.scopes.size(); ++i) {
    model::Scope& s = policy_.scopes[i];
    if (s.reclaim_range.valid()) reclaim_origin_[i] = i;
    if (s.parent == kNone) continue;
    const model::Scope& parent = policy_.scopes[s.parent];
    if (!s.reclaim_range.valid() && parent.reclaim_range.valid()) {
      s.reclaim = parent.reclaim;
      s.reclaim_range = parent.reclaim_range;
      reclaim_origin_[i] = reclaim_origin_[s.parent];
    }
    if (!s.borrow_within.range.valid()) s.borrow_within = parent.borrow_within;
  }
}

Index Analyzer::build_quota(Index node, Index parent) {
  const ast::Declaration& decl = *quota_nodes_[node].decl;
  PropertyMap props = values_.properties(
      *decl.body, "quota",
      {"child_preemption", "roles", "description", "lend", "reclaim", "borrow_within", "renamed_from", "weight"}, true);
  const Index index = new_scope(ScopeKind::quota, decl, parent, std::string(decl.name.text));
  if (parent == kNone) {
    if (decl.target) {
      policy_.scopes[index].pool =
          resolve(pools_, NameUse{std::string(decl.target->text), decl.target->range}, "pool", codes::kUnknownPool);
    } else {
      sink_.error(codes::kMissingProperty, decl.name.range, fmt::format("quota `{}` has no pool", decl.name.text))
          .add_help(fmt::format("a top-level quota names its pool: `quota {} on POOL {{ ... }}`", decl.name.text));
    }
  }
  scope_common(index, props);
  if (const auto* p = props.get("child_preemption")) {
    policy_.scopes[index].child_preemption = values_.boolean(p->value).value_or(false);
    child_preemption_written_[index] = p->range;
  }
  for (const Index child : quota_nodes_[node].children) build_quota(child, index);
  return index;
}

void Analyzer::build_workspace(const ast::Declaration& decl) {
  PropertyMap props = values_.properties(
      *decl.body, "workspace",
      {"pool", "billing", "roles", "description", "lend", "reclaim", "borrow_within", "renamed_from", "weight"}, true);
  Index parent = kNone;
  if (decl.target) {
    const Index named = top_scopes_.find(decl.target->text);
    if (named == kNone) {
      Diagnostic& d =
          sink_.error(codes::kUnknownQuota, decl.target->range, fmt::format("unknown quota `{}`", decl.target->text));
      if (!sink_.saturated()) {
        std::unordered_map<std::string_view, const ast::Declaration*> quotas;
        for (const ast::Declaration* q : top_scopes_.decls) {
          if (q->kind.text == "quota") quotas.emplace(q->name.text, q);
        }
        values_.suggest(d, decl.target->text, quotas,
                        [&](std::string_view best) { return quotas.at(best)->name.range; });
      }
    } else if (const ast::Declaration& target = *top_scopes_.decls[named]; target.kind.text != "quota") {
      sink_
          .error(codes::kUnknownQuota, decl.target->range,
                 fmt::format("a workspace is bound to a quota, but `{}` is a workspace", decl.target->text))
          .note(fmt::format("workspace `{}` declared here", decl.target->text), target.name.range);
    } else if (auto s = scope_paths_.find(decl.target->text); s != scope_paths_.end()) {
      parent = s->second;
    }
  }
  const Index index = new_scope(ScopeKind::workspace, decl, parent, std::string(decl.name.text));
  if (const auto* p = props.get("pool")) {
    if (decl.target) {
      sink_.error(codes::kConflict, p->key.range, "a workspace bound to a quota uses the quota's pool")
          .note(fmt::format("bound to `{}` here", decl.target->text), decl.target->range)
          .add_help("remove `pool = ...` or the binding `on ...`");
    } else if (auto use = values_.name(p->value, "a pool name")) {
      policy_.scopes[index].pool = resolve(pools_, *use, "pool", codes::kUnknownPool);
    }
  }
  if (const auto* p = props.get("billing")) {
    if (decl.target) {
      sink_.error(codes::kConflict, p->key.range, "a workspace bound to a quota is billed through the quota's pool")
          .note(fmt::format("bound to `{}` here", decl.target->text), decl.target->range)
          .add_help("remove `billing = ...` or the binding `on ...`");
    } else {
      policy_.scopes[index].billing = values_.billing(p->value);
      if (policy_.scopes[index].billing)
        values_.check_term(*policy_.scopes[index].billing, model::Provider::generic, false, SourceRange{});
    }
  }
  scope_common(index, props);
  std::unordered_map<std::string_view, const ast::Declaration*> seen;
  for (const ast::Declaration* ns : nested(*decl.body, "workspace", "namespace")) {
    check_name(*ns);
    if (!check_form(*ns, true, false, false)) continue;
    auto [it, inserted] = seen.emplace(ns->name.text, ns);
    if (!inserted) {
      sink_
          .error(
              codes::kDuplicateName, ns->name.range,
              fmt::format("namespace `{}` is declared more than once in workspace `{}`", ns->name.text, decl.name.text))
          .note(fmt::format("namespace `{}` first declared here", ns->name.text), it->second->name.range);
      continue;
    }
    build_namespace(*ns, index);
  }
}

Index Analyzer::build_namespace(const ast::Declaration& decl, Index workspace) {
  PropertyMap props =
      values_.properties(*decl.body, "namespace",
                         {"roles", "description", "lend", "reclaim", "borrow_within", "renamed_from", "weight"}, true);
  const Index index = new_scope(ScopeKind::namespace_, decl, workspace,
                                fmt::format("{}/{}", policy_.scopes[workspace].path, decl.name.text));
  scope_common(index, props);
  std::unordered_map<std::string_view, const ast::Declaration*> seen;
  bool declared_default = false;
  for (const ast::Declaration* q : nested(*decl.body, "namespace", "queue")) {
    check_name(*q);
    if (!check_form(*q, true, false, false)) continue;
    auto [it, inserted] = seen.emplace(q->name.text, q);
    if (!inserted) {
      sink_
          .error(codes::kDuplicateName, q->name.range,
                 fmt::format("queue `{}` is declared more than once in namespace `{}`", q->name.text,
                             policy_.scopes[index].path))
          .note(fmt::format("queue `{}` first declared here", q->name.text), it->second->name.range);
      continue;
    }
    build_queue(*q, index, declared_default);
  }
  if (!declared_default) {
    model::Scope implicit;
    implicit.kind = ScopeKind::queue;
    implicit.name = "default-queue";
    implicit.path = policy_.scopes[index].path + "/default-queue";
    implicit.parent = index;
    implicit.pool = policy_.scopes[index].pool;
    implicit.bounds.resize(policy_.resources.size());
    implicit.implicit = true;
    implicit.range = decl.range;
    implicit.name_range = decl.name.range;
    const auto q = static_cast<Index>(policy_.scopes.size());
    policy_.scopes[index].children.push_back(q);
    scope_paths_.emplace(implicit.path, q);
    policy_.scopes.push_back(std::move(implicit));
    accepts_written_.push_back(nullptr);
  }
  return index;
}

Index Analyzer::build_queue(const ast::Declaration& decl, Index ns, bool& declared_default) {
  PropertyMap props =
      values_.properties(*decl.body, "queue",
                         {"priority", "preemptible", "grace_period", "on_preempt", "accepts", "gpu_sharing", "roles",
                          "description", "lend", "reclaim", "borrow_within", "preemption", "renamed_from", "weight"},
                         true);
  const Index index =
      new_scope(ScopeKind::queue, decl, ns, fmt::format("{}/{}", policy_.scopes[ns].path, decl.name.text));
  if (decl.name.text == "default-queue") declared_default = true;
  nested(*decl.body, "queue", "");
  scope_common(index, props);
  model::Scope& q = policy_.scopes[index];
  if (const auto* p = props.get("priority")) {
    if (auto use = values_.name(p->value, "a priority class")) {
      q.default_priority = resolve(priorities_, *use, "priority class", codes::kUnknownPriority);
      if (q.default_priority != kNone) priorities_.used[q.default_priority] = true;
    }
  }
  if (const auto* p = props.get("preemptible")) q.preemptible = values_.boolean(p->value).value_or(true);
  if (const auto* p = props.get("grace_period")) {
    q.grace_period_ms = values_.duration_ms("grace_period", p->value, kMaxGracePeriodMs).value_or(q.grace_period_ms);
  }
  if (const auto* p = props.get("on_preempt")) {
    if (auto v = values_.choice(p->value, {{"requeue", 0}, {"cancel", 1}}, "preemption action")) {
      q.on_preempt = *v == 0 ? model::OnPreempt::requeue : model::OnPreempt::cancel;
    }
  }
  if (const auto* p = props.get("accepts")) {
    if (auto set = values_.workloads(p->value)) {
      q.accepts = *set;
      accepts_written_[index] = p;
    }
  }
  if (const auto* p = props.get("gpu_sharing")) q.gpu_sharing = values_.boolean(p->value).value_or(false);
  if (const auto* p = props.get("preemption")) {
    if (auto v = values_.choice(p->value, {{"never", 1}, {"lower_priority", 2}, {"lower_or_newer_equal_priority", 3}},
                                "preemption policy")) {
      q.within_queue = *v == 1   ? model::WithinQueue::never
                       : *v == 2 ? model::WithinQueue::lower_priority
                                 : model::WithinQueue::lower_or_newer_equal_priority;
      const auto* preemptible = props.get("preemptible");
      if (q.within_queue != model::WithinQueue::never && !q.preemptible && preemptible != nullptr) {
        sink_
            .error(codes::kConflict, p->key.range,
                   "`preemption` preempts jobs of a queue whose jobs are never preempted")
            .note("no job of this queue is a victim because of this", preemptible->range)
            .add_help("remove `preemption`, write `preemption = never`, or make the queue preemptible");
      }
    }
  }
  return index;
}

void Analyzer::check_accepts(Index queue, const ast::Property* accepts_prop) {
  model::Scope& q = policy_.scopes[queue];
  if (q.pool == kNone) return;
  const model::Pool& pool = policy_.pools[q.pool];
  if (accepts_prop == nullptr) {
    // Unwritten, a queue accepts whatever its pool hosts.
    q.accepts = pool.hosts;
    return;
  }
  const auto missing = static_cast<model::WorkloadSet>(q.accepts & ~pool.hosts);
  if (missing != 0) {
    // A queue that accepts nothing its pool hosts could never run a job.
    const bool none = (q.accepts & pool.hosts) == 0;
    Diagnostic& d =
        sink_.error(codes::kNotHosted, accepts_prop->value.range,
                    fmt::format("queue `{}` accepts {}, which pool `{}` does not host{}", q.path,
                                workload_names(missing), pool.name, none ? ": no job could ever run in it" : ""));
    d.note(fmt::format("pool `{}` hosts {}", pool.name, workload_names(pool.hosts)), pool.name_range);
    if (none)
      d.add_help(fmt::format("accept what the pool hosts ({}), or move the queue to a pool that hosts {}",
                             workload_names(pool.hosts), workload_names(missing)));
  }
  const auto inference = static_cast<model::WorkloadSet>(model::WorkloadKind::inference);
  if (pool.type == model::PoolType::shared && (q.accepts & inference) != 0) {
    sink_
        .warning(codes::kInferenceOnShared, accepts_prop->value.range,
                 fmt::format("queue `{}` accepts `inference` work on shared pool `{}`", q.path, pool.name))
        .note(fmt::format("pool `{}` declared here", pool.name), pool.name_range)
        .add_help(
            "dedicated resources are recommended for online production and latency-sensitive inference: "
            "shared pools queue jobs and share nodes between tenants");
  }
}

}  // namespace allot::sema

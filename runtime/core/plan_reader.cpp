#include "runtime/core/plan_reader.h"

#include <toml++/toml.h>

#include <algorithm>
#include <map>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "runtime/core/placement.h"

namespace allot::runtime {

std::string PlanError::to_string() const {
  std::string out = path;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  return out + ": " + message;
}

namespace {

constexpr std::int64_t kSupportedFormatVersion = 1;

// Thrown inside the reader only; read_plan turns it into a PlanError.
struct ReadFailure {
  toml::source_position where;
  std::string message;
};

[[noreturn]] void fail(const toml::node* at, std::string message) {
  throw ReadFailure{at ? at->source().begin : toml::source_position{}, std::move(message)};
}

const toml::node* field(const toml::table& t, std::string_view key) { return t.get(key); }

std::string string_field(const toml::table& t, std::string_view key, bool required = true) {
  const toml::node* n = field(t, key);
  if (!n) {
    if (required) fail(&t, "missing `" + std::string(key) + "`");
    return {};
  }
  if (!n->is_string()) fail(n, "`" + std::string(key) + "` must be a string");
  return n->as_string()->get();
}

std::int64_t int_field(const toml::table& t, std::string_view key, std::optional<std::int64_t> fallback = {}) {
  const toml::node* n = field(t, key);
  if (!n) {
    if (!fallback) fail(&t, "missing `" + std::string(key) + "`");
    return *fallback;
  }
  if (!n->is_integer()) fail(n, "`" + std::string(key) + "` must be an integer");
  return n->as_integer()->get();
}

// Every quantity is bounded where it is read, so that no sum or product the
// runtime forms from a plan can overflow: amounts (milli-GPUs, milli-CPUs,
// MiB) to 2^50, durations to a day (as `allot check` allows), priorities to
// +-10^9.
constexpr std::int64_t kMaxPlanAmount = std::int64_t{1} << 50;
constexpr std::int64_t kMaxGracePeriodMs = 24 * 3'600'000;
constexpr std::int64_t kMaxWeightMilli = 1'000'000;  // `weight` at most 1000, as `allot check` allows
constexpr std::int64_t kMaxPriorityValue = 1'000'000'000;

std::int64_t bounded_field(const toml::table& t, std::string_view key, std::int64_t fallback, std::int64_t min,
                           std::int64_t max) {
  const std::int64_t v = int_field(t, key, fallback);
  if (v < min || v > max)
    fail(field(t, key),
         "`" + std::string(key) + "` must be between " + std::to_string(min) + " and " + std::to_string(max));
  return v;
}

bool bool_field(const toml::table& t, std::string_view key, bool fallback) {
  const toml::node* n = field(t, key);
  if (!n) return fallback;
  if (!n->is_boolean()) fail(n, "`" + std::string(key) + "` must be true or false");
  return n->as_boolean()->get();
}

std::vector<std::string> strings_field(const toml::table& t, std::string_view key) {
  std::vector<std::string> out;
  const toml::node* n = field(t, key);
  if (!n) return out;
  const toml::array* a = n->as_array();
  if (!a) fail(n, "`" + std::string(key) + "` must be an array of strings");
  for (const toml::node& item : *a) {
    if (!item.is_string()) fail(&item, "`" + std::string(key) + "` must be an array of strings");
    out.push_back(item.as_string()->get());
  }
  return out;
}

// The tables of an array of tables (`[[key]]`); empty when absent.
std::vector<const toml::table*> tables(const toml::table& root, std::string_view key) {
  std::vector<const toml::table*> out;
  const toml::node* n = root.get(key);
  if (!n) return out;
  const toml::array* a = n->as_array();
  if (!a) fail(n, "`" + std::string(key) + "` must be an array of tables");
  for (const toml::node& item : *a) {
    const toml::table* t = item.as_table();
    if (!t) fail(&item, "`" + std::string(key) + "` must be an array of tables");
    out.push_back(t);
  }
  return out;
}

std::uint32_t small_count(const toml::table& t, std::string_view key, std::int64_t max) {
  const std::int64_t v = int_field(t, key, 0);
  if (v < 0 || v > max) fail(field(t, key), "`" + std::string(key) + "` must be between 0 and " + std::to_string(max));
  return static_cast<std::uint32_t>(v);
}

std::optional<Resource> core_resource(std::string_view name) {
  if (name == "gpu") return Resource::gpu;
  if (name == "cpu") return Resource::cpu;
  if (name == "memory") return Resource::memory;
  return std::nullopt;  // other resources (cu, user-defined) are not scheduled by the core
}

// `bounds = { gpu = { guarantee = 48000, limit = 128000 }, ... }`
ScopeBounds read_bounds(const toml::table& scope) {
  ScopeBounds bounds;
  const toml::node* n = field(scope, "bounds");
  if (!n) return bounds;
  const toml::table* t = n->as_table();
  if (!t) fail(n, "`bounds` must be a table");
  for (const auto& [key, value] : *t) {
    const std::optional<Resource> r = core_resource(key.str());
    if (!r) continue;
    const toml::table* b = value.as_table();
    if (!b) fail(&value, "the bound of `" + std::string(key.str()) + "` must be a table");
    Bound bound;
    bound.guarantee = bounded_field(*b, "guarantee", 0, 0, kMaxPlanAmount);
    if (b->get("limit")) bound.limit = bounded_field(*b, "limit", 0, 0, kMaxPlanAmount);
    if (bound.guarantee < 0 || (bound.limit && *bound.limit < bound.guarantee))
      fail(&value, "the bound of `" + std::string(key.str()) + "` has a limit below its guarantee");
    if (b->get("lend")) {
      bound.lend = int_field(*b, "lend");
      if (*bound.lend < 0 || *bound.lend > bound.guarantee)
        fail(b->get("lend"), "the `lend` of `" + std::string(key.str()) + "` must be between 0 and its guarantee (" +
                                 std::to_string(bound.guarantee) + ")");
    }
    (*r == Resource::gpu ? bounds.gpu : *r == Resource::cpu ? bounds.cpu : bounds.memory) = bound;
  }
  return bounds;
}

ScopeKind scope_kind(const toml::table& t) {
  const std::string kind = string_field(t, "kind");
  if (kind == "quota") return ScopeKind::quota;
  if (kind == "workspace") return ScopeKind::workspace;
  if (kind == "namespace") return ScopeKind::namespace_;
  if (kind == "queue") return ScopeKind::queue;
  fail(field(t, "kind"), "unknown scope kind `" + kind + "`");
}

WorkloadSet workload_set(const toml::table& t) {
  if (!t.get("accepts")) return kAllWorkloads;
  WorkloadSet set = 0;
  for (const std::string& k : strings_field(t, "accepts")) {
    if (k == "inference" || k == "serving") {
      set |= static_cast<WorkloadSet>(WorkloadKind::inference);
    } else if (k == "training") {
      set |= static_cast<WorkloadSet>(WorkloadKind::training);
    } else if (k == "development") {
      set |= static_cast<WorkloadSet>(WorkloadKind::development);
    } else {
      fail(field(t, "accepts"), "unknown workload kind `" + k + "`");
    }
  }
  return set;
}

std::uint8_t permissions(const toml::table& role) {
  std::uint8_t actions = 0;
  for (const std::string& p : strings_field(role, "permissions")) {
    if (p == "submit") {
      actions |= kSubmit;
    } else if (p == "list") {
      actions |= kList;
    } else if (p == "cancel") {
      actions |= kCancel;
    } else if (p == "admin") {
      actions |= kAdmin;
    } else {
      fail(field(role, "permissions"), "unknown permission `" + p + "`");
    }
  }
  return actions;
}

LoadedPlan read(const toml::table& root) {
  LoadedPlan plan;
  plan.metadata.format_version = int_field(root, "format_version");
  if (plan.metadata.format_version != kSupportedFormatVersion)
    fail(field(root, "format_version"), "unsupported plan format version " +
                                            std::to_string(plan.metadata.format_version) + " (this runtime reads " +
                                            std::to_string(kSupportedFormatVersion) + ")");
  plan.metadata.allot_version = string_field(root, "allot_version", false);
  plan.metadata.source_sha256 = string_field(root, "source_sha256", false);
  for (const toml::table* t : tables(root, "sources"))
    plan.metadata.sources.push_back({string_field(*t, "path"), string_field(*t, "sha256", false)});
  Cluster& cluster = plan.cluster;

  std::unordered_map<std::string, NodeId> node_ids;
  for (const toml::table* t : tables(root, "nodes")) {
    PlanNode n;
    n.name = string_field(*t, "name");
    n.pool = string_field(*t, "pool", false);
    n.gpu_model = string_field(*t, "gpu_model", false);
    n.gpus = small_count(*t, "gpus", 64);
    n.interconnect = small_count(*t, "interconnect", 64);
    n.cpu_milli = bounded_field(*t, "cpu_milli", 0, 0, kMaxPlanAmount);
    n.memory_mib = bounded_field(*t, "memory_mib", 0, 0, kMaxPlanAmount);
    if (!node_ids.emplace(n.name, static_cast<NodeId>(plan.nodes.size())).second)
      fail(t, "node `" + n.name + "` is listed twice");
    cluster.nodes.push_back({n.name, n.gpus, n.gpu_model, n.interconnect >= n.gpus ? 0 : n.interconnect});
    plan.nodes.push_back(std::move(n));
  }

  for (const toml::table* t : tables(root, "pools")) {
    const std::string status = string_field(*t, "status", false);
    if (status.empty()) continue;
    if (status != "running" && status != "abnormal" && status != "creating")
      fail(field(*t, "status"), "unknown pool status `" + status + "` (running, abnormal or creating)");
    const std::string name = string_field(*t, "name", false);
    for (PlanNode& n : plan.nodes)
      if (n.pool == name) n.pool_status = status;
  }
  // A cluster runs one placement policy: the first pool's that names one
  // (docs/plan-format.md). Each node also keeps its own pool's, for a
  // daemon that serves it alone.
  bool policy_set = false;
  for (const toml::table* t : tables(root, "pools")) {
    const std::string placement = string_field(*t, "placement", false);
    if (placement.empty()) continue;
    const std::optional<PlacementPolicy> policy = parse_placement_policy(placement);
    if (!policy) fail(field(*t, "placement"), "unknown placement policy `" + placement + "`");
    if (!policy_set) cluster.placement_policy = *policy;
    policy_set = true;
    const std::string name = string_field(*t, "name", false);
    for (PlanNode& n : plan.nodes)
      if (n.pool == name) n.placement = *policy;
  }

  // Fair sharing, likewise: the first pool's that turns it on.
  for (const toml::table* t : tables(root, "pools")) {
    if (!t->get("fair_sharing")) continue;
    for (const std::string& name : strings_field(*t, "fair_sharing")) {
      FairStrategy st = FairStrategy::at_most_final_share;
      if (name == "below_initial_share")
        st = FairStrategy::below_initial_share;
      else if (name != "at_most_final_share")
        fail(field(*t, "fair_sharing"), "unknown fair-sharing strategy `" + name +
                                            "` (expected \"at_most_final_share\" or \"below_initial_share\")");
      if (std::find(cluster.fair_sharing.begin(), cluster.fair_sharing.end(), st) != cluster.fair_sharing.end())
        fail(field(*t, "fair_sharing"), "fair-sharing strategy `" + name + "` is listed twice");
      cluster.fair_sharing.push_back(st);
    }
    if (cluster.fair_sharing.empty()) fail(field(*t, "fair_sharing"), "`fair_sharing` lists no strategy");
    break;
  }

  std::unordered_map<std::string, PriorityId> priority_ids;
  const std::vector<const toml::table*> priorities = tables(root, "priorities");
  for (const toml::table* t : priorities) {
    PriorityClass c;
    c.name = string_field(*t, "name");
    c.value = bounded_field(*t, "value", 0, -kMaxPriorityValue, kMaxPriorityValue);
    if (!priority_ids.emplace(c.name, static_cast<PriorityId>(cluster.priorities.size())).second)
      fail(t, "priority class `" + c.name + "` is listed twice");
    cluster.priorities.push_back(std::move(c));
  }
  for (std::size_t i = 0; i < priorities.size(); ++i) {
    for (const std::string& name : strings_field(*priorities[i], "preempts")) {
      const auto it = priority_ids.find(name);
      if (it == priority_ids.end()) fail(field(*priorities[i], "preempts"), "unknown priority class `" + name + "`");
      cluster.priorities[i].preempts.push_back(it->second);
    }
  }

  std::unordered_map<std::string, Grant> roles;
  for (const toml::table* t : tables(root, "roles")) {
    const std::string name = string_field(*t, "name");
    Grant g{strings_field(*t, "users"), strings_field(*t, "groups"), permissions(*t)};
    if (!roles.emplace(name, std::move(g)).second) fail(t, "role `" + name + "` is listed twice");
  }

  std::unordered_map<std::string, ScopeId> scope_ids;
  std::vector<std::vector<Grant>> own_grants;  // per scope, from its own roles
  for (const toml::table* t : tables(root, "scopes")) {
    Scope s;
    s.kind = scope_kind(*t);
    s.name = string_field(*t, "path");
    const std::string parent = string_field(*t, "parent", false);
    if (!parent.empty()) {
      const auto it = scope_ids.find(parent);
      if (it == scope_ids.end())
        fail(field(*t, "parent"), "parent `" + parent + "` is not listed before `" + s.name + "`");
      s.parent = it->second;
    }
    s.bounds = read_bounds(*t);
    s.child_preemption = bool_field(*t, "child_preemption", false);
    const std::string reclaim = string_field(*t, "reclaim", false);
    if (reclaim == "lower_priority") {
      s.reclaim = ReclaimPolicy::lower_priority;
    } else if (reclaim == "never") {
      s.reclaim = ReclaimPolicy::never;
    } else if (reclaim.empty() || reclaim == "any") {
      s.reclaim = ReclaimPolicy::any;
    } else {
      fail(field(*t, "reclaim"), "`reclaim` must be \"any\", \"lower_priority\" or \"never\"");
    }
    s.borrow_within = bool_field(*t, "borrow_within", false);
    if (t->get("borrow_max_priority")) {
      if (!s.borrow_within)
        fail(field(*t, "borrow_max_priority"), "`borrow_max_priority` needs `borrow_within = true`");
      s.borrow_max_priority = int_field(*t, "borrow_max_priority");
    }
    s.weight_milli = bounded_field(*t, "weight_milli", 1000, 1, kMaxWeightMilli);
    std::vector<Grant> grants;
    for (const std::string& role : strings_field(*t, "roles")) {
      const auto it = roles.find(role);
      if (it == roles.end()) fail(field(*t, "roles"), "unknown role `" + role + "`");
      grants.push_back(it->second);
    }
    if (s.kind == ScopeKind::queue) {
      QueueSettings& q = s.queue;
      const std::string priority = string_field(*t, "priority", false);
      if (!priority.empty()) {
        const auto it = priority_ids.find(priority);
        if (it == priority_ids.end()) fail(field(*t, "priority"), "unknown priority class `" + priority + "`");
        q.default_priority = it->second;
      }
      q.preemptible = bool_field(*t, "preemptible", true);
      q.grace_period_ms = bounded_field(*t, "grace_period_ms", 30000, 0, kMaxGracePeriodMs);
      const std::string on_preempt = string_field(*t, "on_preempt", false);
      if (on_preempt == "cancel") {
        q.on_preempt = OnPreempt::cancel;
      } else if (on_preempt.empty() || on_preempt == "requeue") {
        q.on_preempt = OnPreempt::requeue;
      } else {
        fail(field(*t, "on_preempt"), "`on_preempt` must be \"requeue\" or \"cancel\"");
      }
      q.accepts = workload_set(*t);
      q.gpu_sharing = bool_field(*t, "gpu_sharing", false);
      const std::string preemption = string_field(*t, "preemption", false);
      if (preemption == "never") {
        q.within = WithinQueue::never;
      } else if (preemption == "lower_priority") {
        q.within = WithinQueue::lower_priority;
      } else if (preemption == "lower_or_newer_equal_priority") {
        q.within = WithinQueue::lower_or_newer_equal_priority;
      } else if (preemption.empty() || preemption == "by_class") {
        q.within = WithinQueue::by_class;
      } else {
        fail(field(*t, "preemption"),
             "`preemption` must be \"by_class\", \"never\", \"lower_priority\" or \"lower_or_newer_equal_priority\"");
      }
    }
    if (!scope_ids.emplace(s.name, static_cast<ScopeId>(cluster.scopes.size())).second)
      fail(t, "scope `" + s.name + "` is listed twice");
    plan.scope_pool.push_back(string_field(*t, "pool", false));
    plan.renamed_from.push_back(string_field(*t, "renamed_from", false));
    own_grants.push_back(std::move(grants));
    std::ostringstream text;
    text << *t;
    plan.scope_text.push_back(text.str());
    cluster.scopes.push_back(std::move(s));
  }
  plan.scope_grants = own_grants;
  {
    // Everything but the scopes and what follows from them or from where
    // the policy was compiled.
    toml::table rest = root;
    for (const char* key : {"scopes", "placement", "sources", "migration", "source_sha256", "allot_version"})
      rest.erase(key);
    std::ostringstream text;
    text << rest;
    plan.global_text = text.str();
  }
  // Roles are inherited: a queue's grants are those of the queue and of every
  // ancestor (parents come first, so walking up is enough).
  for (ScopeId s = 0; s < cluster.scopes.size(); ++s) {
    if (cluster.scopes[s].kind != ScopeKind::queue) continue;
    for (ScopeId at = s; at != kNone; at = cluster.scopes[at].parent) {
      for (const Grant& g : own_grants[at]) cluster.scopes[s].queue.grants.push_back(g);
    }
  }

  if (const toml::node* placement = root.get("placement")) {
    const toml::table* pt = placement->as_table();
    if (!pt) fail(placement, "`placement` must be a table");
    for (const toml::table* t : tables(*pt, "nodes")) {
      const std::string name = string_field(*t, "name");
      const auto node = node_ids.find(name);
      if (node == node_ids.end()) fail(field(*t, "name"), "placement names unknown node `" + name + "`");
      const std::vector<std::string> home = strings_field(*t, "home");
      if (home.size() > cluster.nodes[node->second].gpu_count)
        fail(field(*t, "home"), "placement of node `" + name + "` lists more GPUs than the node has");
      for (std::uint32_t g = 0; g < home.size(); ++g) {
        if (home[g].empty()) continue;
        const auto scope = scope_ids.find(home[g]);
        if (scope == scope_ids.end()) fail(field(*t, "home"), "placement names unknown scope `" + home[g] + "`");
        cluster.placement.push_back({{node->second, g}, scope->second});
      }
    }
  }
  return plan;
}

}  // namespace

PlanReadResult read_plan(std::string_view toml_text, std::string_view path) {
  toml::table root;
  try {
    root = toml::parse(toml_text, path);
  } catch (const toml::parse_error& e) {
    return PlanError{std::string(path), e.source().begin.line, e.source().begin.column, std::string(e.description())};
  }
  try {
    return read(root);
  } catch (const ReadFailure& f) {
    return PlanError{std::string(path), f.where.line, f.where.column, f.message};
  }
}

Cluster restrict_to_nodes(const LoadedPlan& plan, const std::vector<std::string>& node_names) {
  Cluster out;
  out.scopes = plan.cluster.scopes;
  out.priorities = plan.cluster.priorities;
  std::vector<NodeId> new_id(plan.cluster.nodes.size(), kNone);
  for (const std::string& name : node_names) {
    for (NodeId n = 0; n < plan.cluster.nodes.size(); ++n) {
      if (plan.cluster.nodes[n].name != name || new_id[n] != kNone) continue;
      new_id[n] = static_cast<NodeId>(out.nodes.size());
      out.nodes.push_back(plan.cluster.nodes[n]);
    }
  }
  for (const PinnedGpu& p : plan.cluster.placement) {
    if (new_id[p.gpu.node] == kNone) continue;
    out.placement.push_back({{new_id[p.gpu.node], p.gpu.index}, p.home});
  }
  return out;
}

ScopeId find_scope(const Cluster& cluster, std::string_view path) {
  for (ScopeId s = 0; s < cluster.scopes.size(); ++s) {
    if (cluster.scopes[s].name == path) return s;
  }
  return kNone;
}

}  // namespace allot::runtime

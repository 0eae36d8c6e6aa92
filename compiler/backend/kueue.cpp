#include "compiler/backend/kueue.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "compiler/base/codes.h"
#include "compiler/emit/json.h"
#include "compiler/plan/sha256.h"
#include "compiler/sema/model_queries.h"

namespace allot::backend {

using namespace model;

bool known_kueue_version(const std::string& version) { return version == "v1beta2" || version == "v1beta1"; }

std::string dns_name(const std::string& name, bool label) {
  std::string out;
  for (char c : name) {
    const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool ok = (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '-' || (l == '.' && !label);
    out += ok ? l : '-';
  }
  // Each dot-separated part must start and end with a letter or digit.
  std::string cleaned;
  std::size_t start = 0;
  while (start <= out.size()) {
    std::size_t dot = out.find('.', start);
    if (dot == std::string::npos) dot = out.size();
    std::string part = out.substr(start, dot - start);
    while (!part.empty() && part.front() == '-') part.erase(part.begin());
    while (!part.empty() && part.back() == '-') part.pop_back();
    if (!part.empty()) cleaned += (cleaned.empty() ? "" : ".") + part;
    start = dot + 1;
  }
  const std::size_t max = label ? 63 : 253;
  if (cleaned.empty() || cleaned.size() > max) {
    const std::string hash = plan::sha256_hex(name).substr(0, 8);
    std::string head = cleaned.substr(0, std::min(cleaned.size(), max - 9));
    while (!head.empty() && (head.back() == '-' || head.back() == '.')) head.pop_back();
    cleaned = head.empty() ? "x-" + hash : head + "-" + hash;
  }
  return cleaned;
}

namespace {

constexpr const char* kGpuResource = "nvidia.com/gpu";

std::string q(std::string_view s) { return "\"" + emit::json_escape(s) + "\""; }

// A quantity of milli-GPUs: `3`, or `1500m`.
std::string quantity(Amount milli) {
  return milli % 1000 == 0 ? std::to_string(milli / 1000) : fmt::format("\"{}m\"", milli);
}

std::string resource_groups(const std::string& indent, const std::string& flavor, Amount nominal,
                            std::optional<Amount> borrowing, std::optional<Amount> lending) {
  std::string out = indent + "resourceGroups:\n";
  out += indent + fmt::format("- coveredResources: [{}]\n", q(kGpuResource));
  out += indent + "  flavors:\n";
  out += indent + fmt::format("  - name: {}\n", flavor);
  out += indent + "    resources:\n";
  out += indent + fmt::format("    - name: {}\n", q(kGpuResource));
  out += indent + fmt::format("      nominalQuota: {}\n", quantity(nominal));
  if (borrowing) out += indent + fmt::format("      borrowingLimit: {}\n", quantity(*borrowing));
  if (lending) out += indent + fmt::format("      lendingLimit: {}\n", quantity(*lending));
  return out;
}

}  // namespace

std::vector<OutputFile> render_kueue(const plan::Plan& plan, const TargetOptions& options, Lossy& lossy) {
  const Policy& policy = *plan.policy;
  const std::string api = "kueue.x-k8s.io/" + options.kueue_version;
  const bool v1beta1 = options.kueue_version == "v1beta1";
  const Shares shares = gpu_shares(policy);
  const std::size_t n = policy.scopes.size();
  DiagnosticSink& sink = lossy.sink();

  std::string head =
      fmt::format("# written by `allot compile --target kueue` for {}; do not edit (docs/backends.md)\n", api);
  head += fmt::format("# source_sha256 = {}\n", plan.source_sha256);
  for (const plan::SourceFile& f : plan.sources) head += fmt::format("# source: {}\n", f.path);

  // ---- names ----------------------------------------------------------------
  NameMap cohort_names(sink, code::E0401, "Kueue Cohort");
  NameMap cq_names(sink, code::E0401, "Kueue ClusterQueue");
  NameMap flavor_names(sink, code::E0401, "Kueue ResourceFlavor");
  NameMap class_names(sink, code::E0401, "Kueue WorkloadPriorityClass");
  NameMap namespace_names(sink, code::E0401, "Kubernetes Namespace");
  NameMap binding_names(sink, code::E0401, "Kubernetes RoleBinding name");
  std::vector<std::string> pool_flavor(policy.pools.size()), pool_cohort(policy.pools.size());
  for (Index p = 0; p < policy.pools.size(); ++p) {
    pool_flavor[p] = dns_name(policy.pools[p].name, false);
    pool_cohort[p] = dns_name("pool." + policy.pools[p].name, false);
    flavor_names.add(policy.pools[p].name, pool_flavor[p], policy.pools[p].name_range);
    cohort_names.add("pool " + policy.pools[p].name, pool_cohort[p], policy.pools[p].name_range);
  }
  std::vector<std::string> name(n);  // Cohort (quota, workspace, namespace) or ClusterQueue
  std::vector<std::string> ns_name(n), lq_name(n);
  for (Index s = 0; s < n; ++s) {
    const Scope& scope = policy.scopes[s];
    std::string path = scope.path;
    std::replace(path.begin(), path.end(), '/', '.');
    name[s] = dns_name(path, false);
    if (scope.kind == ScopeKind::queue) {
      cq_names.add(scope.path, name[s], scope.name_range);
      lq_name[s] = dns_name(scope.name, true);
    } else {
      cohort_names.add(scope.path, name[s], scope.name_range);
    }
    if (scope.kind == ScopeKind::namespace_) {
      std::string dashed = scope.path;
      std::replace(dashed.begin(), dashed.end(), '/', '-');
      ns_name[s] = dns_name(dashed, true);
      namespace_names.add(scope.path, ns_name[s], scope.name_range);
    }
  }
  std::vector<std::string> class_name(policy.priorities.size());
  for (Index c = 0; c < policy.priorities.size(); ++c) {
    class_name[c] = dns_name(policy.priorities[c].name, false);
    class_names.add(policy.priorities[c].name, class_name[c], policy.priorities[c].range);
  }

  std::string out = head;
  out +=
      "# Kueue must not account cpu and memory for these queues (only gpu is bounded):\n"
      "# set resources.excludeResourcePrefixes in the Kueue Configuration, or cover them.\n"
      "# Nodes carry the label allot.dev/pool=<pool> of their pool.\n";

  // ---- ResourceFlavors ---------------------------------------------------------
  for (Index p = 0; p < policy.pools.size(); ++p) {
    out += fmt::format("---\napiVersion: {}\nkind: ResourceFlavor\nmetadata:\n  name: {}\n", api, pool_flavor[p]);
    out += fmt::format("spec:\n  nodeLabels:\n    allot.dev/pool: {}\n", q(dns_name(policy.pools[p].name, true)));
  }

  // ---- WorkloadPriorityClasses ---------------------------------------------------
  for (Index c = 0; c < policy.priorities.size(); ++c) {
    const PriorityClass& pc = policy.priorities[c];
    out += fmt::format("---\napiVersion: {}\nkind: WorkloadPriorityClass\nmetadata:\n  name: {}\nvalue: {}\n", api,
                       class_name[c], pc.value);
    out += fmt::format("description: {}\n", q(fmt::format("allot priority {}", pc.name)));
    // Kueue's withinClusterQueue LowerPriority preempts every lower class.
    std::set<Index> lower;
    for (Index o = 0; o < policy.priorities.size(); ++o) {
      if (policy.priorities[o].value < pc.value) lower.insert(o);
    }
    if (!pc.preempts.empty() && std::set<Index>(pc.preempts.begin(), pc.preempts.end()) != lower) {
      lossy
          .report(code::W0406, pc.range,
                  fmt::format("priority `{}` preempts only some lower classes; Kueue's `LowerPriority` preempts "
                              "every class below it",
                              pc.name))
          .add_help("list every lower class in `preempts`, or none");
    }
  }

  // ---- Cohorts: one per pool, then the scope tree ----------------------------------
  std::vector<Amount> roots_guarantee(policy.pools.size(), 0);
  std::vector<Amount> roots_reach(policy.pools.size(), 0);
  for (Index s = 0; s < n; ++s) {
    const Scope& scope = policy.scopes[s];
    if (scope.parent != kNone || scope.pool >= policy.pools.size()) continue;
    roots_guarantee[scope.pool] += shares.subtree[s];
    const Bound* b = model::bound_of(policy, s, kGpu);
    roots_reach[scope.pool] += b && b->limit ? *b->limit : shares.subtree[s];
  }
  for (Index p = 0; p < policy.pools.size(); ++p) {
    const model::Capacity cap = model::pool_capacity(policy, p, kGpu);
    Amount capacity = cap.known && !cap.unbounded ? cap.amount : roots_reach[p];
    if (!cap.known || cap.unbounded) {
      lossy
          .report(code::W0411, policy.pools[p].name_range,
                  fmt::format("pool `{}` has no bounded gpu capacity; its Cohort holds what its scopes' limits "
                              "reach ({} gpu)",
                              policy.pools[p].name, model::format_quantity(policy, kGpu, capacity)))
          .add_help("give the pool nodes or a gpu ceiling");
    } else if (policy.pools[p].billing.mode != BillingMode::subscription) {
      lossy
          .report(code::W0411,
                  policy.pools[p].billing.range.valid() ? policy.pools[p].billing.range : policy.pools[p].name_range,
                  fmt::format("pool `{}` grows on demand; Kueue sees a fixed {} gpu", policy.pools[p].name,
                              model::format_quantity(policy, kGpu, capacity)))
          .add_help("Kueue's ProvisioningRequest admission check adds nodes on demand; configure it by hand");
    }
    out += fmt::format("---\napiVersion: {}\nkind: Cohort\nmetadata:\n  name: {}\n", api, pool_cohort[p]);
    out += fmt::format("  annotations:\n    allot.dev/pool: {}\n", q(policy.pools[p].name));
    out += "spec:\n";
    out += resource_groups("  ", pool_flavor[p], std::max<Amount>(0, capacity - roots_guarantee[p]), std::nullopt,
                           std::nullopt);
  }
  for (Index s = 0; s < n; ++s) {
    const Scope& scope = policy.scopes[s];
    if (scope.kind == ScopeKind::queue || scope.pool >= policy.pools.size()) continue;
    out += fmt::format("---\napiVersion: {}\nkind: Cohort\nmetadata:\n  name: {}\n", api, name[s]);
    out += fmt::format("  annotations:\n    allot.dev/scope: {}\n", q(scope.path));
    out +=
        fmt::format("spec:\n  parentName: {}\n", scope.parent == kNone ? pool_cohort[scope.pool] : name[scope.parent]);
    const Bound* b = model::bound_of(policy, s, kGpu);
    std::optional<Amount> borrowing;
    if (b && b->limit) borrowing = std::max<Amount>(0, *b->limit - shares.subtree[s]);
    // Allot lends every idle guaranteed GPU and takes it back by preemption:
    // no lendingLimit unless the scope writes `lend`. Its lend covers the
    // whole subtree's guarantee, Kueue's a cohort's own nominal quota: the
    // nearest is the smaller of the two, said by W0413 where they differ.
    std::optional<Amount> lending;
    if (b && b->lend) {
      lending = std::min(*b->lend, shares.own[s]);
      if (shares.own[s] != shares.subtree[s])
        lossy
            .report(code::W0413, b->lend_range.valid() ? b->lend_range : scope.name_range,
                    fmt::format("`lend` of `{}` covers its whole subtree's guarantee; Kueue lends only a cohort's "
                                "own nominal quota, so lendingLimit is {} of its own {}",
                                scope.path, quantity(*lending), quantity(shares.own[s])))
            .add_help("write `lend` on the queues, whose nominal quota is their whole guarantee");
    }
    out += resource_groups("  ", pool_flavor[scope.pool], shares.own[s], borrowing, lending);
  }

  // ---- ClusterQueues and LocalQueues ------------------------------------------------
  std::vector<Index> queues;
  for (Index s = 0; s < n; ++s) {
    if (policy.scopes[s].kind == ScopeKind::queue) queues.push_back(s);
  }
  bool reported_priority = false, reported_grace = false;
  for (Index qi : queues) {
    const Scope& scope = policy.scopes[qi];
    if (scope.pool >= policy.pools.size()) continue;
    const Index ns = scope.parent;
    const Index owner = owning_quota(policy, qi);
    const Index cls = scope.default_priority;
    const std::int64_t value = cls < policy.priorities.size() ? policy.priorities[cls].value : 0;
    out += fmt::format("---\napiVersion: {}\nkind: ClusterQueue\nmetadata:\n  name: {}\n", api, name[qi]);
    out += fmt::format("  annotations:\n    allot.dev/scope: {}\n", q(scope.path));
    if (cls < policy.priorities.size()) out += fmt::format("    allot.dev/default-priority: {}\n", class_name[cls]);
    out += fmt::format("spec:\n  {}: {}\n", v1beta1 ? "cohort" : "cohortName", name[ns]);
    out += fmt::format("  namespaceSelector:\n    matchLabels:\n      kubernetes.io/metadata.name: {}\n", ns_name[ns]);
    out += "  queueingStrategy: BestEffortFIFO\n";
    const Bound* b = model::bound_of(policy, qi, kGpu);
    std::optional<Amount> borrowing;
    if (b && b->limit) borrowing = std::max<Amount>(0, *b->limit - shares.subtree[qi]);
    // `lend = { gpu = N }` on the queue is Kueue's lendingLimit of its nominal quota.
    std::optional<Amount> lending;
    if (b && b->lend) lending = std::min(*b->lend, shares.own[qi]);
    out += resource_groups("  ", pool_flavor[scope.pool], shares.own[qi], borrowing, lending);
    // Allot's rules as Kueue preemption: reclaim of a guarantee from
    // borrowing siblings whatever their priority (Any); same-queue priority
    // preemption (LowerPriority); child_preemption approximated by preempting
    // lower-priority borrowers in the cohort. A per-queue `preemption` of the
    // language maps to withinClusterQueue, `reclaim` to reclaimWithinCohort.
    const bool preempts_within = cls < policy.priorities.size() && !policy.priorities[cls].preempts.empty();
    const char* reclaim = scope.reclaim == ReclaimPolicy::any              ? "Any"
                          : scope.reclaim == ReclaimPolicy::lower_priority ? "LowerPriority"
                                                                           : "Never";
    const char* within = scope.within_queue == WithinQueue::by_class ? (preempts_within ? "LowerPriority" : "Never")
                         : scope.within_queue == WithinQueue::lower_priority ? "LowerPriority"
                         : scope.within_queue == WithinQueue::lower_or_newer_equal_priority
                             ? "LowerOrNewerEqualPriority"
                             : "Never";
    out += fmt::format("  preemption:\n    reclaimWithinCohort: {}\n", reclaim);
    out += fmt::format("    withinClusterQueue: {}\n", within);
    if (scope.borrow_within.enabled) {
      // `borrow_within = lower_priority { max_priority = C }` is Kueue's borrowWithinCohort.
      out += "    borrowWithinCohort:\n      policy: LowerPriority\n";
      if (scope.borrow_within.max_priority < policy.priorities.size())
        out +=
            fmt::format("      maxPriorityThreshold: {}\n", policy.priorities[scope.borrow_within.max_priority].value);
    } else if (owner != kNone && policy.scopes[owner].child_preemption) {
      std::int64_t threshold = -1;
      bool unreachable = false;
      for (Index v : queues) {
        const Index vo = owning_quota(policy, v);
        if (vo == owner || vo == kNone || !is_within(policy, vo, owner) || !policy.scopes[v].preemptible) continue;
        const Index vc = policy.scopes[v].default_priority;
        const std::int64_t vv = vc < policy.priorities.size() ? policy.priorities[vc].value : 0;
        if (vv >= value)
          unreachable = true;
        else
          threshold = std::max(threshold, vv);
      }
      if (threshold >= 0) {
        out += fmt::format("    borrowWithinCohort:\n      policy: LowerPriority\n      maxPriorityThreshold: {}\n",
                           threshold);
      }
      Diagnostic& d = lossy.report(
          code::W0401, policy.scopes[owner].name_range,
          fmt::format("`child_preemption` of `{}` becomes `borrowWithinCohort` for `{}`: Kueue preempts only "
                      "workloads that borrow, never those within their nominal quota",
                      policy.scopes[owner].path, scope.path));
      if (unreachable) d.note("queues below with a class at or above this queue's are not preempted at all");
      d.add_help("give the preempting queue a guarantee so that it reclaims instead");
    }
    if (!scope.preemptible) {
      lossy
          .report(code::W0402, scope.name_range,
                  fmt::format("`{}` is not preemptible, which Kueue cannot say per queue: its workloads can be "
                              "preempted when they borrow",
                              scope.path))
          .add_help("give the queue a guarantee covering its work, so that it never borrows");
    }
    if (scope.on_preempt == OnPreempt::cancel) {
      lossy
          .report(code::W0403, scope.name_range,
                  fmt::format("`{}` cancels preempted jobs; Kueue always requeues them", scope.path))
          .add_help("a controller that deletes evicted workloads can cancel them");
    }
    const Pool& pool = policy.pools[scope.pool];
    if ((scope.accepts & pool.hosts) != pool.hosts) {
      lossy
          .report(code::W0404, scope.name_range,
                  fmt::format("`{}` accepts only some workload kinds; Kueue admits any kind", scope.path))
          .add_help("a validating admission policy on the namespace can restrict job kinds");
    }
    if (scope.gpu_sharing) {
      lossy
          .report(code::W0409, scope.name_range,
                  fmt::format("`{}` shares GPUs, which this mapping does not express: workloads get whole GPUs",
                              scope.path))
          .add_help("share GPUs as another extended resource (time-slicing, MIG) with its own quota");
    }
    if (!reported_priority && cls < policy.priorities.size()) {
      reported_priority = true;
      lossy
          .report(code::W0410, scope.name_range,
                  "a queue's default priority has no Kueue form: workloads carry the "
                  "`kueue.x-k8s.io/priority-class` label themselves")
          .add_help("the ClusterQueue's `allot.dev/default-priority` annotation names the class to set");
    }
    if (!reported_grace && scope.preemptible) {
      reported_grace = true;
      lossy
          .report(code::W0405, scope.name_range,
                  "grace periods are the pods' `terminationGracePeriodSeconds`, outside Kueue")
          .add_help("set it in the job templates of each queue");
    }
    out += fmt::format("---\napiVersion: {}\nkind: LocalQueue\nmetadata:\n  name: {}\n  namespace: {}\n", api,
                       lq_name[qi], ns_name[ns]);
    out += fmt::format("spec:\n  clusterQueue: {}\n", name[qi]);
  }

  // Resources and rules with no place in this mapping.
  for (Index r = 0; r < policy.resources.size(); ++r) {
    if (r == kGpu) continue;
    for (Index s = 0; s < n; ++s) {
      if (!model::bound_of(policy, s, r)) continue;
      lossy
          .report(code::W0408, model::bound_range(policy, s, r),
                  fmt::format("bounds of `{}` are not emitted for Kueue: only gpu is", policy.resources[r].name))
          .add_help("cover the resource in the ClusterQueues' resourceGroups by hand");
      break;
    }
  }
  if (!plan.placement.demands.empty()) {
    lossy
        .report(code::W0412, policy.scopes[plan.placement.demands.front().scope].name_range,
                "the plan homes guaranteed GPUs on particular nodes; Kueue enforces the amounts, not the homes")
        .add_help("Topology Aware Scheduling places workloads, but not by scope");
  }

  // ---- rbac.yaml ----------------------------------------------------------------
  std::string rbac = head;
  rbac += "# Namespaces for the LocalQueues and the roles that may use them.\n";
  for (Index s = 0; s < n; ++s) {
    const Scope& scope = policy.scopes[s];
    if (scope.kind != ScopeKind::namespace_) continue;
    const Index ws = scope.parent;
    rbac += fmt::format("---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {}\n", ns_name[s]);
    rbac += fmt::format("  labels:\n    allot.dev/workspace: {}\n    allot.dev/namespace: {}\n",
                        q(dns_name(policy.scopes[ws].name, true)), q(dns_name(scope.name, true)));
    // RBAC grants a whole namespace: the roles of the namespace, its
    // ancestors, and each of its queues.
    std::vector<Index> roles = usable_roles(policy, s);
    std::map<Index, std::set<Index>> queue_roles;
    for (Index c : scope.children) {
      for (Index r : policy.scopes[c].roles) {
        if (r >= policy.roles.size()) continue;
        queue_roles[r].insert(c);
        if (std::find(roles.begin(), roles.end(), r) == roles.end()) roles.push_back(r);
      }
    }
    for (Index r : roles) {
      const std::vector<Index> usable = usable_roles(policy, s);
      if (std::find(usable.begin(), usable.end(), r) == usable.end() && queue_roles[r].size() < scope.children.size()) {
        lossy
            .report(code::W0407, policy.roles[r].range,
                    fmt::format("role `{}` is given on some queues of `{}`; RBAC grants the whole namespace",
                                policy.roles[r].name, scope.path))
            .add_help("give the role on the namespace, or put the queues in namespaces of their own");
      }
      const Role& role = policy.roles[r];
      const char* cluster_role = (role.permissions & kAdmin)                ? "admin"
                                 : (role.permissions & (kSubmit | kCancel)) ? "edit"
                                                                            : "view";
      const std::string binding = dns_name("allot-" + role.name, false);
      binding_names.add(role.name, binding, role.range);
      rbac += fmt::format(
          "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: {}\n"
          "  namespace: {}\n",
          binding, ns_name[s]);
      rbac += fmt::format("roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: {}\n",
                          cluster_role);
      if (role.users.empty() && role.groups.empty()) {
        rbac += "subjects: []\n";
        continue;
      }
      rbac += "subjects:\n";
      for (const std::string& u : role.users) {
        rbac += fmt::format("- apiGroup: rbac.authorization.k8s.io\n  kind: User\n  name: {}\n", q(u));
      }
      for (const std::string& g : role.groups) {
        rbac += fmt::format("- apiGroup: rbac.authorization.k8s.io\n  kind: Group\n  name: {}\n", q(g));
      }
    }
  }
  return {{"kueue.yaml", out}, {"rbac.yaml", rbac}};
}

}  // namespace allot::backend

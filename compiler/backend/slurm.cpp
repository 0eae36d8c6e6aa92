#include "compiler/backend/slurm.h"

#include <fmt/format.h>
#include <grp.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <set>

#include "compiler/base/codes.h"
#include "compiler/emit/plan_toml.h"
#include "compiler/sema/model_queries.h"

namespace allot::backend {

using namespace model;

std::string slurm_name(const std::string& name) {
  std::string out = name;
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string slurm_hostlist(const std::vector<std::string>& names) {
  // Groups of consecutive names `PREFIX<digits>` with the same prefix and width.
  std::string out;
  std::size_t i = 0;
  auto split = [](const std::string& n) {
    std::size_t d = n.size();
    while (d > 0 && std::isdigit(static_cast<unsigned char>(n[d - 1]))) --d;
    return std::pair<std::string, std::string>(n.substr(0, d), n.substr(d));
  };
  while (i < names.size()) {
    const auto [prefix, digits] = split(names[i]);
    std::size_t j = i + 1;
    if (!digits.empty() && digits.size() <= 9) {
      long long last = std::stoll(digits);
      while (j < names.size()) {
        const auto [p, d] = split(names[j]);
        if (p != prefix || d.size() != digits.size() || std::stoll(d) != last + 1) break;
        last = std::stoll(d);
        ++j;
      }
    }
    if (!out.empty()) out += ",";
    if (j - i == 1) {
      out += names[i];
    } else {
      // Keep the common leading digits outside the brackets, as Slurm does.
      const std::string last_digits = split(names[j - 1]).second;
      std::size_t common = 0;
      while (common + 1 < digits.size() && digits[common] == last_digits[common]) ++common;
      out += fmt::format("{}{}[{}-{}]", prefix, digits.substr(0, common), digits.substr(common),
                         last_digits.substr(common));
    }
    i = j;
  }
  return out;
}

namespace {

const char* kind_name(WorkloadKind k) { return to_string(k); }

constexpr WorkloadKind kKinds[] = {WorkloadKind::inference, WorkloadKind::training, WorkloadKind::development};

// Account names: quotas and workspaces by name, namespaces `ws.ns`, queues
// `ws.ns.q` (Allot paths with `/` as `.`).
std::string account_name(const Scope& scope) {
  std::string path = scope.path;
  std::replace(path.begin(), path.end(), '/', '.');
  return slurm_name(path);
}

// Members of a Unix group, sorted; empty when the group does not exist here.
std::vector<std::string> group_members(const std::string& group, bool& found) {
  std::vector<std::string> out;
  std::vector<char> buffer(1 << 16);
  struct group g {};
  struct group* result = nullptr;
  found = ::getgrnam_r(group.c_str(), &g, buffer.data(), buffer.size(), &result) == 0 && result != nullptr;
  if (found) {
    for (char** m = g.gr_mem; m && *m; ++m) out.emplace_back(*m);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::int64_t seconds_up(std::int64_t ms) { return (ms + 999) / 1000; }

std::int64_t power_of_ten_above(std::int64_t v) {
  std::int64_t p = 10;
  while (p <= v && p < (std::int64_t{1} << 40)) p *= 10;
  return p;
}

}  // namespace

SlurmConfig build_slurm(const plan::Plan& plan, Lossy& lossy) {
  const Policy& policy = *plan.policy;
  SlurmConfig config;
  config.source_sha256 = plan.source_sha256;
  for (const plan::SourceFile& f : plan.sources) config.sources.push_back(f.path);
  const Shares shares = gpu_shares(policy);
  const std::size_t n = policy.scopes.size();

  // ---- names --------------------------------------------------------------
  NameMap accounts(lossy.sink(), code::E0301, "Slurm account");
  std::vector<std::string> account(n);
  for (Index s = 0; s < n; ++s) {
    account[s] = account_name(policy.scopes[s]);
    accounts.add(policy.scopes[s].path, account[s], policy.scopes[s].name_range);
  }

  // ---- class values as QOS priorities ---------------------------------------
  // Slurm QOS priorities are unsigned; class values are shifted so the lowest
  // is 0. The guaranteed tier gets a bonus above every class: a scope
  // reclaiming its guarantee must get the GPUs its victims free before any
  // borrowed job does, because Slurm does not hold freed GPUs for the
  // preemptor (docs/backends.md).
  std::int64_t lowest = 0, highest = 0;
  for (const PriorityClass& c : policy.priorities) {
    lowest = std::min(lowest, c.value);
    highest = std::max(highest, c.value);
  }
  const std::int64_t offset = -lowest;
  config.tier_bonus = power_of_ten_above(highest + offset);
  auto class_value = [&](Index q) -> std::int64_t {
    const Index c = policy.scopes[q].default_priority;
    return c < policy.priorities.size() ? policy.priorities[c].value + offset : offset;
  };

  // ---- guaranteed scope of each queue, and the split of shared guarantees ----
  // A queue's guarantee is the own share of its nearest scope with a gpu
  // bound; queues that share one split it statically.
  std::vector<Index> queues;
  for (Index s = 0; s < n; ++s) {
    if (policy.scopes[s].kind == ScopeKind::queue) queues.push_back(s);
  }
  std::vector<Index> guaranteed_scope(n, kNone);
  std::map<Index, std::vector<Index>> sharers;
  for (Index q : queues) {
    for (Index s = q; s != kNone; s = policy.scopes[s].parent) {
      if (model::bound_of(policy, s, kGpu)) {
        guaranteed_scope[q] = s;
        break;
      }
    }
    if (guaranteed_scope[q] != kNone && shares.own[guaranteed_scope[q]] > 0) sharers[guaranteed_scope[q]].push_back(q);
  }
  std::vector<std::int64_t> guarantee(n, 0);
  for (const auto& [g, qs] : sharers) {
    const Amount own = shares.own[g];
    const std::int64_t whole = whole_gpus(own);
    if (own % 1000 != 0) {
      lossy
          .report(code::W0308, model::bound_range(policy, g, kGpu),
                  fmt::format("the guarantee of `{}` is rounded down to {} gpu: Slurm counts whole GPUs",
                              policy.scopes[g].path, whole))
          .add_help("give guarantees in whole GPUs");
    }
    for (std::size_t i = 0; i < qs.size(); ++i) {
      guarantee[qs[i]] = whole / static_cast<std::int64_t>(qs.size()) +
                         (static_cast<std::int64_t>(i) < whole % static_cast<std::int64_t>(qs.size()) ? 1 : 0);
    }
    if (qs.size() > 1) {
      std::vector<std::string> parts;
      for (Index q : qs) parts.push_back(fmt::format("{} {}", policy.scopes[q].path, guarantee[q]));
      Diagnostic& d = lossy.report(
          code::W0303, model::bound_range(policy, g, kGpu),
          fmt::format("the {} gpu guaranteed to `{}` are split among its {} queues: a Slurm QOS limit cannot be "
                      "shared by several queues",
                      whole, policy.scopes[g].path, qs.size()));
      for (Index q : qs) {
        d.note(fmt::format("`{}` gets {} gpu of it", policy.scopes[q].path, guarantee[q]), policy.scopes[q].name_range);
      }
      d.add_help("give each queue its own guarantee to make the split explicit");
    }
  }

  // ---- QOS per queue and tier -----------------------------------------------
  std::vector<std::string> qos_g(n), qos_b(n);
  for (Index q : queues) {
    const Scope& scope = policy.scopes[q];
    const std::string base = account[q];
    SlurmQos b;
    b.queue = scope.path;
    b.grace_seconds = scope.preemptible ? seconds_up(scope.grace_period_ms) : 0;
    b.cancel = scope.on_preempt == OnPreempt::cancel;
    b.priority = class_value(q);
    if (guarantee[q] > 0) {
      SlurmQos g = b;
      g.name = base + ".g";
      g.tier = 'g';
      g.priority = class_value(q) + config.tier_bonus;
      g.grp_gpus = guarantee[q];
      g.description = fmt::format("{} within the guarantee of {} ({} gpu)", scope.path,
                                  policy.scopes[guaranteed_scope[q]].path, guarantee[q]);
      qos_g[q] = g.name;
      config.qos.push_back(std::move(g));
      b.name = base + ".b";
      b.tier = 'b';
      b.description = fmt::format("{} borrowed above its guarantee", scope.path);
    } else {
      b.name = base;
      b.tier = 's';
      b.description = fmt::format("{} (no guarantee: every GPU is borrowed)", scope.path);
    }
    qos_b[q] = b.name;
    config.qos.push_back(std::move(b));
  }
  auto qos_index = [&](const std::string& name) -> SlurmQos& {
    return *std::find_if(config.qos.begin(), config.qos.end(), [&](const SlurmQos& x) { return x.name == name; });
  };
  auto tiers = [&](Index q) {
    std::vector<std::string> out;
    if (!qos_g[q].empty()) out.push_back(qos_g[q]);
    out.push_back(qos_b[q]);
    return out;
  };

  // ---- preemption edges ----------------------------------------------------
  // Slurm refuses a cycle of QOS preemption; an edge that would close one is
  // left out and reported.
  std::map<std::string, std::set<std::string>> edges;
  std::function<bool(const std::string&, const std::string&, std::set<std::string>&)> reaches =
      [&](const std::string& from, const std::string& to, std::set<std::string>& seen) {
        if (from == to) return true;
        if (!seen.insert(from).second) return false;
        for (const std::string& next : edges[from]) {
          if (reaches(next, to, seen)) return true;
        }
        return false;
      };
  auto add_edge = [&](const std::string& from, const std::string& to) {
    std::set<std::string> seen;
    if (reaches(to, from, seen)) return false;
    edges[from].insert(to);
    return true;
  };

  // child_preemption: the queues a quota owns preempt every queue of its
  // descendant quotas, both tiers, regardless of priority and guarantee.
  bool any_preemption = false;
  std::vector<Index> limited_preemptors;  // quotas with child_preemption, for W0301
  for (Index quota = 0; quota < n; ++quota) {
    const Scope& qs = policy.scopes[quota];
    if (qs.kind != ScopeKind::quota || !qs.child_preemption) continue;
    limited_preemptors.push_back(quota);
    for (Index p : queues) {
      if (owning_quota(policy, p) != quota) continue;
      for (Index v : queues) {
        const Index owner = owning_quota(policy, v);
        if (owner == quota || owner == kNone || !is_within(policy, owner, quota) || !policy.scopes[v].preemptible) {
          continue;
        }
        for (const std::string& from : tiers(p)) {
          for (const std::string& to : tiers(v)) {
            add_edge(from, to);
            any_preemption = true;
          }
        }
      }
    }
  }
  // Reclaim: work within a guarantee preempts the borrowed tier of every
  // queue outside the guaranteed scope in the same tree (a queue without a
  // guarantee has only a borrowed tier). A quota's `reclaim = never` of the
  // language drops these edges for its queues; `lower_priority` keeps those
  // to lower classes only.
  bool any_reclaim = false;
  for (Index q : queues) {
    if (qos_g[q].empty()) continue;
    const Index g = guaranteed_scope[q];
    for (Index v : queues) {
      if (v == q || is_within(policy, v, g) || root_of(policy, v) != root_of(policy, g) ||
          !policy.scopes[v].preemptible) {
        continue;
      }
      if (add_edge(qos_g[q], qos_b[v])) {
        any_reclaim = any_preemption = true;
        continue;
      }
      lossy
          .report(
              code::W0306, policy.scopes[q].name_range,
              fmt::format("`{}` within its guarantee may reclaim GPUs from `{}`, but Slurm refuses the edge: "
                          "`{}` already preempts `{}` (a QOS preemption cycle)",
                          policy.scopes[q].path, policy.scopes[v].path, policy.scopes[v].path, policy.scopes[q].path))
          .note("the two rules can undo each other's preemptions; Slurm keeps the earlier one")
          .add_help("give the preempting queue a guarantee of its own, or drop `child_preemption`");
    }
  }
  for (auto& [from, tos] : edges) {
    SlurmQos& qos = qos_index(from);
    qos.preempt.assign(tos.begin(), tos.end());
  }

  // Same-queue priority preemption needs jobs of several classes in one queue;
  // each queue's jobs run at its default class here.
  for (const PriorityClass& c : policy.priorities) {
    if (c.preempts.empty()) continue;
    lossy
        .report(code::W0307, c.range,
                fmt::format("priority `{}` preempts other classes within a queue, but every job of a Slurm queue "
                            "runs at the queue's default class",
                            c.name))
        .add_help(
            "`allot submit --backend slurm` takes no `--priority`; put classes that preempt each other in "
            "separate queues under a quota with `child_preemption`");
  }
  if (any_preemption) {
    Index first = kNone;
    for (Index q : queues) {
      if (policy.scopes[q].preemptible) {
        first = q;
        break;
      }
    }
    const SourceRange where = first != kNone ? policy.scopes[first].name_range : SourceRange{};
    lossy
        .report(code::W0304, where,
                "Slurm picks preemption victims by its own order (lowest QOS priority, then by start time), not "
                "Allot's (farthest borrower, lowest priority, youngest), and may preempt more jobs than needed")
        .note("a grace period is a minimum: the victim is killed at the scheduler's next pass after it")
        .note("a requeued job gets a new submit time and waits until its credential expires")
        .add_help("the differential test (tests/integration/slurm_differential.sh) states the known differences");
  }
  if (any_reclaim) {
    Index first = kNone;
    for (Index q : queues) {
      if (!qos_g[q].empty()) {
        first = q;
        break;
      }
    }
    lossy
        .report(code::W0305, policy.scopes[first].name_range,
                "Slurm fixes a job's tier when it is submitted: a job that started borrowed stays reclaimable, and a "
                "guaranteed job stays protected, whatever its scope's usage becomes later")
        .add_help("`allot submit --backend slurm` picks the tier from the guaranteed tier's running and pending work");
  }

  // ---- accounts and limits ---------------------------------------------------
  for (Index s = 0; s < n; ++s) {
    const Scope& scope = policy.scopes[s];
    SlurmAccount a;
    a.name = account[s];
    a.parent = scope.parent == kNone ? "root" : account[scope.parent];
    a.scope = scope.path;
    a.description = fmt::format("{} {}", to_string(scope.kind), scope.path);
    const Bound* b = model::bound_of(policy, s, kGpu);
    if (b && b->limit) {
      // A limit at or above what already applies (the parent's limit, or the
      // pool's nodes for a root) is enforced by that and left out: Slurm never
      // preempts to get under an association limit, so a redundant limit
      // would only block preemption.
      std::optional<Amount> above;
      if (scope.parent != kNone) {
        above = model::effective_limit(policy, scope.parent, kGpu);
      } else if (scope.pool < policy.pools.size()) {
        const model::Capacity cap = model::pool_capacity(policy, scope.pool, kGpu);
        if (cap.known && !cap.unbounded) above = cap.amount;
      }
      if (above && *b->limit >= *above) {
        config.notes.push_back(fmt::format("account {}: limit {} gpu not set, what applies above enforces it", a.name,
                                           model::format_quantity(policy, kGpu, *b->limit)));
      } else {
        a.grp_gpus = whole_gpus(*b->limit);
        if (*b->limit % 1000 != 0) {
          lossy
              .report(code::W0308, model::bound_range(policy, s, kGpu),
                      fmt::format("the limit of `{}` is rounded down to {} gpu: Slurm counts whole GPUs", scope.path,
                                  *a.grp_gpus))
              .add_help("give limits in whole GPUs");
        }
        for (Index quota : limited_preemptors) {
          if (!is_within(policy, quota, s)) continue;
          lossy
              .report(
                  code::W0301, model::bound_range(policy, s, kGpu),
                  fmt::format("a job of a queue of `{}` blocked by the limit of `{}` never preempts in Slurm: it waits",
                              policy.scopes[quota].path, scope.path))
              .note("`child_preemption` is set here", policy.scopes[quota].name_range)
              .add_help("Slurm preempts for node resources only; drop the limit or make it the pool's size");
          break;
        }
      }
    }
    config.accounts.push_back(std::move(a));
  }

  // Other resources have no place in this mapping.
  for (Index r = 0; r < policy.resources.size(); ++r) {
    if (r == kGpu) continue;
    for (Index s = 0; s < n; ++s) {
      if (!model::bound_of(policy, s, r)) continue;
      lossy
          .report(code::W0309, model::bound_range(policy, s, r),
                  fmt::format("bounds of `{}` are not emitted for Slurm: only gpu is", policy.resources[r].name))
          .add_help("Slurm limits cpu and memory through GrpTRES=cpu=,mem=, set by hand");
      break;
    }
  }
  for (Index q : queues) {
    if (!policy.scopes[q].gpu_sharing) continue;
    lossy
        .report(code::W0310, policy.scopes[q].name_range,
                fmt::format("`{}` shares GPUs, which the Slurm mapping does not express: its jobs get whole GPUs",
                            policy.scopes[q].path))
        .add_help("Slurm shares GPUs as gres/shard or MPS, a separate resource with its own limits");
  }

  // ---- users and coordinators -------------------------------------------------
  std::map<Index, std::vector<std::string>> role_users;
  for (Index r = 0; r < policy.roles.size(); ++r) {
    const Role& role = policy.roles[r];
    std::vector<std::string> users = role.users;
    for (const std::string& group : role.groups) {
      bool found = false;
      const std::vector<std::string> members = group_members(group, found);
      users.insert(users.end(), members.begin(), members.end());
      lossy
          .report(code::W0302, role.range,
                  found ? fmt::format("group `{}` of role `{}` is expanded to its {} member{} now: Slurm has no "
                                      "groups, later changes to the group need a new compile",
                                      group, role.name, members.size(), members.size() == 1 ? "" : "s")
                        : fmt::format("group `{}` of role `{}` does not exist on this machine: its members get no "
                                      "Slurm association",
                                      group, role.name))
          .add_help("list the users in the role, or compile where the groups are known");
    }
    std::sort(users.begin(), users.end());
    users.erase(std::unique(users.begin(), users.end()), users.end());
    role_users[r] = std::move(users);
    if ((role.permissions & kList) && !(role.permissions & (kCancel | kAdmin))) {
      lossy
          .report(code::W0311, role.range,
                  fmt::format("role `{}` may list jobs without cancelling them: with `PrivateData=jobs` Slurm shows "
                              "its users only their own jobs",
                              role.name))
          .add_help("coordinators (roles with `cancel` or `admin`) see and cancel every job of their accounts");
    }
  }
  std::set<std::string> has_default;
  for (Index q : queues) {
    std::set<std::string> users;
    for (Index r : usable_roles(policy, q)) {
      if (!(policy.roles[r].permissions & kSubmit)) continue;
      users.insert(role_users[r].begin(), role_users[r].end());
    }
    for (const std::string& u : users) {
      SlurmUser su;
      su.user = u;
      su.account = account[q];
      su.qos = tiers(q);
      su.default_qos = su.qos.front();
      su.default_account = has_default.insert(u).second;
      config.users.push_back(std::move(su));
    }
  }
  for (Index s = 0; s < n; ++s) {
    std::set<std::string> users;
    for (Index r : policy.scopes[s].roles) {
      if (r >= policy.roles.size() || !(policy.roles[r].permissions & (kCancel | kAdmin))) continue;
      // Coordinators act on sub-accounts too: the topmost listing suffices.
      bool above = false;
      for (Index a = policy.scopes[s].parent; a != kNone && !above; a = policy.scopes[a].parent) {
        const auto& rs = policy.scopes[a].roles;
        above = std::find(rs.begin(), rs.end(), r) != rs.end();
      }
      if (!above) users.insert(role_users[r].begin(), role_users[r].end());
    }
    if (!users.empty()) config.coordinators.push_back({account[s], {users.begin(), users.end()}});
  }

  // ---- partitions: one per pool and hosted workload kind ---------------------
  for (Index p = 0; p < policy.pools.size(); ++p) {
    const Pool& pool = policy.pools[p];
    std::vector<std::string> nodes;
    for (const plan::InventoryNode& node : plan.inventory.nodes) {
      if (node.pool == pool.name) nodes.push_back(node.name);
    }
    if (pool.billing.mode != BillingMode::subscription) {
      lossy
          .report(code::W0313, pool.billing.range.valid() ? pool.billing.range : pool.name_range,
                  fmt::format("pool `{}` grows on demand, which Slurm does not: only its {} node{} are configured",
                              pool.name, nodes.size(), nodes.size() == 1 ? "" : "s"))
          .add_help("Slurm's power saving with cloud nodes can add nodes; configure it by hand");
    }
    for (WorkloadKind k : kKinds) {
      if (!(pool.hosts & static_cast<WorkloadSet>(k))) continue;
      SlurmPartition part;
      part.name = slurm_name(pool.name) + "-" + kind_name(k);
      part.pool = pool.name;
      part.kind = kind_name(k);
      part.nodes = nodes;
      for (Index q : queues) {
        if (policy.scopes[q].pool != p || !(policy.scopes[q].accepts & static_cast<WorkloadSet>(k))) continue;
        part.accounts.push_back(account[q]);
        for (const std::string& t : tiers(q)) part.qos.push_back(t);
      }
      if (part.accounts.empty()) continue;
      if (nodes.empty()) {
        config.notes.push_back(fmt::format("partition {}: pool {} has no nodes in the plan", part.name, pool.name));
        continue;
      }
      config.partitions.push_back(std::move(part));
    }
  }
  if (!plan.placement.demands.empty()) {
    const plan::Demand& d = plan.placement.demands.front();
    lossy
        .report(code::W0314, policy.scopes[d.scope].name_range,
                "the plan homes guaranteed GPUs on particular nodes; Slurm enforces the amounts, not the homes")
        .add_help("a reservation per scope (`scontrol create reservation`) can pin nodes, at node granularity");
  }

  // ---- the queue map for `allot submit --backend slurm` ------------------------
  for (Index q : queues) {
    const Scope& scope = policy.scopes[q];
    SlurmQueue m;
    m.path = scope.path;
    m.account = account[q];
    for (const SlurmPartition& part : config.partitions) {
      if (std::find(part.accounts.begin(), part.accounts.end(), account[q]) != part.accounts.end()) {
        m.partitions.emplace_back(part.kind, part.name);
      }
    }
    m.guaranteed_qos = qos_g[q];
    m.borrowed_qos = qos_b[q];
    m.guarantee_gpus = guarantee[q];
    m.grace_seconds = scope.preemptible ? seconds_up(scope.grace_period_ms) : 0;
    m.requeue = scope.on_preempt == OnPreempt::requeue;
    m.preemptible = scope.preemptible;
    if (scope.default_priority < policy.priorities.size()) m.priority = policy.priorities[scope.default_priority].name;
    config.queues.push_back(std::move(m));
  }
  return config;
}

namespace {

std::string header(const SlurmConfig& c, const char* what) {
  std::string out =
      fmt::format("# {}, written by `allot compile --target slurm`; do not edit (docs/backends.md)\n", what);
  out += fmt::format("# source_sha256 = {}\n", c.source_sha256);
  for (const std::string& s : c.sources) out += fmt::format("# source: {}\n", s);
  return out;
}

std::string quote_value(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\' || ch == '$' || ch == '`') out += '\\';
    out += ch;
  }
  return out + "\"";
}

std::string join(const std::vector<std::string>& items, const char* sep = ",") {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

}  // namespace

std::vector<OutputFile> render_slurm(const SlurmConfig& c) {
  std::vector<OutputFile> files;

  std::string conf = header(c, "slurm.conf fragment");
  conf += "# Include it from slurm.conf after the NodeName lines of the plan's nodes.\n\n";
  conf +=
      "# Priority classes, child_preemption and guarantee reclaim all become QOS\n"
      "# preemption (the Preempt lists are in qos.sacctmgr).\n"
      "PreemptType=preempt/qos\n"
      "PreemptMode=REQUEUE\n"
      "JobRequeue=1\n"
      "# A preempted job's batch script gets SIGTERM when its grace period starts\n"
      "# (jobs are submitted with --signal=B:TERM).\n"
      "SlurmctldParameters=preempt_send_user_signal\n"
      "# Pending work goes by class value (the QOS priority), then by age.\n"
      "PriorityType=priority/multifactor\n"
      "PriorityWeightQOS=1000000000\n"
      "PriorityWeightAge=1000\n"
      "PriorityMaxAge=7-0\n"
      "PriorityWeightFairshare=0\n"
      "PriorityWeightJobSize=0\n"
      "PriorityWeightPartition=0\n"
      "# Users see their own jobs; coordinators (roles with cancel or admin) their accounts'.\n"
      "PrivateData=jobs\n"
      "AccountingStorageEnforce=associations,limits,qos\n";
  for (const std::string& note : c.notes) conf += "# " + note + "\n";
  conf +=
      "\n# One partition per pool and hosted workload kind; a queue's `accepts` are\n"
      "# the partitions that allow its account.\n";
  for (const SlurmPartition& p : c.partitions) {
    conf += fmt::format(
        "PartitionName={} Nodes={} AllowAccounts={} AllowQos={} State=UP MaxTime=INFINITE "
        "OverSubscribe=NO\n",
        p.name, slurm_hostlist(p.nodes), join(p.accounts), join(p.qos));
  }
  files.push_back({"allot.conf", conf});

  std::string qos = "#!/bin/sh\n" + header(c, "QOS commands");
  qos +=
      "# Run with SLURM_CONF pointing at the cluster, before assoc.sacctmgr.\n"
      "# <queue>.g: the guaranteed tier, GrpTRES = the queue's share of its guarantee;\n"
      "# <queue>.b: the borrowed tier, limited by the account limits only;\n"
      "# <queue>: a queue without a guarantee. Priority = class value (+ the tier bonus on .g).\n";
  qos += fmt::format("# tier bonus: {}\nset -e\n", c.tier_bonus);
  for (const SlurmQos& q : c.qos) {
    qos += fmt::format("sacctmgr -i add qos {} Priority={} GraceTime={} PreemptMode={}{} Description={}\n", q.name,
                       q.priority, q.grace_seconds, q.cancel ? "cancel" : "requeue",
                       q.grp_gpus ? fmt::format(" GrpTRES=gres/gpu={}", *q.grp_gpus) : "", quote_value(q.description));
  }
  qos += "# preemption edges (acyclic: sacctmgr refuses loops)\n";
  for (const SlurmQos& q : c.qos) {
    if (!q.preempt.empty()) qos += fmt::format("sacctmgr -i modify qos {} set Preempt={}\n", q.name, join(q.preempt));
  }
  files.push_back({"qos.sacctmgr", qos});

  std::string assoc = "#!/bin/sh\n" + header(c, "account, user and coordinator commands");
  assoc += "# Run with SLURM_CONF pointing at the cluster, after qos.sacctmgr.\nset -e\n";
  for (const SlurmAccount& a : c.accounts) {
    assoc +=
        fmt::format("sacctmgr -i add account {} Parent={}{} Description={}\n", a.name, a.parent,
                    a.grp_gpus ? fmt::format(" GrpTRES=gres/gpu={}", *a.grp_gpus) : "", quote_value(a.description));
  }
  for (const SlurmUser& u : c.users) {
    assoc += fmt::format("sacctmgr -i add user {} Account={} QOS={} DefaultQOS={}{}\n", u.user, u.account, join(u.qos),
                         u.default_qos, u.default_account ? " DefaultAccount=" + u.account : "");
  }
  for (const SlurmCoordinator& co : c.coordinators) {
    assoc += fmt::format("sacctmgr -i add coordinator Account={} Names={}\n", co.account, join(co.users));
  }
  files.push_back({"assoc.sacctmgr", assoc});

  std::string map = header(c, "queue map for `allot submit --backend slurm`");
  map += fmt::format("source_sha256 = {}\n", emit::toml_string(c.source_sha256));
  for (const SlurmQueue& q : c.queues) {
    map +=
        fmt::format("\n[[queues]]\npath = {}\naccount = {}\n", emit::toml_string(q.path), emit::toml_string(q.account));
    std::string parts = "{";
    for (std::size_t i = 0; i < q.partitions.size(); ++i) {
      parts +=
          fmt::format("{} {} = {}", i ? "," : "", q.partitions[i].first, emit::toml_string(q.partitions[i].second));
    }
    map += fmt::format("partitions = {}\n", parts + (q.partitions.empty() ? "}" : " }"));
    if (!q.guaranteed_qos.empty()) {
      map += fmt::format("guaranteed_qos = {}\nguarantee_gpus = {}\n", emit::toml_string(q.guaranteed_qos),
                         q.guarantee_gpus);
    }
    map += fmt::format("borrowed_qos = {}\ngrace_seconds = {}\nrequeue = {}\npreemptible = {}\n",
                       emit::toml_string(q.borrowed_qos), q.grace_seconds, q.requeue, q.preemptible);
    if (!q.priority.empty()) map += fmt::format("priority = {}\n", emit::toml_string(q.priority));
  }
  for (const SlurmPartition& p : c.partitions) {
    map += fmt::format("\n[[partitions]]\nname = {}\npool = {}\nkind = {}\n", emit::toml_string(p.name),
                       emit::toml_string(p.pool), emit::toml_string(p.kind));
  }
  files.push_back({"queues.toml", map});
  return files;
}

}  // namespace allot::backend

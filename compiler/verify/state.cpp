#include "compiler/verify/state.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "compiler/base/codes.h"
#include "compiler/sema/model_queries.h"

namespace allot::verify {

using namespace model;

namespace {

SourceRange to_range(const SourceManager& sources, FileId file, const toml::source_region& region) {
  auto offset = [&](const toml::source_position& p) -> std::uint32_t {
    if (p.line == 0) return 0;
    const std::string_view line = sources.line_text(file, p.line);
    const std::size_t base = static_cast<std::size_t>(line.data() - sources.text(file).data());
    // Columns count code points; walk them.
    std::size_t i = 0;
    for (std::uint32_t col = 1; col < p.column && i < line.size(); ++col) {
      ++i;
      while (i < line.size() && (static_cast<unsigned char>(line[i]) & 0xC0) == 0x80) ++i;
    }
    return static_cast<std::uint32_t>(base + i);
  };
  SourceRange r{file, offset(region.begin), offset(region.end)};
  if (r.end < r.begin) r.end = r.begin;
  return r;
}

std::string date_text(const toml::node& node) {
  if (const auto* d = node.as_date()) {
    const toml::date& v = d->get();
    return fmt::format("{:04}-{:02}-{:02}", v.year, v.month, v.day);
  }
  if (const auto* s = node.as_string()) return s->get();
  return {};
}

constexpr std::int64_t kMaxLiveCount = 1'000'000'000;

// a + b, or nullopt where it would leave int64 (never wrapped).
std::optional<std::int64_t> checked_add(std::int64_t a, std::int64_t b) {
  std::int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) return std::nullopt;
  return sum;
}

bool valid_date(const std::string& s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

// `{ id = 7, state = "running", kind = "training", preemptible = true }`;
// every key is optional, an unknown one is an error.
template <typename Bad>
std::optional<LiveJob> parse_job(const toml::table& table, const toml::node& node, Bad& bad,
                                 const SourceManager& sources, FileId file) {
  LiveJob job;
  job.range = to_range(sources, file, node.source());
  bool ok = true;
  for (auto&& [key, value] : table) {
    const std::string k(key.str());
    if (k == "id" && value.is_integer()) {
      job.id = value.as_integer()->get();
    } else if ((k == "state" || k == "kind") && value.is_string()) {
      (k == "state" ? job.state : job.kind) = value.as_string()->get();
    } else if (k == "preemptible" && value.is_boolean()) {
      job.preemptible = value.as_boolean()->get();
    } else if (k == "id" || k == "state" || k == "kind" || k == "preemptible") {
      bad(value, fmt::format("a job's `{}` is {}", k,
                             k == "id"            ? "an integer"
                             : k == "preemptible" ? "true or false"
                                                  : "a string"));
      ok = false;
    } else {
      bad(value, fmt::format("unknown job key `{}`", k));
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return job;
}

}  // namespace

std::optional<LiveState> parse_state(const SourceManager& sources, FileId file, const std::string& today,
                                     DiagnosticSink& sink) {
  const std::size_t errors = sink.error_count();
  toml::table root;
  try {
    root = toml::parse(sources.text(file), sources.path(file));
  } catch (const toml::parse_error& e) {
    sink.error(code::E0220, to_range(sources, file, e.source()),
               fmt::format("invalid state file: {}", std::string(e.description())));
    return std::nullopt;
  }
  auto bad = [&](const toml::node& node, std::string message) -> Diagnostic& {
    return sink.error(code::E0220, to_range(sources, file, node.source()), std::move(message));
  };
  LiveState state;
  state.as_of = today;
  const std::filesystem::path dir = std::filesystem::path(sources.path(file)).parent_path();
  for (auto&& [key, node] : root) {
    const std::string k(key.str());
    if (k == "policy") {
      state.policy_range = to_range(sources, file, node.source());
      if (const auto* s = node.as_string()) {
        state.policy_files.push_back((dir / s->get()).lexically_normal().string());
      } else if (const auto* a = node.as_array()) {
        for (const toml::node& item : *a) {
          if (const auto* s2 = item.as_string()) {
            state.policy_files.push_back((dir / s2->get()).lexically_normal().string());
          } else {
            bad(item, "`policy` lists paths: strings");
          }
        }
      } else {
        bad(node, "`policy` is a path or a list of paths");
      }
    } else if (k == "plan") {
      if (const auto* s = node.as_string()) {
        state.plan = s->get();
      } else {
        bad(node, "`plan` is the fingerprint of the plan in force, a string");
      }
    } else if (k == "as_of") {
      state.as_of = date_text(node);
      if (!valid_date(state.as_of)) bad(node, "`as_of` is a date such as 2026-05-01");
    } else if (k == "pools") {
      const auto* t = node.as_table();
      if (!t) {
        bad(node, "`pools` is a table of pools by name");
        continue;
      }
      for (auto&& [name, pnode] : *t) {
        LivePool pool;
        pool.name = std::string(name.str());
        pool.range = to_range(sources, file, name.source());
        const auto* pt = pnode.as_table();
        if (!pt) {
          bad(pnode, fmt::format("pool `{}` is a table", pool.name));
          continue;
        }
        for (auto&& [pk, pv] : *pt) {
          const std::string pks(pk.str());
          if (pks == "status") {
            const std::string s = pv.value_or(std::string());
            if (s == "running") {
              pool.status = PoolStatus::running;
            } else if (s == "abnormal") {
              pool.status = PoolStatus::abnormal;
            } else if (s == "creating") {
              pool.status = PoolStatus::creating;
            } else {
              bad(pv, "`status` is \"running\", \"abnormal\" or \"creating\"");
            }
          } else if (pks == "nodes") {
            const auto* a = pv.as_array();
            if (!a) {
              bad(pv, "`nodes` is a list of `{ name = \"...\", expires = 2027-03-31 }`");
              continue;
            }
            for (const toml::node& item : *a) {
              const auto* nt = item.as_table();
              if (!nt || !(*nt)["name"].is_string()) {
                bad(item, "a node is `{ name = \"...\", expires = 2027-03-31 }`");
                continue;
              }
              LiveNode n;
              n.name = (*nt)["name"].value_or(std::string());
              n.range = to_range(sources, file, item.source());
              for (auto&& [nk, nv] : *nt) {
                const std::string nks(nk.str());
                if (nks == "name") continue;
                if (nks == "expires") {
                  n.expires = date_text(nv);
                  if (!valid_date(*n.expires)) bad(nv, "`expires` is a date such as 2027-03-31");
                } else if (nks == "status") {
                  const std::string st = nv.value_or(std::string());
                  if (st == "ready") {
                    n.status = NodeStatus::ready;
                  } else if (st == "cordoned") {
                    n.status = NodeStatus::cordoned;
                  } else if (st == "draining") {
                    n.status = NodeStatus::draining;
                  } else {
                    bad(nv, "a node's `status` is \"ready\", \"cordoned\" or \"draining\"");
                  }
                } else {
                  bad(nv, fmt::format("unknown node key `{}`", nks));
                }
              }
              pool.nodes.push_back(std::move(n));
            }
          } else {
            bad(pv, fmt::format("unknown pool key `{}`", pks));
          }
        }
        state.pools.push_back(std::move(pool));
      }
    } else if (k == "scopes") {
      const auto* t = node.as_table();
      if (!t) {
        bad(node, "`scopes` is a table of scopes by path");
        continue;
      }
      for (auto&& [path, snode] : *t) {
        LiveScope scope;
        scope.path = std::string(path.str());
        scope.range = to_range(sources, file, path.source());
        const auto* st = snode.as_table();
        if (!st) {
          bad(snode, fmt::format("scope `{}` is a table", scope.path));
          continue;
        }
        for (auto&& [sk, sv] : *st) {
          const std::string sks(sk.str());
          if (sks == "used" || sks == "held") {
            const auto* ut = sv.as_table();
            if (!ut) {
              bad(sv, fmt::format("`{}` is a table such as `{{ gpu = 78 }}`", sks));
              continue;
            }
            std::vector<LiveAmount>& into = sks == "used" ? scope.used : scope.held;
            if (sks == "held") scope.held_given = true;
            for (auto&& [res, amount] : *ut) {
              LiveAmount a;
              a.resource = std::string(res.str());
              a.range = to_range(sources, file, amount.source());
              if (const auto* i = amount.as_integer()) {
                a.text = std::to_string(i->get());
              } else if (const auto* f = amount.as_floating_point()) {
                a.text = fmt::format("{:.6f}", f->get());
              } else if (const auto* s = amount.as_string()) {
                a.text = s->get();
              } else {
                bad(amount, "an amount is a number or a string such as \"80GiB\"");
                continue;
              }
              into.push_back(std::move(a));
            }
          } else if (sks == "deployments" || sks == "jobs") {
            if (const auto* i = sv.as_integer()) {
              // Bounded here so that sums over any number of scopes stay exact.
              if (i->get() < 0 || i->get() > kMaxLiveCount) {
                bad(sv, fmt::format("`{}` must be a count from 0 to {}", sks, kMaxLiveCount));
                continue;
              }
              scope.active += i->get();
            } else if (const auto* a = sv.as_array()) {
              scope.active += static_cast<std::int64_t>(a->size());
              for (const toml::node& item : *a) {
                if (const auto* name = item.as_string()) {
                  scope.active_names.push_back(name->get());
                  continue;
                }
                const auto* jt = item.as_table();
                if (!jt || sks != "jobs") {
                  bad(item, sks == "jobs" ? "a job is a name or `{ id = 7, state = \"running\", kind = \"training\", "
                                            "preemptible = true }`"
                                          : "a deployment is a name");
                  continue;
                }
                if (std::optional<LiveJob> job = parse_job(*jt, item, bad, sources, file)) {
                  scope.jobs.push_back(std::move(*job));
                }
              }
            } else {
              bad(sv, fmt::format("`{}` is a count or a list of names", sks));
            }
          } else {
            bad(sv, fmt::format("unknown scope key `{}`", sks));
          }
        }
        state.scopes.push_back(std::move(scope));
      }
    } else {
      bad(node, fmt::format("unknown key `{}`", k));
    }
  }
  if (state.policy_files.empty() && sink.error_count() == errors) {
    sink.error(code::E0220, SourceRange{file, 0, 0}, "the state file names no deployed policy")
        .add_help("add `policy = \"deployed.allot\"` (relative to the state file)");
  }
  if (sink.error_count() != errors) return std::nullopt;
  return state;
}

std::optional<Amount> parse_live_amount(const Policy& policy, Index resource, const std::string& text) {
  const bool memory = resource < policy.resources.size() ? policy.resources[resource].kind == ResourceKind::memory
                                                         : resource == kMemory;
  std::size_t i = 0;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
  const std::string number = text.substr(0, i), unit = text.substr(i);
  if (number.empty()) return std::nullopt;
  // Exact decimal: whole and fraction parts.
  const std::size_t dot = number.find('.');
  const std::string whole = number.substr(0, dot);
  std::string frac = dot == std::string::npos ? "" : number.substr(dot + 1);
  if (whole.size() > 12 || frac.find('.') != std::string::npos) return std::nullopt;
  std::int64_t multiplier = 0;
  if (memory) {
    if (unit == "MiB")
      multiplier = 1;
    else if (unit == "GiB" || unit.empty())
      multiplier = 1024;
    else if (unit == "TiB")
      multiplier = 1024 * 1024;
  } else {
    if (unit.empty())
      multiplier = 1000;
    else if (unit == "m")
      multiplier = 1;
  }
  if (multiplier == 0) return std::nullopt;
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  std::int64_t w = whole.empty() ? 0 : std::stoll(whole);
  __int128 value = static_cast<__int128>(w) * multiplier;
  __int128 denom = 1, f = 0;
  for (char c : frac) {
    f = f * 10 + (c - '0');
    denom *= 10;
    if (denom > 1'000'000'000'000LL) return std::nullopt;
  }
  if ((f * multiplier) % denom != 0) return std::nullopt;
  value += f * multiplier / denom;
  return static_cast<Amount>(value);
}

namespace {

std::string name_of(const Scope& s) {
  return quoted(s.kind == ScopeKind::quota || s.kind == ScopeKind::workspace ? s.name : s.path);
}

std::optional<Index> resource_index(const Policy& policy, const std::string& name) {
  for (Index r = 0; r < policy.resources.size(); ++r) {
    if (policy.resources[r].name == name) return r;
  }
  static constexpr const char* kBuiltin[] = {"gpu", "cpu", "memory", "cu"};
  if (policy.resources.empty()) {
    for (Index r = 0; r < 4; ++r) {
      if (name == kBuiltin[r]) return r;
    }
  }
  return std::nullopt;
}

Amount fixed_total(const Policy& policy, Index pool, Index resource) {
  return pool_capacity(policy, pool, resource).fixed;
}

std::int64_t node_count(const Pool& pool) {
  std::int64_t n = static_cast<std::int64_t>(pool.nodes.size());
  for (const NodeGroup& g : pool.node_groups) n += g.count;
  return n;
}

// The settings of an explicit queue `a` that its implicit successor `b` no
// longer has.
std::vector<std::string> reset_settings(const Policy& pa, const Scope& a, const Policy& pb, const Scope& b) {
  std::vector<std::string> out;
  for (Index r = 0; r < a.bounds.size(); ++r) {
    if (!a.bounds[r]) continue;
    const Bound* other = nullptr;
    for (Index q = 0; q < b.bounds.size(); ++q) {
      if (b.bounds[q] && resource_name(pb, q) == resource_name(pa, r)) other = &*b.bounds[q];
    }
    if (!other || other->guarantee != a.bounds[r]->guarantee || other->limit != a.bounds[r]->limit)
      out.push_back(resource_name(pa, r));
  }
  auto priority = [](const Policy& p, Index i) { return i < p.priorities.size() ? p.priorities[i].name : ""; };
  if (priority(pa, a.default_priority) != priority(pb, b.default_priority)) out.emplace_back("priority");
  if (a.preemptible != b.preemptible) out.emplace_back("preemptible");
  if (a.grace_period_ms != b.grace_period_ms) out.emplace_back("grace_period");
  if (a.on_preempt != b.on_preempt) out.emplace_back("on_preempt");
  if (a.accepts != b.accepts) out.emplace_back("accepts");
  if (a.gpu_sharing != b.gpu_sharing) out.emplace_back("gpu_sharing");
  if (a.roles.size() != b.roles.size()) out.emplace_back("roles");
  return out;
}

}  // namespace

std::size_t check_change(const Policy& deployed, const Policy& next, const LiveState& state, DiagnosticSink& sink) {
  const std::size_t before = sink.error_count();
  std::size_t resources = std::max<std::size_t>(4, deployed.resources.size());

  // Which scope of the new policy each deployed scope becomes: the one at
  // its path, or the one that says it was renamed from it (`renamed_from`,
  // on it or an ancestor). A renamed scope is neither deleted nor new.
  std::vector<std::optional<Index>> to_deployed(next.scopes.size()), to_next(deployed.scopes.size());
  for (Index n = 0; n < next.scopes.size(); ++n) {
    std::optional<Index> d = deployed.find_scope(next.scopes[n].path);  // already renamed: itself
    if (!d) d = deployed.find_scope(previous_path(next, n));
    if (d && !to_next[*d]) {
      to_deployed[n] = d;
      to_next[*d] = n;
    }
  }

  // Usage per deployed scope and resource: what the state reports, at least
  // the sum of its children.
  std::vector<std::vector<Amount>> used(deployed.scopes.size(), std::vector<Amount>(resources, 0));
  std::vector<std::vector<SourceRange>> used_at(deployed.scopes.size(), std::vector<SourceRange>(resources));
  // What non-preemptible work uses: `held` where the state gives it, else
  // all of `used`.
  std::vector<std::vector<Amount>> held(deployed.scopes.size(), std::vector<Amount>(resources, 0));
  std::vector<std::vector<SourceRange>> held_at(deployed.scopes.size(), std::vector<SourceRange>(resources));
  std::vector<std::int64_t> active(deployed.scopes.size(), 0);
  std::vector<SourceRange> active_at(deployed.scopes.size());
  for (const LiveScope& ls : state.scopes) {
    const std::optional<Index> s = deployed.find_scope(ls.path);
    if (!s) {
      sink.warning(code::E0229, ls.range,
                   fmt::format("the state names scope `{}`, which the deployed policy lacks", ls.path));
      continue;
    }
    const std::optional<std::int64_t> total = checked_add(active[*s], ls.active);
    if (!total) {
      sink.error(code::E0220, ls.range, fmt::format("the deployments and jobs of scope `{}` are too many", ls.path));
      return sink.error_count() - before;
    }
    active[*s] = *total;
    active_at[*s] = ls.range;
    for (const bool is_held : {false, true}) {
      if (is_held && !ls.held_given) break;
      for (const LiveAmount& a : is_held ? ls.held : ls.used) {
        const std::optional<Index> r = resource_index(deployed, a.resource);
        std::optional<Amount> v = r ? parse_live_amount(deployed, *r, a.text) : std::nullopt;
        if (!r || *r >= resources) {
          sink.warning(code::E0229, a.range,
                       fmt::format("the state names resource `{}`, which the deployed policy lacks", a.resource));
          continue;
        }
        if (!v) {
          sink.error(code::E0220, a.range, fmt::format("invalid amount `{}` of {}", a.text, quoted(a.resource)));
          continue;
        }
        if (!is_held) {
          used[*s][*r] = *v;
          used_at[*s][*r] = a.range;
        }
        if (is_held || !ls.held_given) {
          held[*s][*r] = *v;
          held_at[*s][*r] = a.range;
        }
      }
    }
  }
  // Children after parents: sum bottom-up, checked (live amounts are large
  // enough that a few siblings could overflow).
  for (Index i = static_cast<Index>(deployed.scopes.size()); i-- > 0;) {
    const Scope& s = deployed.scopes[i];
    auto overflow = [&](Index r, const char* what) {
      const SourceRange at = used_at[i][r].valid() ? used_at[i][r] : active_at[i];
      sink.error(code::E0220, at.valid() ? at : SourceRange{},
                 fmt::format("the {} of the children of {} add up to more than can be counted", what, name_of(s)))
          .add_help("live amounts are counted in milli-units or MiB as 64-bit integers");
      return sink.error_count() - before;
    };
    for (Index r = 0; r < resources; ++r) {
      Amount children = 0;
      for (Index c : s.children) {
        const std::optional<Amount> sum = checked_add(children, c < used.size() ? used[c][r] : 0);
        if (!sum) return overflow(r, "used amounts");
        children = *sum;
      }
      if (children > used[i][r]) {
        used[i][r] = children;
        if (!used_at[i][r].valid()) {
          for (Index c : s.children) {
            if (used_at[c][r].valid()) used_at[i][r] = used_at[c][r];
          }
        }
      }
      Amount children_held = 0;
      for (Index c : s.children) children_held += c < held.size() ? held[c][r] : 0;  // at most `children`
      if (children_held > held[i][r]) {
        held[i][r] = children_held;
        if (!held_at[i][r].valid()) {
          for (Index c : s.children) {
            if (held_at[c][r].valid()) held_at[i][r] = held_at[c][r];
          }
        }
      }
    }
    for (Index c : s.children) {
      const std::optional<std::int64_t> sum = checked_add(active[i], c < active.size() ? active[c] : 0);
      if (!sum) return overflow(0, "deployments and jobs");
      active[i] = *sum;
    }
  }
  for (const LivePool& lp : state.pools) {
    if (!deployed.find_pool(lp.name) && !next.find_pool(lp.name)) {
      sink.warning(code::E0229, lp.range, fmt::format("the state names pool `{}`, which neither policy has", lp.name));
    }
  }

  // Active work not on a queue (a queue reports its own, E0221): what the
  // state names on the scope itself and on the scopes below it that are not
  // queues.
  std::vector<std::int64_t> off_queue(deployed.scopes.size(), 0);
  for (const LiveScope& ls : state.scopes) {
    const std::optional<Index> s = deployed.find_scope(ls.path);
    if (s && deployed.scopes[*s].kind != ScopeKind::queue) off_queue[*s] += ls.active;
  }
  for (Index i = static_cast<Index>(deployed.scopes.size()); i-- > 0;) {
    for (Index c : deployed.scopes[i].children) {
      if (c < off_queue.size() && deployed.scopes[c].kind != ScopeKind::queue) off_queue[i] += off_queue[c];
    }
  }

  // Deleted scopes.
  for (Index d = 0; d < deployed.scopes.size(); ++d) {
    const Scope& ds = deployed.scopes[d];
    if (to_next[d]) continue;
    if (ds.kind == ScopeKind::queue) {
      const Index next_parent = ds.parent == kNone || !to_next[ds.parent] ? kNone : *to_next[ds.parent];
      if (ds.name == "default-queue" && next_parent != kNone) {
        sink.error(code::E0222, next.scopes[next_parent].name_range,
                   fmt::format("the change deletes {}, and a `default-queue` is never deleted", name_of(ds)))
            .note("it is declared here in the deployed policy", ds.name_range);
      }
      // Only the queue itself: its own deployments.
      std::int64_t own = 0;
      std::vector<std::string> names;
      for (const LiveScope& ls : state.scopes) {
        if (ls.path != ds.path) continue;
        own += ls.active;
        names.insert(names.end(), ls.active_names.begin(), ls.active_names.end());
        for (const LiveJob& job : ls.jobs) names.push_back(fmt::format("job {}", job.id));
      }
      if (own > 0) {
        // At the namespace of the new policy that lost the queue: the change
        // to review is there, not in the state file.
        const bool in_next = next_parent != kNone;
        std::string listed;
        constexpr std::size_t kNamed = 5;
        for (std::size_t k = 0; k < names.size() && k < kNamed; ++k) {
          listed += fmt::format("{}`{}`", k == 0 ? "" : ", ", names[k]);
        }
        if (names.size() > kNamed) listed += fmt::format(" and {} more", names.size() - kNamed);
        Diagnostic& diag = sink.error(
            code::E0221, in_next ? next.scopes[next_parent].name_range : active_at[d],
            fmt::format("the change deletes queue {}, which has {} active deployment{} or job{}{}", name_of(ds), own,
                        own == 1 ? "" : "s", own == 1 ? "" : "s", listed.empty() ? "" : ": " + listed));
        if (in_next) diag.note("the state reports them here", active_at[d]);
        diag.note("the queue is declared here in the deployed policy", ds.name_range)
            .add_help("stop or move its deployments and jobs first, then delete the queue");
      } else {
        for (Index r = 0; r < resources; ++r) {
          if (used[d][r] <= 0) continue;
          sink.error(code::E0221, used_at[d][r],
                     fmt::format("the change deletes queue {}, which runs work using {}", name_of(ds),
                                 format_amount(deployed, r, used[d][r])))
              .note("it is declared here in the deployed policy", ds.name_range)
              .add_help("stop or move its deployments and jobs first, then delete the queue");
          break;
        }
      }
      continue;
    }
    if (ds.parent != kNone && !to_next[ds.parent]) continue;  // reported at the parent
    bool reported = false;
    for (Index r = 0; r < resources; ++r) {
      if (used[d][r] <= 0) continue;
      reported = true;
      sink.error(
              code::E0224, used_at[d][r],
              fmt::format("the change deletes {}, which uses {}", name_of(ds), format_amount(deployed, r, used[d][r])))
          .note("it is declared here in the deployed policy", ds.name_range)
          .add_help("let its work finish or move it first");
      break;
    }
    if (const std::int64_t n = off_queue[d]; !reported && n > 0) {
      sink.error(code::E0224, active_at[d].valid() ? active_at[d] : ds.name_range,
                 fmt::format("the change deletes {}, which has {} active deployment{} or job{}", name_of(ds), n,
                             n == 1 ? "" : "s", n == 1 ? "" : "s"))
          .note("it is declared here in the deployed policy", ds.name_range)
          .add_help("let its work finish or move it first");
    }
  }

  // Reduced scopes and new guarantees on pools that are not running.
  for (Index n = 0; n < next.scopes.size(); ++n) {
    const Scope& ns = next.scopes[n];
    const std::optional<Index> d = to_deployed[n];
    for (Index r = 0; r < resources && r < std::max(ns.bounds.size(), std::size_t{4}); ++r) {
      if (d) {
        // Only where the scope's own bound changes; scopes below it inherit.
        const Bound* own_bound = bound_of(next, n, r);
        const bool has_limit = own_bound != nullptr && own_bound->limit.has_value();
        const Amount new_limit = has_limit ? *own_bound->limit : 0;
        const std::optional<Amount> old_limit = effective_limit(deployed, *d, r);
        const Amount u = used[*d][r];
        if (has_limit && u > new_limit && (!old_limit || new_limit < *old_limit)) {
          Diagnostic& diag = sink.error(code::E0223, bound_range(next, n, r),
                                        fmt::format("{} cannot be reduced to {}: it uses {} now", name_of(ns),
                                                    format_amount(next, r, new_limit), format_amount(next, r, u)));
          diag.note(fmt::format("the live state reports {} in use by {} and its children", format_amount(next, r, u),
                                name_of(ns)),
                    used_at[*d][r]);
          if (old_limit) {
            diag.note(fmt::format("the deployed policy allows {}", format_amount(deployed, r, *old_limit)),
                      bound_range(deployed, *d, r));
          }
          diag.add_help("reduce it only after its usage has fallen, or reduce it in steps (scale down bottom-up)");
        } else if (const Amount g = guarantee_of(next, n, r), old_g = guarantee_of(deployed, *d, r), h = held[*d][r];
                   g < old_g && h > g) {
          // A guarantee is what the scope can always get back; work that
          // cannot be preempted keeps what it holds, so the guarantee must
          // not fall below it.
          sink.error(code::E0242, bound_range(next, n, r),
                     fmt::format("{} cannot shrink its guarantee to {}: non-preemptible work holds {} of it now",
                                 name_of(ns), format_amount(next, r, g), format_amount(next, r, h)))
              .note(fmt::format("the live state reports {} held by non-preemptible work in {} and its children",
                                format_amount(next, r, h), name_of(ns)),
                    held_at[*d][r])
              .note(fmt::format("the deployed policy guarantees {}", format_amount(deployed, r, old_g)),
                    bound_range(deployed, *d, r))
              .add_help("wait until that work has ended or moved, or shrink the guarantee less");
        }
      }
      const Amount new_g = guarantee_of(next, n, r);
      const Amount old_g = d ? guarantee_of(deployed, *d, r) : 0;
      if (new_g > old_g && ns.pool < next.pools.size()) {
        const std::string& pool = next.pools[ns.pool].name;
        for (const LivePool& lp : state.pools) {
          if (lp.name != pool || lp.status == PoolStatus::running) continue;
          sink.error(code::E0227, bound_range(next, n, r),
                     fmt::format("the change raises the guarantee of {} on pool {}, which is {}", name_of(ns),
                                 quoted(pool), lp.status == PoolStatus::creating ? "still being created" : "abnormal"))
              .note(fmt::format("the live state reports pool {} as `{}`", quoted(pool),
                                lp.status == PoolStatus::creating ? "creating" : "abnormal"),
                    lp.range)
              .add_help("place new guarantees once the pool is `running`");
        }
      }
    }
  }

  // A `default-queue` whose declaration is deleted is not deleted: it goes
  // back to the settings of an implicit one.
  for (Index n = 0; n < next.scopes.size(); ++n) {
    const Scope& nq = next.scopes[n];
    if (nq.kind != ScopeKind::queue || !nq.implicit) continue;
    const std::optional<Index> d = to_deployed[n];
    if (!d || deployed.scopes[*d].implicit) continue;
    const std::vector<std::string> reset = reset_settings(deployed, deployed.scopes[*d], next, nq);
    if (reset.empty()) continue;
    std::string list;
    for (const std::string& f : reset) list += (list.empty() ? "`" : ", `") + f + "`";
    Amount busy = 0;
    for (Index r = 0; r < resources; ++r) busy = std::max(busy, used[*d][r]);
    const bool live = busy > 0 || active[*d] > 0;
    const SourceRange at = nq.name_range.valid() ? nq.name_range : nq.range;
    const std::string message =
        fmt::format("the change deletes the declaration of {}, which resets its {} to the defaults{}", name_of(nq),
                    list, live ? " while work runs in it" : "");
    Diagnostic& diag = live ? sink.error(code::E0230, at, message) : sink.warning(code::E0231, at, message);
    diag.note("it is declared here in the deployed policy", deployed.scopes[*d].name_range);
    if (live && active_at[*d].valid()) diag.note("the live state reports work in it", active_at[*d]);
    diag.add_help("keep the `queue default-queue { ... }` declaration, or write the settings it should have now");
  }

  // Subscription pools: no scale-in, no deletion, no node removed before it expires.
  for (Index p = 0; p < deployed.pools.size(); ++p) {
    const Pool& dp = deployed.pools[p];
    if (dp.billing.mode == BillingMode::pay_as_you_go) continue;
    const std::optional<Index> np = next.find_pool(dp.name);
    const SourceRange live_range = [&] {
      for (const LivePool& lp : state.pools) {
        if (lp.name == dp.name) return lp.range;
      }
      return SourceRange{};
    }();
    // Nodes whose subscription has expired may go (every provider): the
    // live state's expiry dates, and those of the deployed policy for nodes
    // the state does not list.
    std::int64_t expired = 0;
    for (const LivePool& lp : state.pools) {
      if (lp.name != dp.name) continue;
      for (const LiveNode& node : lp.nodes) expired += node.expires && *node.expires <= state.as_of ? 1 : 0;
    }
    for (const NamedNode& nn : dp.nodes) {
      if (!nn.expires || *nn.expires > state.as_of) continue;
      bool listed = false;
      for (const LivePool& lp : state.pools)
        for (const LiveNode& node : lp.nodes) listed = listed || (lp.name == dp.name && node.name == nn.name);
      expired += listed ? 0 : 1;
    }
    const std::int64_t nodes_before = node_count(dp);
    if (!np) {
      if (nodes_before > 0 && expired >= nodes_before) continue;  // every node has expired
      sink.error(code::E0225, live_range.valid() ? live_range : state.policy_range,
                 fmt::format("the change deletes subscription pool {}", quoted(dp.name)))
          .note(fmt::format("it is declared here in the deployed policy; {} of its {} nodes have expired", expired,
                            nodes_before),
                dp.name_range)
          .add_help("a subscription pool runs until its term ends; delete it once every node has expired");
      continue;
    }
    const Pool& npool = next.pools[*np];
    if (dp.provider == Provider::modelarts && node_count(npool) > nodes_before) {
      sink.error(code::E0250, npool.name_range,
                 fmt::format("the change scales ModelArts pool {} from {} to {} nodes", quoted(dp.name), nodes_before,
                             node_count(npool)))
          .note("the deployed policy bills it yearly/monthly here", dp.billing.range)
          .add_help("a yearly/monthly ModelArts pool keeps its size; buy another pool or use pay-as-you-go");
    }
    // Scale-in by expired nodes only; E0226 below names a node removed early.
    const bool only_expired_leave = node_count(npool) >= nodes_before - expired;
    for (Index r : {kGpu, kCpu, kMemory}) {
      const Amount before_amount = fixed_total(deployed, p, r), after = fixed_total(next, *np, r);
      if (after < before_amount && !only_expired_leave) {
        sink.error(code::E0225, npool.name_range,
                   fmt::format("the change scales in subscription pool {} from {} to {}", quoted(dp.name),
                               format_amount(deployed, r, before_amount), format_amount(next, r, after)))
            .note("the deployed policy has it here", dp.name_range)
            .add_help("subscription nodes stay until their term ends");
        break;
      }
    }
    // Nodes with a future expiry must remain.
    auto has_node = [&](const std::string& name) {
      for (const NamedNode& nn : npool.nodes) {
        if (nn.name == name) return true;
      }
      return false;
    };
    std::int64_t unexpired = 0;
    for (const LivePool& lp : state.pools) {
      if (lp.name != dp.name) continue;
      for (const LiveNode& node : lp.nodes) {
        if (node.expires && *node.expires <= state.as_of) continue;
        ++unexpired;
        const bool named_before = [&] {
          for (const NamedNode& nn : dp.nodes) {
            if (nn.name == node.name) return true;
          }
          return false;
        }();
        if (named_before && !has_node(node.name)) {
          sink.error(code::E0226, npool.name_range,
                     fmt::format("the change removes node `{}` from pool {} before it expires{}", node.name,
                                 quoted(dp.name), node.expires ? " on " + *node.expires : ""))
              .note("the live state lists it here", node.range)
              .add_help("remove a subscription node only after its expiry date");
        }
      }
    }
    for (const NamedNode& nn : dp.nodes) {
      if (!nn.expires || *nn.expires <= state.as_of || has_node(nn.name)) continue;
      bool listed = false;
      for (const LivePool& lp : state.pools) {
        for (const LiveNode& node : lp.nodes) listed = listed || (lp.name == dp.name && node.name == nn.name);
      }
      if (listed) continue;
      sink.error(code::E0226, npool.name_range,
                 fmt::format("the change removes node `{}` from pool {} before it expires on {}", nn.name,
                             quoted(dp.name), *nn.expires))
          .note("the deployed policy declares it here", nn.range)
          .add_help("remove a subscription node only after its expiry date");
    }
    if (unexpired > 0 && node_count(npool) < unexpired) {
      sink.error(code::E0226, npool.name_range,
                 fmt::format("pool {} would have {} nodes, fewer than the {} whose subscription has not expired",
                             quoted(dp.name), node_count(npool), unexpired));
    }
  }
  return sink.error_count() - before;
}

}  // namespace allot::verify

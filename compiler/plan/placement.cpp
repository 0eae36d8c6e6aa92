#include "compiler/plan/placement.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <numeric>
#include <set>

#include "compiler/base/codes.h"
#include "compiler/sema/model_queries.h"

namespace allot::plan {

using namespace model;

namespace {

constexpr std::int64_t kMilli = 1000;

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return b <= 0 ? 0 : (a + b - 1) / b; }

// GPUs of demand `d` previously homed on node `n`.
std::int64_t previous_on_node(const smt::PlacementProblem& p, std::size_t d, std::uint32_t n) {
  if (d >= p.previous.size()) return 0;
  std::int64_t sum = 0;
  const smt::OptNode& node = p.nodes[n];
  for (std::uint32_t k = node.first_domain; k < node.first_domain + node.domain_count; ++k) sum += p.previous[d][k];
  return sum;
}

// Spreads `amount` GPUs of demand `d` on node `n` over its domains: the
// best-fitting domain, else the roomiest ones first.
void fill_domains(const smt::PlacementProblem& p, std::vector<std::int64_t>& free_domain, smt::PlacementSolution& s,
                  std::size_t d, std::uint32_t n, std::int64_t amount) {
  const smt::OptNode& node = p.nodes[n];
  const std::uint32_t begin = node.first_domain, end = node.first_domain + node.domain_count;
  // Previous homes first, so that re-plans keep GPUs where they were.
  if (d < p.previous.size()) {
    for (std::uint32_t k = begin; k < end && amount > 0; ++k) {
      const std::int64_t take = std::min({amount, free_domain[k], p.previous[d][k]});
      free_domain[k] -= take;
      s.amount[d][k] += take;
      amount -= take;
    }
  }
  while (amount > 0) {
    std::uint32_t best = end;
    for (std::uint32_t k = begin; k < end; ++k) {
      if (free_domain[k] >= amount && (best == end || free_domain[k] < free_domain[best])) best = k;
    }
    if (best == end) {
      for (std::uint32_t k = begin; k < end; ++k) {
        if (free_domain[k] > 0 && (best == end || free_domain[k] > free_domain[best])) best = k;
      }
    }
    if (best == end) return;  // no room: the caller checked capacity
    const std::int64_t take = std::min(amount, free_domain[best]);
    free_domain[best] -= take;
    s.amount[d][best] += take;
    amount -= take;
  }
}

}  // namespace

const char* to_string(Method method) {
  switch (method) {
    case Method::exact:
      return "exact";
    case Method::heuristic:
      return "heuristic";
    case Method::first_fit:
      return "first-fit";
  }
  return "?";
}

std::vector<Demand> own_shares(const Policy& policy) {
  std::vector<Demand> out;
  for (Index s = 0; s < policy.scopes.size(); ++s) {
    const Bound* b = model::bound_of(policy, s, kGpu);
    if (!b) continue;
    Amount own = b->guarantee;
    for (Index c : model::bounded_frontier(policy, s, kGpu)) own -= model::guarantee_of(policy, c, kGpu);
    if (own <= 0) continue;
    Demand d;
    d.scope = s;
    d.path = policy.scopes[s].path;
    d.pool = policy.scopes[s].pool;
    d.own_milli = own;
    d.gpus = ceil_div(own, kMilli);
    out.push_back(std::move(d));
  }
  return out;
}

bool valid_solution(const smt::PlacementProblem& p, const smt::PlacementSolution& s) {
  if (s.amount.size() != p.demands.size()) return false;
  std::vector<std::int64_t> used(p.domains.size(), 0);
  for (std::size_t d = 0; d < p.demands.size(); ++d) {
    if (s.amount[d].size() != p.domains.size()) return false;
    std::int64_t total = 0;
    for (std::size_t k = 0; k < p.domains.size(); ++k) {
      const std::int64_t x = s.amount[d][k];
      if (x < 0) return false;
      if (x > 0 && !std::binary_search(p.demands[d].nodes.begin(), p.demands[d].nodes.end(), p.domains[k].node)) {
        return false;
      }
      used[k] += x;
      total += x;
    }
    if (total != p.demands[d].gpus) return false;
  }
  for (std::size_t k = 0; k < p.domains.size(); ++k) {
    if (used[k] > p.domains[k].capacity) return false;
  }
  return true;
}

Quality evaluate(const smt::PlacementProblem& p, const smt::PlacementSolution& s) {
  Quality q;
  for (std::uint32_t n = 0; n < p.nodes.size(); ++n) {
    const smt::OptNode& node = p.nodes[n];
    std::int64_t scopes = 0, placed = 0;
    for (std::size_t d = 0; d < p.demands.size(); ++d) {
      std::int64_t on = 0;
      for (std::uint32_t k = node.first_domain; k < node.first_domain + node.domain_count; ++k) {
        on += s.amount[d][k];
        if (s.amount[d][k] > 0) ++q.scope_domains;
      }
      if (on > 0) ++scopes;
      placed += on;
    }
    if (scopes >= 2) ++q.shared_nodes;
    if (placed == 0 && node.capacity > 0) ++q.whole_free_nodes;
    q.scope_nodes += scopes;
    if (node.pay_as_you_go) q.pay_as_you_go_gpus += placed;
  }
  for (std::size_t d = 0; d < p.demands.size() && d < p.previous.size(); ++d) {
    for (std::size_t k = 0; k < p.domains.size(); ++k) {
      q.moved_gpus += std::max<std::int64_t>(0, p.previous[d][k] - s.amount[d][k]);
    }
  }
  return q;
}

void compute_bounds(const smt::PlacementProblem& p, Quality& q) {
  std::int64_t largest = 0, nodes = 0, total = 0, demands = 0, spans = 0;
  std::vector<std::int64_t> capacities;
  for (const smt::OptNode& node : p.nodes) {
    if (node.capacity <= 0) continue;
    largest = std::max(largest, node.capacity);
    ++nodes;
    capacities.push_back(node.capacity);
  }
  for (const smt::OptDemand& d : p.demands) {
    if (d.gpus <= 0) continue;
    ++demands;
    total += d.gpus;
    spans += ceil_div(d.gpus, largest);
  }
  // Each demand spans at least ceil(gpus / largest node) nodes; the nodes
  // spanned, summed over demands, exceed the nodes in use by at most
  // (scopes per node - 1) per shared node.
  std::int64_t largest_domain = 0, subscription = 0;
  for (const smt::OptDomain& k : p.domains) largest_domain = std::max(largest_domain, k.capacity);
  for (const smt::OptNode& node : p.nodes) subscription += node.pay_as_you_go ? 0 : node.capacity;
  q.scope_domains_lower_bound = 0;
  for (const smt::OptDemand& d : p.demands)
    q.scope_domains_lower_bound += d.gpus > 0 ? ceil_div(d.gpus, largest_domain) : 0;
  q.pay_as_you_go_gpus_lower_bound = std::max<std::int64_t>(0, total - subscription);
  // A demand homed before on more GPUs than it now has loses the difference.
  q.moved_gpus_lower_bound = 0;
  for (std::size_t d = 0; d < p.demands.size() && d < p.previous.size(); ++d) {
    const std::int64_t before = std::accumulate(p.previous[d].begin(), p.previous[d].end(), std::int64_t{0});
    q.moved_gpus_lower_bound += std::max<std::int64_t>(0, before - p.demands[d].gpus);
  }
  const std::int64_t per_node = std::min(demands, largest);
  q.scope_nodes_lower_bound = spans;
  q.shared_nodes_lower_bound = spans <= nodes || per_node <= 1 ? 0 : ceil_div(spans - nodes, per_node - 1);
  // The fewest nodes that can hold every demand: the largest ones.
  std::sort(capacities.rbegin(), capacities.rend());
  std::int64_t needed = 0, held = 0;
  while (held < total && needed < static_cast<std::int64_t>(capacities.size())) held += capacities[needed++];
  q.whole_free_nodes_upper_bound = nodes - needed;
}

smt::PlacementSolution heuristic_place(const smt::PlacementProblem& p) {
  const std::size_t demands = p.demands.size();
  smt::PlacementSolution s;
  s.amount.assign(demands, std::vector<std::int64_t>(p.domains.size(), 0));
  std::vector<std::int64_t> free_domain(p.domains.size());
  for (std::size_t k = 0; k < p.domains.size(); ++k) free_domain[k] = p.domains[k].capacity;
  std::vector<std::int64_t> free_node(p.nodes.size());
  std::vector<std::int32_t> tenants(p.nodes.size(), 0);  // demands on the node
  for (std::size_t n = 0; n < p.nodes.size(); ++n) free_node[n] = p.nodes[n].capacity;
  std::vector<std::vector<bool>> allowed(demands, std::vector<bool>(p.nodes.size(), false));
  for (std::size_t d = 0; d < demands; ++d) {
    for (std::uint32_t n : p.demands[d].nodes) allowed[d][n] = true;
  }
  std::vector<std::size_t> order(demands);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return p.demands[a].gpus > p.demands[b].gpus; });
  auto put = [&](std::size_t d, std::uint32_t n, std::int64_t amount) {
    fill_domains(p, free_domain, s, d, n, amount);
    free_node[n] -= amount;
    ++tenants[n];
  };

  // Phase 1: whole nodes, largest first, previous homes and subscription
  // nodes preferred.
  std::vector<std::int64_t> remaining(demands);
  for (std::size_t d : order) {
    remaining[d] = p.demands[d].gpus;
    for (;;) {
      std::uint32_t best = static_cast<std::uint32_t>(p.nodes.size());
      auto better = [&](std::uint32_t a, std::uint32_t b) {  // is a better than b
        const std::int64_t pa = previous_on_node(p, d, a), pb = previous_on_node(p, d, b);
        if (pa != pb) return pa > pb;
        if (p.nodes[a].pay_as_you_go != p.nodes[b].pay_as_you_go) return !p.nodes[a].pay_as_you_go;
        return p.nodes[a].capacity > p.nodes[b].capacity;
      };
      for (std::uint32_t n = 0; n < p.nodes.size(); ++n) {
        if (!allowed[d][n] || tenants[n] > 0 || p.nodes[n].capacity <= 0 || p.nodes[n].capacity > remaining[d]) {
          continue;
        }
        if (best == p.nodes.size() || better(n, best)) best = n;
      }
      if (best == p.nodes.size()) break;
      remaining[d] -= p.nodes[best].capacity;
      put(d, best, p.nodes[best].capacity);
    }
  }

  // Phase 2: remainders, largest first, best fit: an untouched node, else a
  // node already shared, else any node with room; split when nothing fits.
  std::vector<std::size_t> rest;
  for (std::size_t d : order) {
    if (remaining[d] > 0) rest.push_back(d);
  }
  std::stable_sort(rest.begin(), rest.end(), [&](std::size_t a, std::size_t b) { return remaining[a] > remaining[b]; });
  for (std::size_t d : rest) {
    while (remaining[d] > 0) {
      const std::int64_t r = remaining[d];
      std::uint32_t best = static_cast<std::uint32_t>(p.nodes.size());
      // Rank: fits whole, then untouched < already shared < touched once (as
      // new sharing), then previous homes, subscription, tightest fit.
      auto rank = [&](std::uint32_t n) {
        const bool fits = free_node[n] >= r;
        const int sharing = tenants[n] == 0 ? 0 : tenants[n] >= 2 ? 1 : 2;
        return std::make_tuple(fits ? 0 : 1, sharing, -previous_on_node(p, d, n), p.nodes[n].pay_as_you_go ? 1 : 0,
                               fits ? free_node[n] - r : -free_node[n]);
      };
      for (std::uint32_t n = 0; n < p.nodes.size(); ++n) {
        if (!allowed[d][n] || free_node[n] <= 0) continue;
        if (best == p.nodes.size() || rank(n) < rank(best)) best = n;
      }
      if (best == p.nodes.size()) break;  // infeasible: the caller checked capacity
      const std::int64_t take = std::min(r, free_node[best]);
      remaining[d] -= take;
      put(d, best, take);
    }
  }
  return s;
}

smt::PlacementSolution first_fit_place(const smt::PlacementProblem& p) {
  smt::PlacementSolution s;
  s.amount.assign(p.demands.size(), std::vector<std::int64_t>(p.domains.size(), 0));
  std::vector<std::int64_t> free_domain(p.domains.size());
  for (std::size_t k = 0; k < p.domains.size(); ++k) free_domain[k] = p.domains[k].capacity;
  for (std::size_t d = 0; d < p.demands.size(); ++d) {
    std::int64_t r = p.demands[d].gpus;
    for (std::uint32_t n : p.demands[d].nodes) {
      const smt::OptNode& node = p.nodes[n];
      for (std::uint32_t k = node.first_domain; k < node.first_domain + node.domain_count && r > 0; ++k) {
        const std::int64_t take = std::min(r, free_domain[k]);
        free_domain[k] -= take;
        s.amount[d][k] += take;
        r -= take;
      }
      if (r == 0) break;
    }
  }
  return s;
}

namespace {

void add(Quality& into, const Quality& q) {
  into.shared_nodes += q.shared_nodes;
  into.shared_nodes_lower_bound += q.shared_nodes_lower_bound;
  into.whole_free_nodes += q.whole_free_nodes;
  into.whole_free_nodes_upper_bound += q.whole_free_nodes_upper_bound;
  into.scope_nodes += q.scope_nodes;
  into.scope_nodes_lower_bound += q.scope_nodes_lower_bound;
  into.scope_domains += q.scope_domains;
  into.scope_domains_lower_bound += q.scope_domains_lower_bound;
  into.pay_as_you_go_gpus += q.pay_as_you_go_gpus;
  into.pay_as_you_go_gpus_lower_bound += q.pay_as_you_go_gpus_lower_bound;
  into.moved_gpus += q.moved_gpus;
  into.moved_gpus_lower_bound += q.moved_gpus_lower_bound;
}

}  // namespace

Placement place(const Policy& policy, const Inventory& inventory, const Homes* previous, const PlaceOptions& options,
                DiagnosticSink& sink) {
  Placement out;
  out.demands = own_shares(policy);
  out.has_previous = previous != nullptr;
  out.home.resize(inventory.nodes.size());
  for (std::size_t n = 0; n < inventory.nodes.size(); ++n) {
    out.home[n].assign(static_cast<std::size_t>(std::max<std::int64_t>(0, inventory.nodes[n].gpus)), -1);
  }
  for (Index pool = 0; pool < policy.pools.size(); ++pool) {
    const Pool& pl = policy.pools[pool];
    std::vector<std::size_t> node_ids;  // into the inventory
    for (std::size_t n = 0; n < inventory.nodes.size(); ++n) {
      if (inventory.nodes[n].pool == pl.name) node_ids.push_back(n);
    }
    std::vector<std::size_t> demand_ids;  // into out.demands
    for (std::size_t d = 0; d < out.demands.size(); ++d) {
      if (out.demands[d].pool == pool) demand_ids.push_back(d);
    }
    if (node_ids.empty() && demand_ids.empty()) continue;

    smt::PlacementProblem problem;
    std::int64_t capacity = 0;
    for (std::size_t n : node_ids) {
      const InventoryNode& in = inventory.nodes[n];
      smt::OptNode node;
      node.first_domain = static_cast<std::uint32_t>(problem.domains.size());
      node.pay_as_you_go = in.billing == NodeBilling::pay_as_you_go;
      const std::int64_t size = std::max<std::int64_t>(1, in.interconnect);
      for (std::int64_t first = 0; first < in.gpus; first += size) {
        problem.domains.push_back(
            smt::OptDomain{static_cast<std::uint32_t>(problem.nodes.size()), std::min(size, in.gpus - first)});
      }
      node.domain_count = static_cast<std::uint32_t>(problem.domains.size()) - node.first_domain;
      node.capacity = std::max<std::int64_t>(0, in.gpus);
      capacity += node.capacity;
      problem.nodes.push_back(node);
    }
    // Shares beyond the nodes: elastic where billing can grow, else an error.
    std::int64_t wanted = 0;
    for (std::size_t d : demand_ids) wanted += out.demands[d].gpus;
    if (wanted > capacity) {
      if (pl.billing.mode == BillingMode::subscription) {
        Diagnostic& diag =
            sink.error(code::E0241, pl.name_range.valid() ? pl.name_range : pl.range,
                       fmt::format("the own shares of the scopes on pool `{}` need {} gpu, but its nodes hold {} gpu",
                                   pl.name, wanted, capacity));
        for (std::size_t d : demand_ids) {
          diag.note(fmt::format("`{}` needs {} gpu", out.demands[d].path, out.demands[d].gpus),
                    model::bound_range(policy, out.demands[d].scope, kGpu));
        }
        diag.add_help(inventory.source == "policy" ? "add nodes to the pool or lower the guarantees"
                                                   : "list more nodes of the pool in the inventory");
        continue;
      }
      std::int64_t excess = wanted - capacity;
      for (auto it = demand_ids.rbegin(); it != demand_ids.rend() && excess > 0; ++it) {
        Demand& d = out.demands[*it];
        d.elastic = std::min(d.gpus, excess);
        excess -= d.elastic;
      }
    }
    std::vector<std::uint32_t> all_nodes(problem.nodes.size());
    std::iota(all_nodes.begin(), all_nodes.end(), 0);
    for (std::size_t d : demand_ids) {
      problem.demands.push_back(smt::OptDemand{out.demands[d].gpus - out.demands[d].elastic, all_nodes});
    }
    if (previous) {
      problem.previous.assign(demand_ids.size(), std::vector<std::int64_t>(problem.domains.size(), 0));
      for (std::size_t i = 0; i < demand_ids.size(); ++i) {
        const std::string& path = out.demands[demand_ids[i]].path;
        for (std::uint32_t n = 0; n < problem.nodes.size(); ++n) {
          const auto it = previous->find(inventory.nodes[node_ids[n]].name);
          if (it == previous->end()) continue;
          for (std::uint32_t k = problem.nodes[n].first_domain;
               k < problem.nodes[n].first_domain + problem.nodes[n].domain_count; ++k) {
            const std::int64_t begin = (k - problem.nodes[n].first_domain) *
                                       std::max<std::int64_t>(1, inventory.nodes[node_ids[n]].interconnect);
            for (std::int64_t g = begin; g < begin + problem.domains[k].capacity; ++g) {
              if (g < static_cast<std::int64_t>(it->second.size()) && it->second[static_cast<std::size_t>(g)] == path) {
                ++problem.previous[i][k];
              }
            }
          }
        }
      }
    }

    PoolPlacement pp;
    pp.pool = pl.name;
    smt::PlacementSolution solution;
    Quality bounds;
    compute_bounds(problem, bounds);
    if (options.mode == PlaceOptions::Mode::first_fit) {
      solution = first_fit_place(problem);
      pp.method = Method::first_fit;
    } else {
      // The heuristic first: where it meets the bound of every objective it
      // is optimal; otherwise what it proves narrows the exact search.
      solution = heuristic_place(problem);
      pp.method = Method::heuristic;
      const Quality h = evaluate(problem, solution);
      const std::array<std::int64_t, 6> got = {h.shared_nodes,     h.scope_nodes,        h.scope_domains,
                                               h.whole_free_nodes, h.pay_as_you_go_gpus, h.moved_gpus};
      const std::array<std::int64_t, 6> best = {
          bounds.shared_nodes_lower_bound,     bounds.scope_nodes_lower_bound,        bounds.scope_domains_lower_bound,
          bounds.whole_free_nodes_upper_bound, bounds.pay_as_you_go_gpus_lower_bound, bounds.moved_gpus_lower_bound};
      std::size_t proved = 0;
      while (proved < got.size() && got[proved] == best[proved]) {
        problem.hints[proved].equal = got[proved];
        ++proved;
      }
      if (proved < got.size()) problem.hints[proved].bound = got[proved];
      const std::size_t pairs = problem.demands.size() * problem.domains.size();
      const bool want_exact = options.mode == PlaceOptions::Mode::exact ||
                              (options.mode == PlaceOptions::Mode::automatic && pairs <= options.exact_limit);
      if (proved == got.size() || problem.demands.empty()) {
        pp.optimal = true;
        if (!problem.demands.empty()) pp.note = "meets the bound of every objective";
      } else if (options.mode == PlaceOptions::Mode::heuristic) {
        pp.note = "the exact method was not asked for";
      } else if (!options.optimizer) {
        pp.note = "no exact optimizer available";
      } else if (!want_exact) {
        pp.note = fmt::format("{} demand x domain pairs, more than the {} solved exactly", pairs, options.exact_limit);
      } else {
        smt::OptimizeResult r = options.optimizer->optimize(problem, options.budget);
        if (r.status == smt::OptStatus::optimal && valid_solution(problem, r.solution)) {
          solution = std::move(r.solution);
          pp.method = Method::exact;
          pp.optimal = true;
        } else {
          pp.note = r.status == smt::OptStatus::timeout
                        ? fmt::format("the exact method ran out of its {} ms budget", options.budget.count())
                        : fmt::format("the exact method failed: {}", r.detail.empty() ? "no answer" : r.detail);
        }
      }
    }
    pp.quality = evaluate(problem, solution);
    pp.quality.shared_nodes_lower_bound = bounds.shared_nodes_lower_bound;
    pp.quality.whole_free_nodes_upper_bound = bounds.whole_free_nodes_upper_bound;
    pp.quality.scope_nodes_lower_bound = bounds.scope_nodes_lower_bound;
    pp.quality.scope_domains_lower_bound = bounds.scope_domains_lower_bound;
    pp.quality.pay_as_you_go_gpus_lower_bound = bounds.pay_as_you_go_gpus_lower_bound;
    pp.quality.moved_gpus_lower_bound = bounds.moved_gpus_lower_bound;

    // GPU indices: previous homes first, then contiguous runs, largest first.
    for (std::uint32_t n = 0; n < problem.nodes.size(); ++n) {
      const std::size_t inv = node_ids[n];
      const std::int64_t size = std::max<std::int64_t>(1, inventory.nodes[inv].interconnect);
      const auto prev = previous ? previous->find(inventory.nodes[inv].name) : Homes::const_iterator{};
      for (std::uint32_t k = problem.nodes[n].first_domain;
           k < problem.nodes[n].first_domain + problem.nodes[n].domain_count; ++k) {
        const std::int64_t begin = (k - problem.nodes[n].first_domain) * size;
        const std::int64_t end = begin + problem.domains[k].capacity;
        std::vector<std::int64_t> left(problem.demands.size());
        for (std::size_t i = 0; i < problem.demands.size(); ++i) left[i] = solution.amount[i][k];
        if (previous && prev != previous->end()) {
          for (std::int64_t g = begin; g < end; ++g) {
            if (g >= static_cast<std::int64_t>(prev->second.size())) break;
            for (std::size_t i = 0; i < problem.demands.size(); ++i) {
              if (left[i] > 0 && prev->second[static_cast<std::size_t>(g)] == out.demands[demand_ids[i]].path) {
                out.home[inv][static_cast<std::size_t>(g)] = static_cast<std::int32_t>(demand_ids[i]);
                --left[i];
                break;
              }
            }
          }
        }
        std::vector<std::size_t> by_size(problem.demands.size());
        std::iota(by_size.begin(), by_size.end(), 0);
        std::stable_sort(by_size.begin(), by_size.end(),
                         [&](std::size_t a, std::size_t b) { return left[a] > left[b]; });
        std::int64_t g = begin;
        for (std::size_t i : by_size) {
          while (left[i] > 0 && g < end) {
            if (out.home[inv][static_cast<std::size_t>(g)] < 0) {
              out.home[inv][static_cast<std::size_t>(g)] = static_cast<std::int32_t>(demand_ids[i]);
              --left[i];
            }
            ++g;
          }
        }
      }
    }
    // Moves at the level of single GPUs.
    if (previous) {
      pp.quality.moved_gpus = 0;
      for (std::size_t n : node_ids) {
        const auto it = previous->find(inventory.nodes[n].name);
        if (it == previous->end()) continue;
        for (std::size_t g = 0; g < out.home[n].size() && g < it->second.size(); ++g) {
          const std::string now = out.home[n][g] < 0 ? "" : out.demands[static_cast<std::size_t>(out.home[n][g])].path;
          if (!it->second[g].empty() && it->second[g] != now) ++pp.quality.moved_gpus;
        }
      }
    }
    add(out.quality, pp.quality);
    out.pools.push_back(std::move(pp));
  }
  return out;
}

Homes homes_of(const Inventory& inventory, const Placement& placement) {
  Homes homes;
  for (std::size_t n = 0; n < inventory.nodes.size() && n < placement.home.size(); ++n) {
    std::vector<std::string>& h = homes[inventory.nodes[n].name];
    for (std::int32_t d : placement.home[n])
      h.push_back(d < 0 ? "" : placement.demands[static_cast<std::size_t>(d)].path);
  }
  return homes;
}

}  // namespace allot::plan

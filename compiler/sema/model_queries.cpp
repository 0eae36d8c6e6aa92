#include "compiler/sema/model_queries.h"

#include <fmt/format.h>

namespace allot::model {

std::string resource_name(const Policy& policy, Index resource) {
  if (resource < policy.resources.size()) return policy.resources[resource].name;
  static constexpr const char* kBuiltin[] = {"gpu", "cpu", "memory", "cu"};
  return resource < 4 ? kBuiltin[resource] : "resource";
}

static bool is_memory(const Policy& policy, Index resource) {
  if (resource < policy.resources.size()) return policy.resources[resource].kind == ResourceKind::memory;
  return resource == kMemory;
}

std::string format_quantity(const Policy& policy, Index resource, Amount amount) {
  if (is_memory(policy, resource)) {
    if (amount != 0 && amount % 1024 == 0) return fmt::format("{}GiB", amount / 1024);
    return fmt::format("{}MiB", amount);
  }
  const bool negative = amount < 0;
  const unsigned long long a =
      negative ? 0ULL - static_cast<unsigned long long>(amount) : static_cast<unsigned long long>(amount);
  std::string text = std::to_string(a / 1000);
  if (a % 1000 != 0) {
    std::string frac = fmt::format("{:03}", a % 1000);
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    text += "." + frac;
  }
  return negative ? "-" + text : text;
}

std::string format_amount(const Policy& policy, Index resource, Amount amount) {
  const std::string name = resource_name(policy, resource);
  if (is_memory(policy, resource)) {
    return resource == kMemory ? format_quantity(policy, resource, amount) + " memory"
                               : format_quantity(policy, resource, amount) + " " + name;
  }
  return format_quantity(policy, resource, amount) + " " + name;
}

std::string quoted(const std::string& name) { return "`" + name + "`"; }

Capacity pool_capacity(const Policy& policy, Index pool_index, Index resource) {
  Capacity cap;
  if (pool_index >= policy.pools.size()) return cap;
  const Pool& pool = policy.pools[pool_index];
  const bool hardware = resource == kGpu || resource == kCpu || resource == kMemory;
  auto per_node = [&](Index flavor) -> Amount {
    if (flavor >= policy.flavors.size()) return 0;
    const Flavor& f = policy.flavors[flavor];
    if (resource == kGpu) return f.gpus * 1000;
    if (resource == kCpu) return f.cpu;
    return f.memory;
  };
  Amount fixed = 0;
  if (hardware) {
    for (const NodeGroup& g : pool.node_groups) fixed += g.count * per_node(g.flavor);
    for (const NamedNode& n : pool.nodes) fixed += per_node(n.flavor);
  }
  std::optional<Amount> ceiling;
  if (resource < pool.billing.ceiling.size() && pool.billing.ceiling[resource]) {
    const Bound& b = *pool.billing.ceiling[resource];
    ceiling = b.limit ? *b.limit : b.guarantee;
  }
  cap.fixed = fixed;
  switch (pool.billing.mode) {
    case BillingMode::subscription:
      cap.known = hardware;
      cap.amount = fixed;
      break;
    case BillingMode::pay_as_you_go:
      cap.known = true;
      if (ceiling) {
        cap.amount = *ceiling;
      } else {
        cap.unbounded = true;
      }
      break;
    case BillingMode::hybrid:
      cap.known = true;
      if (ceiling) {
        cap.amount = fixed + *ceiling;
      } else {
        cap.unbounded = true;
      }
      break;
  }
  return cap;
}

const Bound* bound_of(const Policy& policy, Index scope, Index resource) {
  if (scope >= policy.scopes.size()) return nullptr;
  const Bounds& b = policy.scopes[scope].bounds;
  if (resource >= b.size() || !b[resource]) return nullptr;
  return &*b[resource];
}

Amount guarantee_of(const Policy& policy, Index scope, Index resource) {
  const Bound* b = bound_of(policy, scope, resource);
  return b ? b->guarantee : 0;
}

std::optional<Amount> effective_limit(const Policy& policy, Index scope, Index resource) {
  for (Index s = scope; s != kNone && s < policy.scopes.size(); s = policy.scopes[s].parent) {
    const Bound* b = bound_of(policy, s, resource);
    if (b && b->limit) return b->limit;
    if (policy.scopes[s].parent == kNone) {
      const Capacity cap = pool_capacity(policy, policy.scopes[s].pool, resource);
      if (cap.known && !cap.unbounded) return cap.amount;
    }
  }
  return std::nullopt;
}

static void collect_frontier(const Policy& policy, Index scope, Index resource, std::vector<Index>& out, int depth) {
  if (depth > 1000) return;
  for (Index c : policy.scopes[scope].children) {
    if (c >= policy.scopes.size()) continue;
    if (bound_of(policy, c, resource)) {
      out.push_back(c);
    } else {
      collect_frontier(policy, c, resource, out, depth + 1);
    }
  }
}

std::vector<Index> bounded_frontier(const Policy& policy, Index scope, Index resource) {
  std::vector<Index> out;
  if (scope < policy.scopes.size()) collect_frontier(policy, scope, resource, out, 0);
  return out;
}

std::vector<Index> pool_roots(const Policy& policy, Index pool) {
  std::vector<Index> roots;
  for (Index i = 0; i < policy.scopes.size(); ++i) {
    if (policy.scopes[i].parent == kNone && policy.scopes[i].pool == pool) roots.push_back(i);
  }
  return roots;
}

std::vector<Index> pool_frontier(const Policy& policy, Index pool, Index resource) {
  std::vector<Index> out;
  for (Index r : pool_roots(policy, pool)) {
    if (bound_of(policy, r, resource)) {
      out.push_back(r);
    } else {
      collect_frontier(policy, r, resource, out, 0);
    }
  }
  return out;
}

SourceRange bound_range(const Policy& policy, Index scope, Index resource) {
  const Bound* b = bound_of(policy, scope, resource);
  if (b && b->range.valid()) return b->range;
  return policy.scopes[scope].name_range.valid() ? policy.scopes[scope].name_range : policy.scopes[scope].range;
}

std::string previous_path(const Policy& policy, Index scope) {
  const Scope& s = policy.scopes[scope];
  const std::string& name = s.renamed_from.empty() ? s.name : s.renamed_from;
  const bool nested = s.kind == ScopeKind::namespace_ || s.kind == ScopeKind::queue;
  if (!nested || s.parent == kNone) return name;
  return previous_path(policy, s.parent) + "/" + name;
}

}  // namespace allot::model

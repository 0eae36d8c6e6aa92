#include "compiler/plan/inventory.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <set>
#include <sstream>

namespace allot::plan {

using namespace model;

namespace {

NodeBilling pool_billing(const Pool& pool) {
  // A hybrid pool's nodes are its fixed (subscription) part.
  return pool.billing.mode == BillingMode::pay_as_you_go ? NodeBilling::pay_as_you_go : NodeBilling::subscription;
}

InventoryNode from_flavor(const Policy& policy, const Pool& pool, Index flavor, std::string name) {
  InventoryNode n;
  n.name = std::move(name);
  n.pool = pool.name;
  if (flavor < policy.flavors.size()) {
    const Flavor& f = policy.flavors[flavor];
    n.flavor = f.name;
    n.gpu_model = f.gpu_model;
    n.gpus = f.gpus;
    n.interconnect = f.interconnect > 0 ? std::min(f.interconnect, f.gpus) : f.gpus;
    n.cpu_milli = f.cpu;
    n.memory_mib = f.memory;
  }
  if (n.interconnect <= 0) n.interconnect = std::max<std::int64_t>(n.gpus, 1);
  n.billing = pool_billing(pool);
  return n;
}

bool model_allowed(const std::vector<std::string>& allowed, const std::string& gpu_model) {
  return allowed.empty() || std::find(allowed.begin(), allowed.end(), gpu_model) != allowed.end();
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "`" : ", `") + s + "`";
  return out;
}

}  // namespace

std::vector<std::string> allowed_models(const Policy& policy, Index pool) {
  std::set<std::string> models;
  bool any = false;
  auto add = [&](Index flavor) {
    if (flavor >= policy.flavors.size() || policy.flavors[flavor].gpu_model.empty()) {
      any = true;
    } else {
      models.insert(policy.flavors[flavor].gpu_model);
    }
  };
  if (pool >= policy.pools.size()) return {};
  for (const NodeGroup& g : policy.pools[pool].node_groups) add(g.flavor);
  for (const NamedNode& n : policy.pools[pool].nodes) add(n.flavor);
  if (any || models.empty()) return {};
  return {models.begin(), models.end()};
}

Inventory expand_policy_nodes(const Policy& policy) {
  Inventory inv;
  inv.source = "policy";
  for (const Pool& pool : policy.pools) {
    std::int64_t k = 0;
    for (const NodeGroup& g : pool.node_groups) {
      for (std::int64_t i = 0; i < g.count; ++i) {
        inv.nodes.push_back(from_flavor(policy, pool, g.flavor, fmt::format("{}-{:04}", pool.name, ++k)));
      }
    }
    for (const NamedNode& nn : pool.nodes) {
      InventoryNode n = from_flavor(policy, pool, nn.flavor, nn.name);
      n.expires = nn.expires;
      inv.nodes.push_back(std::move(n));
    }
  }
  return inv;
}

std::optional<Inventory> parse_inventory_toml(const Policy& policy, const std::string& text, const std::string& path,
                                              std::vector<InventoryError>& errors) {
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    errors.push_back({e.source().begin.line, std::string(e.description())});
    return std::nullopt;
  }
  Inventory inv;
  inv.source = path;
  std::set<std::string> names;
  for (auto&& [key, node] : root) {
    if (key.str() != "node") {
      errors.push_back({node.source().begin.line, fmt::format("unknown key `{}`", std::string(key.str()))});
    }
  }
  const toml::array* list = root["node"].as_array();
  if (!list) {
    if (errors.empty()) errors.push_back({0, "the inventory lists no `[[node]]`"});
    return std::nullopt;
  }
  for (const toml::node& item : *list) {
    const std::size_t line = item.source().begin.line;
    const toml::table* t = item.as_table();
    if (!t) {
      errors.push_back({line, "a node is a table"});
      continue;
    }
    InventoryNode n;
    bool ok = true;
    for (auto&& [k, v] : *t) {
      const std::string key(k.str());
      const std::size_t at = v.source().begin.line;
      auto text_of = [&](std::string& out) {
        if (const auto* s = v.as_string()) {
          out = s->get();
        } else {
          errors.push_back({at, fmt::format("`{}` is a string", key)});
          ok = false;
        }
      };
      auto int_of = [&](std::int64_t& out) {
        if (const auto* i = v.as_integer(); i && i->get() >= 0) {
          out = i->get();
        } else {
          errors.push_back({at, fmt::format("`{}` is a whole number, at least 0", key)});
          ok = false;
        }
      };
      if (key == "name") {
        text_of(n.name);
      } else if (key == "pool") {
        text_of(n.pool);
      } else if (key == "gpu_model") {
        text_of(n.gpu_model);
      } else if (key == "gpus") {
        int_of(n.gpus);
      } else if (key == "interconnect") {
        int_of(n.interconnect);
      } else if (key == "cpu_milli") {
        int_of(n.cpu_milli);
      } else if (key == "memory_mib") {
        int_of(n.memory_mib);
      } else if (key == "billing") {
        std::string b;
        text_of(b);
        if (b == "subscription") {
          n.billing = NodeBilling::subscription;
        } else if (b == "pay_as_you_go") {
          n.billing = NodeBilling::pay_as_you_go;
        } else if (ok) {
          errors.push_back({at, "`billing` is \"subscription\" or \"pay_as_you_go\""});
          ok = false;
        }
      } else if (key == "expires") {
        if (const auto* d = v.as_date()) {
          const toml::date& dv = d->get();
          n.expires = fmt::format("{:04}-{:02}-{:02}", dv.year, dv.month, dv.day);
        } else if (const auto* s = v.as_string()) {
          n.expires = s->get();
        } else {
          errors.push_back({at, "`expires` is a date such as 2027-03-31"});
          ok = false;
        }
      } else {
        errors.push_back({at, fmt::format("unknown node key `{}`", key)});
        ok = false;
      }
    }
    if (!ok) continue;
    if (n.name.empty() || n.pool.empty()) {
      errors.push_back({line, "a node needs `name` and `pool`"});
      continue;
    }
    const std::optional<Index> pool = policy.find_pool(n.pool);
    if (!pool) {
      errors.push_back({line, fmt::format("node `{}` names unknown pool `{}`", n.name, n.pool)});
      continue;
    }
    if (!t->contains("billing")) n.billing = pool_billing(policy.pools[*pool]);
    const std::vector<std::string> allowed = allowed_models(policy, *pool);
    if (!model_allowed(allowed, n.gpu_model)) {
      errors.push_back(
          {line, fmt::format("node `{}` has GPU model `{}`, which pool `{}` does not take (its flavors: {})", n.name,
                             n.gpu_model, n.pool, join(allowed))});
      continue;
    }
    if (n.interconnect == 0 || n.interconnect > n.gpus) n.interconnect = std::max<std::int64_t>(n.gpus, 1);
    if (!names.insert(n.name).second) {
      errors.push_back({line, fmt::format("node `{}` is listed twice", n.name)});
      continue;
    }
    inv.nodes.push_back(std::move(n));
  }
  if (!errors.empty()) return std::nullopt;
  return inv;
}

std::optional<Inventory> parse_openb_csv(const Policy& policy, const std::string& text, const std::string& path,
                                         const std::string& pool_name, std::vector<InventoryError>& errors) {
  const std::optional<Index> pool = policy.find_pool(pool_name);
  if (!pool) {
    errors.push_back({0, fmt::format("unknown pool `{}`", pool_name)});
    return std::nullopt;
  }
  const std::vector<std::string> allowed = allowed_models(policy, *pool);
  Inventory inv;
  inv.source = path;
  std::istringstream in(text);
  std::string line;
  std::size_t number = 0;
  std::set<std::string> names;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> cells;
    std::stringstream cs(line);
    for (std::string cell; std::getline(cs, cell, ',');) cells.push_back(cell);
    if (number == 1) {
      if (cells.size() < 5 || cells[0] != "sn" || cells[3] != "gpu" || cells[4] != "model") {
        errors.push_back({1, "expected the header `sn,cpu_milli,memory_mib,gpu,model`"});
        return std::nullopt;
      }
      continue;
    }
    if (cells.size() < 5) {
      errors.push_back({number, "expected 5 columns"});
      continue;
    }
    InventoryNode n;
    n.name = cells[0];
    n.pool = pool_name;
    n.gpu_model = cells[4];
    try {
      n.cpu_milli = std::stoll(cells[1]);
      n.memory_mib = std::stoll(cells[2]);
      n.gpus = std::stoll(cells[3]);
    } catch (const std::exception&) {
      errors.push_back({number, "`cpu_milli`, `memory_mib` and `gpu` are whole numbers"});
      continue;
    }
    n.interconnect = std::max<std::int64_t>(n.gpus, 1);
    n.billing = pool_billing(policy.pools[*pool]);
    if (!model_allowed(allowed, n.gpu_model)) {
      errors.push_back(
          {number, fmt::format("node `{}` has GPU model `{}`, which pool `{}` does not take (its flavors: {})", n.name,
                               n.gpu_model, pool_name, join(allowed))});
      continue;
    }
    if (!names.insert(n.name).second) {
      errors.push_back({number, fmt::format("node `{}` is listed twice", n.name)});
      continue;
    }
    inv.nodes.push_back(std::move(n));
  }
  if (!errors.empty()) return std::nullopt;
  return inv;
}

}  // namespace allot::plan

// The concrete nodes a plan places GPUs on: expanded from the pools of the
// policy (`nodes = N x FLAVOR` as `<pool>-0001`.., then named nodes), or
// read from an inventory file (TOML, docs/plan-format.md) or an openb node
// list (CSV: sn,cpu_milli,memory_mib,gpu,model).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compiler/sema/model.h"

namespace allot::plan {

enum class NodeBilling { subscription, pay_as_you_go };

struct InventoryNode {
  std::string name;
  std::string pool;
  std::string flavor;  // empty when read from an inventory file
  std::string gpu_model;
  std::int64_t gpus = 0;
  std::int64_t interconnect = 0;  // GPUs per interconnect domain; always set (1..gpus)
  model::Amount cpu_milli = 0;
  model::Amount memory_mib = 0;
  NodeBilling billing = NodeBilling::subscription;
  std::optional<std::string> expires;
};

struct Inventory {
  std::vector<InventoryNode> nodes;
  std::string source;  // "policy", or the file it was read from
};

// The nodes the policy's pools declare, in pool order.
Inventory expand_policy_nodes(const model::Policy& policy);

// A problem with an inventory file: `line` 0 when unknown.
struct InventoryError {
  std::size_t line = 0;
  std::string message;
};

// Parses an inventory TOML (`[[node]]` tables) and checks it against the
// policy: known pools, GPU models the pool's flavors allow, unique names.
std::optional<Inventory> parse_inventory_toml(const model::Policy& policy, const std::string& text,
                                              const std::string& path, std::vector<InventoryError>& errors);

// Parses an openb node list; every node goes into `pool` (which must exist).
std::optional<Inventory> parse_openb_csv(const model::Policy& policy, const std::string& text, const std::string& path,
                                         const std::string& pool, std::vector<InventoryError>& errors);

// The GPU models a pool's flavors name; empty when any model is allowed
// (no flavors, or a flavor without `gpu_model`).
std::vector<std::string> allowed_models(const model::Policy& policy, model::Index pool);

}  // namespace allot::plan

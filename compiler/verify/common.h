// Helpers shared by the verification passes: amounts for people, pool
// capacities, effective bounds.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "compiler/sema/model.h"

namespace allot::verify {

// `0.5 gpu`, `128 gpu`, `80GiB memory`, `500MiB memory`.
std::string format_amount(const model::Policy& policy, model::Index resource, model::Amount amount);
// The number alone: `0.5`, `80GiB`.
std::string format_quantity(const model::Policy& policy, model::Index resource, model::Amount amount);
std::string resource_name(const model::Policy& policy, model::Index resource);

// What a pool offers of one resource.
struct Capacity {
  bool known = false;        // false: the pool does not say (e.g. `cu` on nodes)
  bool unbounded = false;    // elastic billing without a ceiling for the resource
  model::Amount amount = 0;  // when known and bounded: nodes (+ ceiling)
  model::Amount fixed = 0;   // the nodes' part
};
Capacity pool_capacity(const model::Policy& policy, model::Index pool, model::Index resource);

// The explicit bound of a scope, if any.
const model::Bound* bound_of(const model::Policy& policy, model::Index scope, model::Index resource);
// Guarantee (0 without a bound).
model::Amount guarantee_of(const model::Policy& policy, model::Index scope, model::Index resource);
// The limit that applies: the scope's own, else the nearest ancestor's, else
// the pool's capacity; nothing when unbounded or unknown.
std::optional<model::Amount> effective_limit(const model::Policy& policy, model::Index scope, model::Index resource);

// Nearest descendants of `scope` (or of the pool's roots when `scope` is kNone
// and `pool` is given) that carry a bound for `resource`, looking through
// scopes without one.
std::vector<model::Index> bounded_frontier(const model::Policy& policy, model::Index scope, model::Index resource);
std::vector<model::Index> pool_frontier(const model::Policy& policy, model::Index pool, model::Index resource);
std::vector<model::Index> pool_roots(const model::Policy& policy, model::Index pool);

// Lookups by path and name (linear; kept here so verify depends only on the
// model's data).
std::optional<model::Index> find_scope(const model::Policy& policy, std::string_view path);
std::optional<model::Index> find_pool(const model::Policy& policy, std::string_view name);

// `quota`, `workspace`, ... with its name in backticks: "`Quota1`".
std::string quoted(const std::string& name);

// The source range to point at for a scope's bound (falls back to its name).
SourceRange bound_range(const model::Policy& policy, model::Index scope, model::Index resource);

}  // namespace allot::verify

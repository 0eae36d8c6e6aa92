// Queries over a checked policy that several stages share (verify, plan,
// backends, emit): amounts for people, pool capacities, effective bounds,
// the bounded frontier of a scope. Pure functions of the model's data.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "compiler/sema/model.h"

namespace allot::model {

// `0.5 gpu`, `128 gpu`, `80GiB memory`, `500MiB memory`.
std::string format_amount(const Policy& policy, Index resource, Amount amount);
// The number alone: `0.5`, `80GiB`.
std::string format_quantity(const Policy& policy, Index resource, Amount amount);
std::string resource_name(const Policy& policy, Index resource);

// The path scope `scope` had before the renames the policy declares
// (`renamed_from`, on it or on an ancestor): its path when nothing is renamed.
std::string previous_path(const Policy& policy, Index scope);

// What a pool offers of one resource.
struct Capacity {
  bool known = false;      // false: the pool does not say (e.g. `cu` on nodes)
  bool unbounded = false;  // elastic billing without a ceiling for the resource
  Amount amount = 0;       // when known and bounded: nodes (+ ceiling)
  Amount fixed = 0;        // the nodes' part
};
Capacity pool_capacity(const Policy& policy, Index pool, Index resource);

// The explicit bound of a scope, if any.
const Bound* bound_of(const Policy& policy, Index scope, Index resource);
// Guarantee (0 without a bound).
Amount guarantee_of(const Policy& policy, Index scope, Index resource);
// The limit that applies: the scope's own, else the nearest ancestor's, else
// the pool's capacity; nothing when unbounded or unknown.
std::optional<Amount> effective_limit(const Policy& policy, Index scope, Index resource);

// Nearest descendants of `scope` (or of the pool's roots when `scope` is kNone
// and `pool` is given) that carry a bound for `resource`, looking through
// scopes without one.
std::vector<Index> bounded_frontier(const Policy& policy, Index scope, Index resource);
std::vector<Index> pool_frontier(const Policy& policy, Index pool, Index resource);
std::vector<Index> pool_roots(const Policy& policy, Index pool);

// `quota`, `workspace`, ... with its name in backticks: "`Quota1`".
std::string quoted(const std::string& name);

// The source range to point at for a scope's bound (falls back to its name).
SourceRange bound_range(const Policy& policy, Index scope, Index resource);

}  // namespace allot::model

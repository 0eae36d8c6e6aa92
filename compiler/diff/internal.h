// What the parts of the diff stage share: the matching of old scopes to new
// ones, effects in effect, and the builders of each part of a PolicyDiff.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "compiler/diff/diff.h"
#include "compiler/sema/model.h"

namespace allot::diff::detail {

// The two policies and which scope of one is which scope of the other.
// A scope is matched by its path; failing that, by its parent's match and
// its name (an ancestor was renamed); failing that, as a rename: an
// unmatched scope of the same kind under the matched parent with the same
// effects.
struct Matching {
  const model::Policy* old_policy = nullptr;
  const model::Policy* new_policy = nullptr;
  std::vector<model::Index> old_of_new;  // by new index; kNone: added
  std::vector<model::Index> new_of_old;  // by old index; kNone: removed
  std::vector<std::string> resources;    // every resource either side bounds, by name, builtins first
};

Matching match(const model::Policy& old_policy, const model::Policy& new_policy);

// The resource's index in `policy`, or kNone.
model::Index resource_index(const model::Policy& policy, const std::string& name);

// The guarantee and the limit of `scope` in effect (Effect::present false
// for kNone).
Effect effect_of(const model::Policy& policy, model::Index scope, const std::string& resource);

// Usage states allowed by one scope: NEW's within OLD's.
bool within(const Effect& inner, const Effect& outer);
Relation relation_of(bool new_within_old, bool old_within_new);

// The whole-policy relation and its witnesses, proved by the solver.
void prove_policy(const Matching& m, const Options& options, PolicyDiff& out);

// Witness jobs for a scope whose effects differ, replayable through the
// runtime core; none where no simple scenario shows the difference.
void add_job_witnesses(const Matching& m, model::Index old_scope, model::Index new_scope, ScopeDiff& out);

// A job by the grant's user on an idle pool: admitted on the side that
// grants `submit`, refused on the other.
std::optional<JobWitness> grant_witness(const Matching& m, const Grant& grant, bool gained);

// Amounts for people: `48 gpu`, `80GiB memory`.
std::string amount_text(const model::Policy& policy, const std::string& resource, model::Amount amount);

}  // namespace allot::diff::detail

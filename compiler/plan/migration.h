// Migration order: the steps from the deployed policy to the new one, each
// intermediate state satisfying the invariants (verify::check_structure,
// guarantee reachability, and the live-state change check against the state
// before it). Scale up top-down, scale down bottom-up, shrink before grow,
// drain before delete.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "compiler/base/diagnostic.h"
#include "compiler/sema/model.h"
#include "compiler/verify/state.h"
#include "compiler/verify/verify.h"

namespace allot::plan {

enum class StepAction { drain, remove, shrink, grow, create, update };
const char* to_string(StepAction action);

// A bound in base units (milli-units, MiB); `limit` empty = inherited.
struct StepBound {
  model::Amount guarantee = 0;
  std::optional<model::Amount> limit;
  friend bool operator==(const StepBound&, const StepBound&) = default;
};

struct BoundChange {
  model::Index resource = model::kNone;  // into the new policy's resources
  std::optional<StepBound> from, to;     // empty: no bound
};

struct Step {
  StepAction action = StepAction::update;
  std::string kind;    // `quota`, `workspace`, `namespace`, `queue`, `pool` or `node` (drain of a leaving node)
  std::string target;  // scope path, pool or node name
  std::vector<BoundChange> changes;  // drain, shrink, grow, create (scopes); pools: gpu capacity
  std::vector<std::string> fields;   // update: the properties that change
};

struct MigrationOptions {
  bool reachability = true;  // prove guarantee reachability on every intermediate state
  verify::Options verify;
};

// Orders the change. Without `state` nothing runs (an empty live state).
// Reports what verify::check_change finds (then no step is ordered) and
// E0240 (no safe order); returns the steps found before.
std::vector<Step> plan_migration(const model::Policy& deployed, const model::Policy& next,
                                 const verify::LiveState* state, const MigrationOptions& options, DiagnosticSink& sink);

// The policy after a prefix of steps (for tests): `steps` applied to
// `deployed`, in the resources of `next`.
model::Policy apply_steps(const model::Policy& deployed, const model::Policy& next, const std::vector<Step>& steps);

// `48..128`, `80..`, `24`, `none`.
std::string format_bound(const model::Policy& policy, model::Index resource, const std::optional<StepBound>& bound);

}  // namespace allot::plan

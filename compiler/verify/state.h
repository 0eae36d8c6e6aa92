// The live state of a cluster (docs/state.md) and the check that a change
// from the deployed policy to a new one is allowed given that state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compiler/base/diagnostic.h"
#include "compiler/base/source.h"
#include "compiler/sema/model.h"

namespace allot::verify {

enum class PoolStatus { running, abnormal, creating };

// Whether a node takes new work: `ready`, `cordoned` (admits nothing new)
// or `draining` (cordoned, its running work being stopped or requeued).
enum class NodeStatus { ready, cordoned, draining };

struct LiveNode {
  std::string name;
  std::optional<std::string> expires;  // YYYY-MM-DD
  NodeStatus status = NodeStatus::ready;
  SourceRange range;
};

struct LivePool {
  std::string name;
  PoolStatus status = PoolStatus::running;
  std::vector<LiveNode> nodes;
  SourceRange range;
};

// An amount as written in the state file, converted once the resource is
// known: a number in display units (whole GPUs, cores, CUs; GiB of memory)
// or a string with a unit (`500m`, `80GiB`).
struct LiveAmount {
  std::string resource;
  std::string text;  // the number or string as written
  SourceRange range;
};

// One job as `allot state` exports it (docs/state.md): for people reading
// the file; the checks count it as active work.
struct LiveJob {
  std::int64_t id = 0;
  std::string state, kind;
  bool preemptible = false;
  SourceRange range;
};

struct LiveScope {
  std::string path;
  std::vector<LiveAmount> used;
  // What non-preemptible work uses; absent (`held_given` false): all of
  // `used` counts as non-preemptible.
  std::vector<LiveAmount> held;
  bool held_given = false;
  std::int64_t active = 0;                // active deployments and jobs
  std::vector<std::string> active_names;  // the deployments the state names (in lists), in order
  std::vector<LiveJob> jobs;
  SourceRange range;
};

struct LiveState {
  std::vector<std::string> policy_files;  // resolved against the state file's folder
  SourceRange policy_range;
  std::string as_of;  // YYYY-MM-DD
  std::string plan;   // the fingerprint of the plan in force, when exported by allotd
  std::vector<LivePool> pools;
  std::vector<LiveScope> scopes;
};

// Parses the state file held in `sources` as `file`. Reports problems as
// E0220 and returns nothing when the file cannot be used.
std::optional<LiveState> parse_state(const SourceManager& sources, FileId file, const std::string& today,
                                     DiagnosticSink& sink);

// Converts `text` to base units of the resource (milli-units or MiB).
std::optional<model::Amount> parse_live_amount(const model::Policy& policy, model::Index resource,
                                               const std::string& text);

// E0221..E0227, E0229..E0231 and E0242: what the change from `deployed` to
// `next` would break (docs/state.md, "What the change must respect"). The
// migration planner holds every intermediate state to the same function.
// Returns the number of errors added.
std::size_t check_change(const model::Policy& deployed, const model::Policy& next, const LiveState& state,
                         DiagnosticSink& sink);

}  // namespace allot::verify

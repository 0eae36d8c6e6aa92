// The static configuration a Scheduler works over: the nodes of one pool, the
// tree of scopes that divides them, the priority classes and the optional
// placement of guaranteed GPUs. Plain structs; cross references are indices.
// Building this from a checked policy (and its roles) is the caller's job:
// the core does not depend on the compiler.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/core/fragmentation.h"
#include "runtime/core/types.h"

namespace allot::runtime {

struct Node {
  std::string name;
  std::uint32_t gpu_count = 0;  // at most 64
  std::string gpu_model;        // informational
  // GPUs per interconnect (NVLink) domain: GPUs [0, d), [d, 2d), ... of the
  // node form one domain each. 0 means the whole node is one domain.
  std::uint32_t interconnect_domain_size = 0;
  // What jobs on the node may use of its CPU and memory; 0: not modelled
  // (jobs are not placed by it).
  Amount cpu_milli = 0;
  Amount memory_mib = 0;
};

// Guarantee (min) and limit (max) of one resource of one scope. A missing
// limit means "whatever the parent allows" (unlimited at a root).
struct Bound {
  Amount guarantee = 0;
  std::optional<Amount> limit;
  // At most this much of the guarantee may be used outside the scope; the
  // rest is kept idle for it (docs/scheduling.md, "Lending limits").
  // nullopt: all of it may be lent.
  std::optional<Amount> lend{};
};

// A scope that declares no bound for a resource guarantees nothing of it and
// inherits its limit; such a resource is ignored when deciding whether the
// scope is within its guarantee.
struct ScopeBounds {
  std::optional<Bound> gpu;
  std::optional<Bound> cpu;
  std::optional<Bound> memory;

  const std::optional<Bound>& operator[](Resource r) const {
    return r == Resource::gpu ? gpu : r == Resource::cpu ? cpu : memory;
  }
};

enum class ScopeKind : std::uint8_t { quota, workspace, namespace_, queue };
enum class OnPreempt : std::uint8_t { requeue, cancel };

// The rules' options; docs/scheduling.md explains each.
enum class ReclaimPolicy : std::uint8_t { any, lower_priority, never };  // rule R2
// rule R3
enum class WithinQueue : std::uint8_t {
  by_class,  // the priority classes' `preempts` lists
  never,
  lower_priority,
  lower_or_newer_equal_priority,
};

// Fair sharing among siblings (rule R5): when a preemptor in a sibling of
// lower share may take borrowed work of a sibling of higher share. Kueue's
// `LessThanOrEqualToFinalShare` and `LessThanInitialShare`.
enum class FairStrategy : std::uint8_t {
  at_most_final_share,  // the preemptor's share after <= the target's share after
  below_initial_share,  // the preemptor's share after < the target's share before
};

enum class WorkloadKind : std::uint8_t { inference = 1, training = 2, development = 4 };
using WorkloadSet = std::uint8_t;  // bit set of WorkloadKind
inline constexpr WorkloadSet kAllWorkloads = 7;
inline constexpr bool accepts(WorkloadSet set, WorkloadKind kind) {
  return (set & static_cast<WorkloadSet>(kind)) != 0;
}

enum Action : std::uint8_t { kSubmit = 1, kList = 2, kCancel = 4, kAdmin = 8 };

// Who may do what on a queue: anyone listed in `users`, or in one of
// `groups`, may perform the `actions` (bit set of Action).
struct Grant {
  std::vector<std::string> users;
  std::vector<std::string> groups;
  std::uint8_t actions = kSubmit | kList | kCancel;
};

// Settings that only mean something on queues.
struct QueueSettings {
  PriorityId default_priority = kNone;  // kNone: priority value 0, preempts nothing
  bool preemptible = true;              // false: no job of this queue is ever a victim
  Time grace_period_ms = 30000;
  OnPreempt on_preempt = OnPreempt::requeue;
  WorkloadSet accepts = kAllWorkloads;
  bool gpu_sharing = false;  // fractional GPU requests allowed
  WithinQueue within = WithinQueue::by_class;
  // Empty: everybody may do everything (the policy put no roles on the queue
  // or its ancestors). The caller flattens inherited roles into this list.
  std::vector<Grant> grants;
};

// One node of the allocation tree. Jobs are submitted to queues only.
struct Scope {
  ScopeKind kind = ScopeKind::quota;
  std::string name;  // for messages: the unique path is best (`ws/ns/queue`)
  ScopeId parent = kNone;
  ScopeBounds bounds;
  bool child_preemption = false;  // quotas: jobs of this quota may preempt its sub-quotas' jobs
  // Effective (inherited) settings of the preemption rules, for claims made
  // at this scope.
  ReclaimPolicy reclaim = ReclaimPolicy::any;
  bool borrow_within = false;                       // rule R4 enabled
  std::optional<std::int64_t> borrow_max_priority;  // R4 victims' priority value at most this
  // Fair-sharing weight in thousandths (1000 = weight 1): a scope's share is
  // divided by it, so a heavier sibling may borrow more before it gives way.
  Amount weight_milli = 1000;
  QueueSettings queue;  // read only when kind == queue
};

struct PriorityClass {
  std::string name;
  std::int64_t value = 0;
  std::vector<PriorityId> preempts;  // classes whose jobs this one may preempt (same queue)
};

// Pins a guaranteed GPU to the scope (usually a leaf quota) it belongs to.
// Jobs below `home` take these GPUs first; anyone else using them borrows.
struct PinnedGpu {
  GpuRef gpu;
  ScopeId home = kNone;
};

// How admitted jobs are placed on nodes and GPUs (placement.h).
enum class PlacementPolicy : std::uint8_t { best_fit, first_fit, spread, fgd, random };

struct Cluster {
  std::vector<Node> nodes;
  std::vector<Scope> scopes;  // parents before children
  std::vector<PriorityClass> priorities;
  std::vector<PinnedGpu> placement;  // optional; GPUs not listed have no home
  PlacementPolicy placement_policy = PlacementPolicy::best_fit;
  // The expected workload fgd measures fragmentation against; empty: learnt
  // from the requests placed so far.
  std::vector<TaskType> workload;
  std::uint64_t placement_seed = 0;  // random: the seed of its choices
  // Fair sharing among siblings (docs/scheduling.md, "Fair sharing"): the
  // strategies of rule R5, any of which allows a preemption. Empty: off.
  // When on, rule R4 (`borrow_within`) is not used.
  std::vector<FairStrategy> fair_sharing;
};

}  // namespace allot::runtime

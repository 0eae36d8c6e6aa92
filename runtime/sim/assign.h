// How trace jobs find their queues: the plan's queues (plus a synthetic queue
// under every scope that has none below it), a stable hash of the pod name
// weighted by the queues' GPU guarantees, and an optional mapping file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "runtime/core/cluster.h"
#include "runtime/sim/simulator.h"
#include "runtime/sim/trace.h"

namespace allot::runtime::sim {

inline constexpr std::string_view kSyntheticQueueName = "sim-queue";

// FNV-1a, 64 bit, over the bytes of `text`.
std::uint64_t fnv1a64(std::string_view text);

// The hash that places a pod: FNV-1a 64 of the name, finished with the
// splitmix64 mixer (FNV's low bits vary little between names that differ in
// their last digits). A seed other than 0 is folded into the state first, so
// seed 0 gives mix(fnv1a64(name)).
std::uint64_t assignment_hash(std::string_view name, std::uint64_t seed);

// Adds a queue `<path>/sim-queue` under every non-queue scope that has no
// children (a plan of bare quotas, like policies/venus-tenants.allot, has no
// queue to submit to). The synthetic queue has default settings (preemptible,
// requeue, no priority) with gpu_sharing on. Returns how many were added.
std::size_t add_synthetic_queues(Cluster& cluster);

// A queue and its share of the hash space.
struct QueueWeight {
  ScopeId queue = kNone;
  Amount weight = 0;
};

// Every queue's weight, by scope id: each scope with a declared GPU guarantee
// has an own share (its guarantee less the guarantees of its nearest
// descendants that declare one), split evenly over the queues whose nearest
// guaranteed ancestor-or-self it is (the remainder, in milli-GPU, to the
// first ones). If no queue gets any weight, all queues weigh 1.
std::vector<QueueWeight> guarantee_weights(const Cluster& cluster);

// Picks a queue by the assignment hash, with probability proportional to
// weight (queues of weight 0 are never picked).
class HashAssigner {
 public:
  explicit HashAssigner(std::vector<QueueWeight> weights);
  ScopeId pick(std::string_view name, std::uint64_t seed) const;
  bool empty() const { return cumulative_.empty(); }

 private:
  std::vector<ScopeId> queues_;
  std::vector<std::uint64_t> cumulative_;  // running sums of the positive weights
};

// A mapping file (TOML):
//   [pods]      "openb-pod-0001" = "vcJsw"      # explicit pod -> queue
//   [weights]   "vcJsw" = 3                      # hash weights replacing the guarantees
// Queue references resolve as in resolve_queue.
struct Mapping {
  std::vector<std::pair<std::string, std::string>> pods;
  std::vector<std::pair<std::string, std::int64_t>> weights;
};
using MappingResult = std::variant<Mapping, InputError>;
MappingResult parse_mapping(std::string_view toml_text, std::string_view path);

// A queue by reference: its exact path, else the only queue below the scope
// of that path (so a quota name finds its synthetic queue). kNone otherwise.
ScopeId resolve_queue(const Cluster& cluster, std::string_view reference);

}  // namespace allot::runtime::sim

namespace allot::runtime::sim {

// Turns trace jobs into simulator jobs against `cluster`:
//  - generic: the queue as written (resolve_queue), the priority class by name;
//    an unknown queue or class is left for the Scheduler to refuse (counted);
//  - openb: the mapping's [pods] entry, else the hash assignment (weighted by
//    the mapping's [weights] if any, else by guarantee_weights);
//  - openb pods are submitted as a user the queue authorises (its first grant
//    with submit: its first user, else its first group), "openb" without grants.
// Fails (with the mapping file's path) only when the mapping names a queue
// that does not exist.
using ResolveResult = std::variant<std::vector<SimJob>, InputError>;
ResolveResult resolve_jobs(const Cluster& cluster, const Trace& trace, const Mapping* mapping,
                           std::string_view mapping_path, std::uint64_t seed);

}  // namespace allot::runtime::sim

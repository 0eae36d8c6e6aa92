// Physical GPU state of one pool: how many milli-GPU each GPU has handed
// out, and indexes that answer "where do g whole GPUs fit?" and "which shared
// GPU fits f milli best?" without scanning all nodes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "runtime/core/cluster.h"
#include "runtime/core/types.h"

namespace allot::runtime {

// GPUs are numbered flat: node n's GPUs are [first_gpu[n], first_gpu[n] + gpu_count).
using FlatGpu = std::uint32_t;

struct Topology {
  std::vector<std::uint32_t> gpu_count;    // per node
  std::vector<std::uint32_t> domain_size;  // per node, >= 1
  std::vector<FlatGpu> first_gpu;          // per node
  std::vector<NodeId> node_of;             // per flat GPU
  std::uint32_t max_gpus_per_node = 0;

  explicit Topology(const std::vector<Node>& nodes);
  std::size_t gpu_total() const { return node_of.size(); }
  FlatGpu flat(GpuRef g) const { return first_gpu[g.node] + g.index; }
  GpuRef ref(FlatGpu f) const { return {node_of[f], f - first_gpu[node_of[f]]}; }
  std::uint32_t domain_count(NodeId n) const { return (gpu_count[n] + domain_size[n] - 1) / domain_size[n]; }
  std::uint64_t domain_mask(NodeId n, std::uint32_t d) const;
};

// The free (fully unused) GPUs of one group, by node: a bit mask per node and
// buckets of nodes keyed by their free count and by the free count of their
// best interconnect domain. Updates are O(1) per node; queries scan at most
// max_gpus_per_node buckets plus a bit set of nodes, and return the lowest
// node id among equals, so results are deterministic.
class FreeGpuIndex {
 public:
  explicit FreeGpuIndex(std::shared_ptr<const Topology> topology);

  void set_free(NodeId node, std::uint32_t index, bool free);  // call rekey(node) after
  void rekey(NodeId node);

  std::uint64_t free_mask(NodeId node) const { return mask_[node]; }
  std::int64_t total_free() const { return total_free_; }
  // A node with a domain holding >= g free GPUs of this group, the one whose
  // best domain is smallest (best fit).
  std::optional<NodeId> best_domain_fit(std::uint32_t g) const;
  // A node with >= g free GPUs of this group, the fullest one (best fit).
  std::optional<NodeId> best_node_fit(std::uint32_t g) const;
  // Nodes by free count, from most to fewest free, lowest id first among equals.
  template <typename Visit>  // bool(NodeId): return false to stop
  void for_each_node_most_free_first(Visit visit) const;

 private:
  struct Bucket {
    std::vector<std::uint64_t> nodes;  // bit set over node ids
    std::uint32_t count = 0;
  };
  void bucket_insert(std::vector<Bucket>& buckets, std::uint32_t key, NodeId node);
  void bucket_erase(std::vector<Bucket>& buckets, std::uint32_t key, NodeId node);
  static std::optional<NodeId> first_node(const Bucket& bucket);

  std::shared_ptr<const Topology> topology_;
  std::vector<std::uint64_t> mask_;       // per node
  std::vector<std::uint8_t> domain_key_;  // per node: free GPUs of its best domain
  std::vector<std::uint8_t> node_key_;    // per node: free GPUs
  std::vector<Bucket> by_domain_free_;    // [key] for key >= 1
  std::vector<Bucket> by_node_free_;
  std::int64_t total_free_ = 0;
};

template <typename Visit>
void FreeGpuIndex::for_each_node_most_free_first(Visit visit) const {
  for (std::uint32_t key = topology_->max_gpus_per_node; key >= 1; --key) {
    const Bucket& b = by_node_free_[key];
    if (b.count == 0) continue;
    for (std::size_t w = 0; w < b.nodes.size(); ++w) {
      std::uint64_t bits = b.nodes[w];
      while (bits != 0) {
        const int bit = __builtin_ctzll(bits);
        bits &= bits - 1;
        if (!visit(static_cast<NodeId>(w * 64 + bit))) return;
      }
    }
  }
}

// GPU usage plus the indexes. Groups: 0 = GPUs pinned to no scope; 1..H = the
// GPUs pinned to one home scope each.
class GpuState {
 public:
  GpuState(std::shared_ptr<const Topology> topology, std::vector<std::uint32_t> group_of_gpu,
           std::uint32_t group_count);

  const Topology& topology() const { return *topology_; }
  Amount used(FlatGpu g) const { return used_[g]; }
  std::uint32_t group_of(FlatGpu g) const { return group_of_[g]; }
  std::int64_t free_whole_gpus() const { return all_.total_free(); }
  std::uint32_t free_on_node(NodeId node) const {
    return static_cast<std::uint32_t>(__builtin_popcountll(all_.free_mask(node)));
  }
  std::uint64_t free_mask(NodeId node) const { return all_.free_mask(node); }
  // Changes whenever the use of one of the node's GPUs changes.
  std::uint32_t node_version(NodeId node) const { return node_version_[node]; }
  // The most milli-GPU one GPU can still give (1000 if any GPU is unused).
  Amount best_free_share() const;

  void take(const std::vector<GpuSlice>& slices);
  void give_back(const std::vector<GpuSlice>& slices);

  // Placement. `rank[group]` orders the groups a job prefers to take GPUs
  // from (lower first); `own_group` (0: none) is tried alone first. Returns
  // nullopt if the request does not fit physically right now.
  std::optional<std::vector<GpuSlice>> place_whole(std::uint32_t gpus, std::uint32_t own_group,
                                                   const std::vector<std::uint32_t>& rank) const;
  std::optional<std::vector<GpuSlice>> place_share(Amount milli, std::uint32_t own_group,
                                                   const std::vector<std::uint32_t>& rank) const;

 private:
  void change(FlatGpu g, Amount delta, std::vector<NodeId>& touched);
  void rekey(const std::vector<NodeId>& touched);
  // The free GPUs of `mask` on `node`, best ranked first, at most `count`.
  void pick(NodeId node, std::uint64_t mask, std::uint32_t count, const std::vector<std::uint32_t>& rank,
            std::vector<GpuSlice>& out) const;
  // The domain of `node` with the fewest (but >= need) GPUs of `mask`.
  std::uint64_t tightest_domain(NodeId node, std::uint64_t mask, std::uint32_t need) const;

  std::shared_ptr<const Topology> topology_;
  std::vector<Amount> used_;             // per flat GPU, 0..1000
  std::vector<std::uint32_t> group_of_;  // per flat GPU
  FreeGpuIndex all_;
  std::vector<FreeGpuIndex> by_group_;           // [group], group 0 unused
  std::set<std::pair<Amount, FlatGpu>> shared_;  // partly used GPUs: (free milli, gpu)
  std::vector<NodeId> touched_;                  // scratch of take/give_back, reused
  std::vector<std::uint32_t> node_version_;      // per node
};

}  // namespace allot::runtime

#include "runtime/core/gpu_index.h"

#include <algorithm>
#include <bit>

namespace allot::runtime {

// ---- Topology -----------------------------------------------------------------

Topology::Topology(const std::vector<Node>& nodes) {
  gpu_count.reserve(nodes.size());
  for (const Node& n : nodes) {
    const std::uint32_t count = n.gpu_count;
    std::uint32_t domain = n.interconnect_domain_size;
    if (domain == 0 || domain > count) domain = std::max<std::uint32_t>(count, 1);
    first_gpu.push_back(static_cast<FlatGpu>(node_of.size()));
    gpu_count.push_back(count);
    domain_size.push_back(domain);
    for (std::uint32_t i = 0; i < count; ++i) node_of.push_back(static_cast<NodeId>(gpu_count.size() - 1));
    max_gpus_per_node = std::max(max_gpus_per_node, count);
  }
}

std::uint64_t Topology::domain_mask(NodeId n, std::uint32_t d) const {
  const std::uint32_t begin = d * domain_size[n];
  const std::uint32_t end = std::min(gpu_count[n], begin + domain_size[n]);
  const std::uint32_t width = end - begin;
  const std::uint64_t ones = width >= 64 ? ~0ull : ((1ull << width) - 1);
  return ones << begin;
}

// ---- FreeGpuIndex -------------------------------------------------------------

FreeGpuIndex::FreeGpuIndex(std::shared_ptr<const Topology> topology) : topology_(std::move(topology)) {
  const std::size_t nodes = topology_->gpu_count.size();
  mask_.assign(nodes, 0);
  domain_key_.assign(nodes, 0);
  node_key_.assign(nodes, 0);
  const std::size_t words = (nodes + 63) / 64;
  by_domain_free_.assign(topology_->max_gpus_per_node + 1, Bucket{std::vector<std::uint64_t>(words, 0), 0});
  by_node_free_ = by_domain_free_;
}

void FreeGpuIndex::set_free(NodeId node, std::uint32_t index, bool free) {
  const std::uint64_t bit = 1ull << index;
  const bool was = (mask_[node] & bit) != 0;
  if (was == free) return;
  if (free) {
    mask_[node] |= bit;
    ++total_free_;
  } else {
    mask_[node] &= ~bit;
    --total_free_;
  }
}

void FreeGpuIndex::rekey(NodeId node) {
  const std::uint64_t mask = mask_[node];
  const auto node_free = static_cast<std::uint32_t>(std::popcount(mask));
  std::uint32_t best_domain = 0;
  for (std::uint32_t d = 0, n = topology_->domain_count(node); d < n; ++d)
    best_domain =
        std::max(best_domain, static_cast<std::uint32_t>(std::popcount(mask & topology_->domain_mask(node, d))));
  if (node_free != node_key_[node]) {
    bucket_erase(by_node_free_, node_key_[node], node);
    bucket_insert(by_node_free_, node_free, node);
    node_key_[node] = static_cast<std::uint8_t>(node_free);
  }
  if (best_domain != domain_key_[node]) {
    bucket_erase(by_domain_free_, domain_key_[node], node);
    bucket_insert(by_domain_free_, best_domain, node);
    domain_key_[node] = static_cast<std::uint8_t>(best_domain);
  }
}

void FreeGpuIndex::bucket_insert(std::vector<Bucket>& buckets, std::uint32_t key, NodeId node) {
  if (key == 0) return;  // nodes without free GPUs are not indexed
  buckets[key].nodes[node / 64] |= 1ull << (node % 64);
  ++buckets[key].count;
}

void FreeGpuIndex::bucket_erase(std::vector<Bucket>& buckets, std::uint32_t key, NodeId node) {
  if (key == 0) return;
  buckets[key].nodes[node / 64] &= ~(1ull << (node % 64));
  --buckets[key].count;
}

std::optional<NodeId> FreeGpuIndex::first_node(const Bucket& bucket) {
  if (bucket.count == 0) return std::nullopt;
  for (std::size_t w = 0; w < bucket.nodes.size(); ++w)
    if (bucket.nodes[w] != 0) return static_cast<NodeId>(w * 64 + std::countr_zero(bucket.nodes[w]));
  return std::nullopt;
}

std::optional<NodeId> FreeGpuIndex::best_domain_fit(std::uint32_t g) const {
  for (std::uint32_t key = std::max<std::uint32_t>(g, 1); key < by_domain_free_.size(); ++key)
    if (auto n = first_node(by_domain_free_[key])) return n;
  return std::nullopt;
}

std::optional<NodeId> FreeGpuIndex::best_node_fit(std::uint32_t g) const {
  for (std::uint32_t key = std::max<std::uint32_t>(g, 1); key < by_node_free_.size(); ++key)
    if (auto n = first_node(by_node_free_[key])) return n;
  return std::nullopt;
}

// ---- GpuState -----------------------------------------------------------------

GpuState::GpuState(std::shared_ptr<const Topology> topology, std::vector<std::uint32_t> group_of_gpu,
                   std::uint32_t group_count)
    : topology_(topology), group_of_(std::move(group_of_gpu)), all_(topology) {
  used_.assign(topology_->gpu_total(), 0);
  node_version_.assign(topology_->gpu_count.size(), 0);
  by_group_.reserve(group_count + 1);
  for (std::uint32_t g = 0; g <= group_count; ++g) by_group_.emplace_back(topology);
  for (FlatGpu f = 0; f < used_.size(); ++f) {
    const GpuRef r = topology_->ref(f);
    all_.set_free(r.node, r.index, true);
    if (group_of_[f] != 0) by_group_[group_of_[f]].set_free(r.node, r.index, true);
  }
  for (NodeId n = 0; n < topology_->gpu_count.size(); ++n) {
    all_.rekey(n);
    for (std::uint32_t g = 1; g <= group_count; ++g) by_group_[g].rekey(n);
  }
}

Amount GpuState::best_free_share() const {
  if (all_.total_free() > 0) return kMilliPerGpu;
  return shared_.empty() ? 0 : shared_.rbegin()->first;
}

void GpuState::change(FlatGpu g, Amount delta, std::vector<NodeId>& touched) {
  const Amount before = used_[g];
  const Amount after = before + delta;
  used_[g] = after;
  ++node_version_[topology_->node_of[g]];
  if (before > 0 && before < kMilliPerGpu) shared_.erase({kMilliPerGpu - before, g});
  if (after > 0 && after < kMilliPerGpu) shared_.insert({kMilliPerGpu - after, g});
  if ((before == 0) != (after == 0)) {
    const GpuRef r = topology_->ref(g);
    all_.set_free(r.node, r.index, after == 0);
    if (group_of_[g] != 0) by_group_[group_of_[g]].set_free(r.node, r.index, after == 0);
    if (std::find(touched.begin(), touched.end(), r.node) == touched.end()) touched.push_back(r.node);
  }
}

void GpuState::rekey(const std::vector<NodeId>& touched) {
  for (NodeId n : touched) {
    all_.rekey(n);
    // Only groups with GPUs on this node can have changed.
    const FlatGpu begin = topology_->first_gpu[n];
    std::uint32_t last_group = 0;
    for (FlatGpu f = begin; f < begin + topology_->gpu_count[n]; ++f) {
      const std::uint32_t group = group_of_[f];
      if (group != 0 && group != last_group) by_group_[group].rekey(n);
      last_group = group;
    }
  }
}

void GpuState::take(const std::vector<GpuSlice>& slices) {
  touched_.clear();
  for (const GpuSlice& s : slices) change(topology_->flat(s.gpu), s.milli, touched_);
  rekey(touched_);
}

void GpuState::give_back(const std::vector<GpuSlice>& slices) {
  touched_.clear();
  for (const GpuSlice& s : slices) change(topology_->flat(s.gpu), -s.milli, touched_);
  rekey(touched_);
}

void GpuState::pick(NodeId node, std::uint64_t mask, std::uint32_t count, const std::vector<std::uint32_t>& rank,
                    std::vector<GpuSlice>& out) const {
  // At most 64 GPUs per node: collect, order by (rank of their group, index).
  std::uint32_t candidates[64];
  std::uint32_t n = 0;
  for (std::uint64_t bits = mask; bits != 0; bits &= bits - 1)
    candidates[n++] = static_cast<std::uint32_t>(std::countr_zero(bits));
  const FlatGpu base = topology_->first_gpu[node];
  std::stable_sort(candidates, candidates + n, [&](std::uint32_t a, std::uint32_t b) {
    return rank[group_of_[base + a]] < rank[group_of_[base + b]];
  });
  for (std::uint32_t i = 0; i < n && i < count; ++i) out.push_back({{node, candidates[i]}, kMilliPerGpu});
}

std::uint64_t GpuState::tightest_domain(NodeId node, std::uint64_t mask, std::uint32_t need) const {
  std::uint64_t best = 0;
  int best_free = 65;
  for (std::uint32_t d = 0, n = topology_->domain_count(node); d < n; ++d) {
    const std::uint64_t dm = mask & topology_->domain_mask(node, d);
    const int free = std::popcount(dm);
    if (free >= static_cast<int>(need) && free < best_free) {
      best = dm;
      best_free = free;
    }
  }
  return best;
}

std::optional<std::vector<GpuSlice>> GpuState::place_whole(std::uint32_t gpus, std::uint32_t own_group,
                                                           const std::vector<std::uint32_t>& rank) const {
  std::vector<GpuSlice> out;
  if (gpus == 0) return out;
  if (all_.total_free() < gpus) return std::nullopt;
  // 1. The job's own pinned GPUs, inside one interconnect domain.
  if (own_group != 0) {
    const FreeGpuIndex& own = by_group_[own_group];
    if (auto node = own.best_domain_fit(gpus)) {
      pick(*node, tightest_domain(*node, own.free_mask(*node), gpus), gpus, rank, out);
      return out;
    }
  }
  // 2. Any free GPUs inside one domain, own GPUs first, then by rank.
  if (auto node = all_.best_domain_fit(gpus)) {
    pick(*node, tightest_domain(*node, all_.free_mask(*node), gpus), gpus, rank, out);
    return out;
  }
  // 3. One node, filling its emptiest domains first (fewest domains spanned).
  if (auto node = all_.best_node_fit(gpus)) {
    const std::uint64_t mask = all_.free_mask(*node);
    std::vector<std::pair<int, std::uint32_t>> domains;  // (-free, domain)
    for (std::uint32_t d = 0, n = topology_->domain_count(*node); d < n; ++d)
      domains.push_back({-std::popcount(mask & topology_->domain_mask(*node, d)), d});
    std::sort(domains.begin(), domains.end());
    for (const auto& [neg_free, d] : domains) {
      if (out.size() >= gpus) break;
      pick(*node, mask & topology_->domain_mask(*node, d), gpus - static_cast<std::uint32_t>(out.size()), rank, out);
    }
    return out;
  }
  // 4. Several nodes, the emptiest first (fewest nodes spanned).
  all_.for_each_node_most_free_first([&](NodeId node) {
    pick(node, all_.free_mask(node), gpus - static_cast<std::uint32_t>(out.size()), rank, out);
    return out.size() < gpus;
  });
  return out;
}

std::optional<std::vector<GpuSlice>> GpuState::place_share(Amount milli, std::uint32_t own_group,
                                                           const std::vector<std::uint32_t>& rank) const {
  // 1. Pack onto an already shared GPU: the one with the least room that fits.
  auto it = shared_.lower_bound({milli, 0});
  if (it != shared_.end()) return std::vector<GpuSlice>{{topology_->ref(it->second), milli}};
  // 2. Open a fresh GPU, in the tightest domain so that whole domains stay whole.
  std::vector<GpuSlice> out;
  const FreeGpuIndex* index = nullptr;
  std::optional<NodeId> node;
  if (own_group != 0 && (node = by_group_[own_group].best_domain_fit(1))) index = &by_group_[own_group];
  if (!index && (node = all_.best_domain_fit(1))) index = &all_;
  if (!index) return std::nullopt;
  pick(*node, tightest_domain(*node, index->free_mask(*node), 1), 1, rank, out);
  out[0].milli = milli;
  return out;
}

}  // namespace allot::runtime

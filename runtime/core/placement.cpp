#include "runtime/core/placement.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>

namespace allot::runtime {

const char* to_string(PlacementPolicy policy) {
  switch (policy) {
    case PlacementPolicy::best_fit:
      return "best_fit";
    case PlacementPolicy::first_fit:
      return "first_fit";
    case PlacementPolicy::spread:
      return "spread";
    case PlacementPolicy::fgd:
      return "fgd";
    case PlacementPolicy::random:
      return "random";
  }
  return "best_fit";
}

std::optional<PlacementPolicy> parse_placement_policy(std::string_view name) {
  for (PlacementPolicy p : {PlacementPolicy::best_fit, PlacementPolicy::first_fit, PlacementPolicy::spread,
                            PlacementPolicy::fgd, PlacementPolicy::random})
    if (name == to_string(p)) return p;
  return std::nullopt;
}

namespace {

constexpr std::uint32_t kMaxGpus = 64;

// The authors' FGD score of a choice: the fall of F_n(M), in GPUs, through a
// sigmoid scaled to 0..100 and truncated to an integer (Kubernetes' node
// score). Choices whose growth differs by less than about 40 milli-GPU
// score the same; the lower node id, or GPU index, then wins.
std::int32_t fgd_score(double growth_milli) {
  return static_cast<std::int32_t>(100.0 / (1.0 + std::exp(growth_milli / 1000.0)));
}

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

Placer::Placer(const Cluster& cluster, std::shared_ptr<const Topology> topology)
    : policy_(cluster.placement_policy), topology_(std::move(topology)), random_state_(cluster.placement_seed) {
  const std::size_t n = cluster.nodes.size();
  for (const Node& node : cluster.nodes) {
    node_model_.push_back(node.gpu_model);
    cpu_capacity_.push_back(node.cpu_milli);
    memory_capacity_.push_back(node.memory_mib);
    models_nodes_ = models_nodes_ || node.cpu_milli > 0 || node.memory_mib > 0;
  }
  cpu_free_ = cpu_capacity_;
  memory_free_ = memory_capacity_;
  cpu_version_.assign(n, 0);
  node_fragmentation_.assign(n, {~0ull, 0});
  learn_workload_ = cluster.workload.empty();
  set_workload(cluster.workload);
}

void Placer::set_workload(std::vector<TaskType> workload) {
  workload_ = std::move(workload);
  weights_ = fragmentation_weights(workload_);
  const std::size_t types = workload_.size();
  type_model_ok_.assign(node_model_.size() * types, 0);
  for (std::size_t n = 0; n < node_model_.size(); ++n)
    for (std::size_t m = 0; m < types; ++m)
      type_model_ok_[n * types + m] = accepts_model(workload_[m].gpu_models, node_model_[n]) ? 1 : 0;
  for (auto& entry : node_fragmentation_) entry.first = ~0ull;
  for (auto& table : deltas_)
    for (DeltaEntry& e : table) e.stamp = ~0ull;
}

void Placer::observe(const Resources& request, std::string_view gpu_models) {
  if (!learn_workload_ || request.gpu_milli <= 0) return;
  const bool whole = request.gpu_milli % kMilliPerGpu == 0;
  history_[{request.cpu_milli, whole ? static_cast<std::uint32_t>(request.gpu_milli / kMilliPerGpu) : 1u,
            whole ? kMilliPerGpu : request.gpu_milli, std::string(gpu_models)}] += 1;
  // Rebuilt at 16, 32, 64, ... requests: the workload settles as history grows.
  if (++observed_ >= next_rebuild_) {
    next_rebuild_ *= 2;
    std::vector<TaskType> types;
    types.reserve(history_.size());
    for (const auto& [key, n] : history_)
      types.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), std::get<3>(key), n});
    set_workload(typical_workload(types));
  }
}

std::uint64_t Placer::next_random() { return splitmix64(random_state_); }

std::uint64_t Placer::stamp(NodeId node, const GpuState& gpus) const {
  return (static_cast<std::uint64_t>(gpus.node_version(node)) << 32) | cpu_version_[node];
}

void Placer::take(NodeId node, const Resources& request) {
  // Without node capacities nothing reads the counts (fragmentation then
  // ignores CPU, so the stamps need not change either).
  if (!models_nodes_ || node == kNone || node >= cpu_free_.size()) return;
  cpu_free_[node] -= request.cpu_milli;
  memory_free_[node] -= request.memory_mib;
  ++cpu_version_[node];
}

void Placer::give_back(NodeId node, const Resources& request) {
  if (!models_nodes_ || node == kNone || node >= cpu_free_.size()) return;
  cpu_free_[node] += request.cpu_milli;
  memory_free_[node] += request.memory_mib;
  ++cpu_version_[node];
}

bool Placer::node_fits(NodeId node, const Resources& request) const {
  if (cpu_capacity_[node] > 0 && cpu_free_[node] < request.cpu_milli) return false;
  if (memory_capacity_[node] > 0 && memory_free_[node] < request.memory_mib) return false;
  return true;
}

NodeFree Placer::node_free(NodeId node, const GpuState& gpus, Amount* buffer) const {
  const FlatGpu first = topology_->first_gpu[node];
  const std::uint32_t count = topology_->gpu_count[node];
  for (std::uint32_t i = 0; i < count; ++i) buffer[i] = kMilliPerGpu - gpus.used(first + i);
  return {cpu_free_[node], cpu_capacity_[node] > 0, buffer, count};
}

std::int64_t Placer::fragmentation(NodeId node, const GpuState& gpus) const {
  auto& cached = node_fragmentation_[node];
  const std::uint64_t s = stamp(node, gpus);
  if (cached.first == s) return cached.second;
  std::array<Amount, kMaxGpus> buffer{};
  const NodeFree free = node_free(node, gpus, buffer.data());
  prepare_fragmentation(free.cpu_milli, free.cpu_modelled, workload_, weights_,
                        type_model_ok_.data() + node * workload_.size(), terms_);
  const std::int64_t f = scaled_fragmentation(terms_, free.gpu_free, free.gpu_count);
  cached = {s, f};
  return f;
}

double Placer::fragmented_milli(const GpuState& gpus) const {
  std::int64_t total = 0;
  for (NodeId n = 0; n < node_model_.size(); ++n) total += fragmentation(n, gpus);
  return static_cast<double>(total) / FragTerms::kScale;
}

Placer::DeltaEntry Placer::fgd_delta(NodeId node, const Resources& request, const GpuState& gpus,
                                     std::uint32_t shape) const {
  DeltaEntry& cached = deltas_[shape][node];
  const std::uint64_t s = stamp(node, gpus);
  if (cached.stamp == s) return cached;
  std::array<Amount, kMaxGpus> buffer{};
  const NodeFree free = node_free(node, gpus, buffer.data());
  const Amount g = request.gpu_milli;
  const bool share = g > 0 && g < kMilliPerGpu;
  // Whether the GPUs have room; CPU and memory are the caller's to check.
  std::uint32_t fitting = 0;
  for (std::uint32_t i = 0; i < free.gpu_count; ++i) fitting += buffer[i] >= (share ? g : kMilliPerGpu) ? 1 : 0;
  if (fitting < (share ? 1 : static_cast<std::uint32_t>(g / kMilliPerGpu))) {
    cached = {s, 0, 0, false};
    return cached;
  }
  const std::int64_t before = fragmentation(node, gpus);
  prepare_fragmentation(free.cpu_milli - request.cpu_milli, free.cpu_modelled, workload_, weights_,
                        type_model_ok_.data() + node * workload_.size(), terms_);
  // The growth of F_n(M) in milli-GPU once the request takes `buffer`'s GPUs.
  auto growth = [&] {
    return static_cast<double>(scaled_fragmentation(terms_, buffer.data(), free.gpu_count) - before) /
           FragTerms::kScale;
  };
  DeltaEntry best{s, 0, 0, true};
  if (share) {
    // Each distinct amount of free room is one choice; the first GPU with it.
    bool found = false;
    for (std::uint32_t i = 0; i < free.gpu_count; ++i) {
      const Amount room = buffer[i];
      if (room < g) continue;
      bool seen = false;
      for (std::uint32_t j = 0; j < i && !seen; ++j) seen = buffer[j] == room;
      if (seen) continue;
      buffer[i] = room - g;
      const std::int32_t score = fgd_score(growth());
      buffer[i] = room;
      // The highest score, the lowest index among equals (GPUs with the same
      // room were skipped above: they score the same as the first).
      if (!found || score > best.score) best = {s, score, i, true};
      found = true;
    }
  } else {
    std::uint32_t need = static_cast<std::uint32_t>(g / kMilliPerGpu);
    for (std::uint32_t i = 0; i < free.gpu_count && need > 0; ++i)
      if (buffer[i] == kMilliPerGpu) buffer[i] = 0, --need;
    best.score = fgd_score(growth());
  }
  cached = best;
  return best;
}

const std::vector<char>& Placer::model_mask(std::string_view gpu_models) {
  auto it = model_masks_.find(gpu_models);
  if (it != model_masks_.end()) return it->second;
  std::vector<char> mask(node_model_.size());
  for (std::size_t n = 0; n < node_model_.size(); ++n) mask[n] = accepts_model(gpu_models, node_model_[n]) ? 1 : 0;
  return model_masks_.emplace(std::string(gpu_models), std::move(mask)).first->second;
}

void Placer::set_cordoned(NodeId node, bool cordoned) {
  if (cordoned_.size() < node_model_.size()) cordoned_.assign(node_model_.size(), 0);
  if (node >= cordoned_.size() || static_cast<bool>(cordoned_[node]) == cordoned) return;
  cordoned_[node] = cordoned ? 1 : 0;
  cordoned ? ++cordoned_count_ : --cordoned_count_;
}

std::optional<Placement> Placer::place(const Resources& request, std::string_view gpu_models, std::uint32_t own_group,
                                       const std::vector<std::uint32_t>& rank, const GpuState& gpus) {
  observe(request, gpu_models);
  const Amount g = request.gpu_milli;
  const bool whole = g % kMilliPerGpu == 0;
  // Without node capacities or model constraints, best fit is the GPU
  // index's own (fullest GPU for a share, fullest domain or node for whole
  // GPUs, several nodes when no single one has room, pinned GPUs first).
  if (policy_ == PlacementPolicy::best_fit && !models_nodes_ && gpu_models.empty() && cordoned_count_ == 0) {
    std::optional<std::vector<GpuSlice>> slices;
    if (g == 0)
      slices.emplace();
    else if (whole)
      slices = gpus.place_whole(static_cast<std::uint32_t>(g / kMilliPerGpu), own_group, rank);
    else
      slices = gpus.place_share(g, own_group, rank);
    if (!slices) return std::nullopt;
    Placement p;
    p.node = slices->empty() ? kNone : slices->front().gpu.node;
    p.gpus = std::move(*slices);
    return p;
  }
  if (g == 0 && !models_nodes_) return Placement{};

  // One node holds the whole request. Scan the nodes that fit and keep the
  // policy's best candidate.
  const std::vector<char>* mask = gpu_models.empty() ? nullptr : &model_mask(gpu_models);
  std::uint32_t shape = 0;
  if (policy_ == PlacementPolicy::fgd) {
    auto [it, added] = shapes_.try_emplace({request.cpu_milli, g}, static_cast<std::uint32_t>(deltas_.size()));
    if (added) deltas_.emplace_back(node_model_.size());
    shape = it->second;
  }
  const std::uint32_t need = whole ? static_cast<std::uint32_t>(g / kMilliPerGpu) : 1;
  std::optional<Candidate> best;
  if (policy_ == PlacementPolicy::fgd) {
    // The cached entry says whether the node's GPUs have room, and where.
    for (NodeId n = 0; n < node_model_.size(); ++n) {
      if (mask && !(*mask)[n]) continue;
      if (cordoned_count_ > 0 && cordoned_[n]) continue;
      if (!node_fits(n, request)) continue;
      const DeltaEntry d = fgd_delta(n, request, gpus, shape);
      if (!d.fits || (best && d.score <= best->score)) continue;  // lower ids win ties
      Candidate c;
      c.node = n;
      c.gpu = d.gpu;
      c.score = d.score;
      best = c;
    }
  }
  std::uint64_t seen = 0;  // random: feasible nodes so far (reservoir sampling)
  for (NodeId n = 0; policy_ != PlacementPolicy::fgd && n < node_model_.size(); ++n) {
    if (mask && !(*mask)[n]) continue;
    if (cordoned_count_ > 0 && cordoned_[n]) continue;
    if (!node_fits(n, request)) continue;
    Candidate c;
    c.node = n;
    c.node_free = gpus.free_on_node(n);
    if (g > 0 && whole) {
      if (c.node_free < need) continue;
    } else if (g > 0) {
      // The fullest GPU of the node with room (spread: the emptiest).
      const FlatGpu first = topology_->first_gpu[n];
      bool found = false;
      for (std::uint32_t i = 0; i < topology_->gpu_count[n]; ++i) {
        const Amount room = kMilliPerGpu - gpus.used(first + i);
        if (room < g) continue;
        const bool better = policy_ == PlacementPolicy::spread ? room > c.gpu_free : room < c.gpu_free;
        const bool first_fit = policy_ == PlacementPolicy::first_fit;
        if (!found || (!first_fit && better)) c.gpu = i, c.gpu_free = room;
        found = true;
      }
      if (!found) continue;
    }
    if (policy_ == PlacementPolicy::first_fit) {
      best = c;
      break;
    }
    if (policy_ == PlacementPolicy::random) {
      if (next_random() % ++seen == 0) best = c;
      continue;
    }
    if (!best) {
      best = c;
      continue;
    }
    // best_fit: least room left on the GPU (shares), fewest free GPUs on the
    // node, least CPU left; spread: the opposite. Lower node ids win ties.
    const auto fit_key = [&](const Candidate& x) {
      return std::tuple<Amount, std::uint32_t, Amount>{g > 0 && !whole ? x.gpu_free : 0, x.node_free,
                                                       cpu_free_[x.node]};
    };
    bool better = false;
    if (policy_ == PlacementPolicy::spread) {
      better = fit_key(c) > fit_key(*best);
    } else {
      better = fit_key(c) < fit_key(*best);
    }
    if (better) best = c;
  }
  if (!best) return std::nullopt;
  Placement p;
  p.node = best->node;
  if (g > 0 && !whole) {
    p.gpus.push_back({{best->node, best->gpu}, g});
  } else if (g > 0) {
    const std::uint64_t mask_free = gpus.free_mask(best->node);
    std::uint32_t taken = 0;
    for (std::uint64_t bits = mask_free; bits != 0 && taken < need; bits &= bits - 1, ++taken)
      p.gpus.push_back({{best->node, static_cast<std::uint32_t>(std::countr_zero(bits))}, kMilliPerGpu});
  }
  return p;
}

}  // namespace allot::runtime

// The fragmentation a running pool reports (`allot status`): the idle GPU
// capacity the next request cannot use, and the paper's measure against a
// workload the caller chooses (allotd: its live history), independent of
// the workload the Placer learns for fgd.
#include <algorithm>
#include <array>

#include "runtime/core/scheduler.h"

namespace allot::runtime {

FragmentationNow Scheduler::fragmentation_now(const std::vector<TaskType>& workload) const {
  FragmentationNow out;
  const Topology& topo = *topology_;
  out.capacity_milli = static_cast<Amount>(topo.gpu_total()) * kMilliPerGpu;
  for (FlatGpu f = 0; f < topo.gpu_total(); ++f) out.idle_milli += kMilliPerGpu - gpus_->used(f);

  for (const PendingKey& key : pending_) {
    const JobRecord* rec = find_job(key.id);
    if (!rec || rec->job.request.gpu_milli <= 0) continue;
    out.next_job = rec->job.id;
    out.next_request_milli = rec->job.request.gpu_milli;
    break;
  }
  if (const Amount g = out.next_request_milli; g > 0) {
    for (FlatGpu f = 0; f < topo.gpu_total(); ++f) {
      const Amount used = gpus_->used(f), free = kMilliPerGpu - used;
      if (used > 0 && free > 0 && (g % kMilliPerGpu == 0 || free < g)) out.for_next_milli += free;
    }
    if (g % kMilliPerGpu == 0)
      for (NodeId n = 0; n < topo.gpu_count.size(); ++n)
        if (const Amount whole = gpus_->free_on_node(n); whole * kMilliPerGpu < g)
          out.for_next_milli += whole * kMilliPerGpu;
  }

  std::array<Amount, 64> buffer{};
  std::vector<char> model_ok(workload.size());
  for (NodeId n = 0; n < topo.gpu_count.size(); ++n) {
    const std::uint32_t count = std::min<std::uint32_t>(topo.gpu_count[n], buffer.size());
    for (std::uint32_t i = 0; i < count; ++i) buffer[i] = kMilliPerGpu - gpus_->used(topo.first_gpu[n] + i);
    for (std::size_t m = 0; m < workload.size(); ++m)
      model_ok[m] = accepts_model(workload[m].gpu_models, cluster_.nodes[n].gpu_model) ? 1 : 0;
    const NodeFree free{placer_->cpu_free(n), placer_->cpu_capacity(n) > 0, buffer.data(), count};
    out.for_workload_milli += node_fragmentation(free, workload, model_ok);
  }
  return out;
}

}  // namespace allot::runtime

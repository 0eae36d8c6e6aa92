// Why a pending job waits: the first condition of admission (try_admit and
// attempt in scheduler.cpp and victims.cpp) that it does not meet, as data,
// so that `allot ps` and `allot explain` report what the core decides and
// not a guess from its output. Cordons live here too: they are one of the
// reasons.
#include <algorithm>
#include <string>

#include "runtime/core/scheduler.h"

namespace allot::runtime {

namespace {

std::uint8_t bit(Resource r) { return static_cast<std::uint8_t>(1u << static_cast<unsigned>(r)); }

std::string shown(Resource r, Amount a) {
  if (r == Resource::memory) return std::to_string(a) + " MiB";
  std::string s = std::to_string(a / kMilliPerGpu);
  if (const Amount frac = a % kMilliPerGpu; frac != 0) {
    std::string digits = std::to_string(kMilliPerGpu + frac).substr(1);
    while (!digits.empty() && digits.back() == '0') digits.pop_back();
    s += "." + digits;
  }
  return s + (r == Resource::gpu ? " gpu" : " cpu");
}

}  // namespace

const char* to_string(WaitKind kind) {
  switch (kind) {
    case WaitKind::pool_not_running:
      return "pool_not_running";
    case WaitKind::node_cordoned:
      return "node_cordoned";
    case WaitKind::awaiting_victims:
      return "awaiting_victims";
    case WaitKind::scope_limit:
      return "scope_limit";
    case WaitKind::lending_kept:
      return "lending_kept";
    case WaitKind::no_capacity:
      return "no_capacity";
    case WaitKind::next_pass:
      return "next_pass";
  }
  return "next_pass";
}

bool Scheduler::set_cordoned(NodeId node, bool cordoned) {
  if (node >= cordoned_.size()) return false;
  if (static_cast<bool>(cordoned_[node]) == cordoned) return true;
  cordoned_[node] = cordoned ? 1 : 0;
  cordoned ? ++cordoned_count_ : --cordoned_count_;
  placer_->set_cordoned(node, cordoned);
  ++epoch_;  // room changed: failed victim searches no longer hold
  return true;
}

std::optional<WaitReason> Scheduler::wait_reason(JobId id) const {
  const JobRecord* found = find_job(id);
  if (!found || found->state != JobState::pending) return std::nullopt;
  const JobRecord& rec = *found;
  WaitReason why;
  if (rec.nominated) {
    why.kind = WaitKind::awaiting_victims;
    for (const std::vector<JobRecord*>& running : running_by_queue_)
      for (const JobRecord* v : running)
        if (v->preempted && v->preemptor == id) why.victims.push_back(v->job.id);
    std::sort(why.victims.begin(), why.victims.end());
    std::string list;
    for (JobId v : why.victims) list += (list.empty() ? "job " : ", job ") + std::to_string(v);
    why.message = "waiting for " + (list.empty() ? std::string("its victims") : list) +
                  " to stop (grace period); their room is reserved for it";
    return why;
  }
  if (all_cordoned()) {
    why.kind = WaitKind::node_cordoned;
    why.message = cluster_.nodes.size() == 1 ? "node `" + cluster_.nodes[0].name + "` is cordoned"
                                             : "every node of the pool is cordoned";
    return why;
  }
  // The limits, as within_limits() checks them. A limit a scope inherits
  // fails at the scope that declares it too: that one is named (the first
  // miss if none declares it).
  const Resources& request = rec.job.request;
  std::optional<WaitReason> miss;
  ScopeId child = kNone;
  for (ScopeId s = rec.job.queue; s != kNone; child = s, s = info_[s].parent) {
    const ScopeUsage& u = usage_[s];
    const Resources later = u.used - u.leaving + u.reserved;
    Resources kept = u.child_kept;
    if (child != kNone) kept += kept_idle(child, committed(child) + request) - usage_[child].kept_now;
    for (Resource r : kAllResources) {
      const Amount use = std::max(u.used[r], later[r]) + kept[r];
      const Amount limit = info_[s].own_limit[r];
      if (use + request[r] <= limit) continue;
      const bool declared = (info_[s].declared & bit(r)) != 0;
      if (miss && !declared) continue;
      WaitReason w;
      w.kind = WaitKind::scope_limit;
      w.scope = s;
      w.resource = r;
      w.limit = limit;
      w.used = use;
      w.request = request[r];
      w.over = use + request[r] - limit;
      w.message = "`" + cluster_.scopes[s].name + "` is at its " + (declared ? "" : "inherited ") + to_string(r) +
                  " limit: " + shown(r, use) + " used of " + shown(r, limit) + ", the job needs " +
                  shown(r, request[r]) + " (" + shown(r, w.over) + " over)";
      miss = std::move(w);
      if (declared) return miss;
      break;
    }
  }
  if (miss) return miss;
  if (!within_limits(rec.job.queue, request)) {
    why.kind = WaitKind::lending_kept;
    why.message = "the pool's idle GPUs are kept by scopes that lend less than their guarantee";
    return why;
  }
  // Room on a node: whole GPUs on one node that is not cordoned (or over
  // several, as best fit places them), or a GPU with room for the share.
  const Amount g = request.gpu_milli;
  Amount free_milli = 0;
  for (NodeId n = 0; n < cluster_.nodes.size(); ++n) {
    if (cordoned_[n]) continue;
    if (!rec.job.gpu_models.empty() && !accepts_model(rec.job.gpu_models, cluster_.nodes[n].gpu_model)) continue;
    const Amount f = static_cast<Amount>(gpus_->free_on_node(n)) * kMilliPerGpu;
    free_milli += f;
  }
  why.free_gpu_milli = free_milli;
  const bool whole_short = g > 0 && g % kMilliPerGpu == 0 && free_milli < g;
  const bool share_short = g > 0 && g % kMilliPerGpu != 0 && gpus_->best_free_share() < g;
  if (whole_short || share_short) {
    why.kind = WaitKind::no_capacity;
    why.message = "no capacity: the job needs " + shown(Resource::gpu, g) + ", " + shown(Resource::gpu, free_milli) +
                  " free" + (share_short ? " (and no GPU with room for the share)" : "");
    return why;
  }
  // With CPU or memory modelled, one node holds the whole request (as the
  // Placer places it): the GPUs, the CPU and the memory.
  if (placer_->models_nodes()) {
    bool fits = false, with_gpus = false, cpu_modelled = false, memory_modelled = false;
    Amount cpu_most = 0, memory_most = 0;  // the most free on a node with room for the GPUs
    for (NodeId n = 0; n < cluster_.nodes.size() && !fits; ++n) {
      if (cordoned_[n]) continue;
      if (!rec.job.gpu_models.empty() && !accepts_model(rec.job.gpu_models, cluster_.nodes[n].gpu_model)) continue;
      if (g > 0 && g % kMilliPerGpu == 0 && static_cast<Amount>(gpus_->free_on_node(n)) * kMilliPerGpu < g) continue;
      if (g > 0 && g % kMilliPerGpu != 0) {
        bool room = false;
        const FlatGpu first = topology_->first_gpu[n];
        for (std::uint32_t i = 0; i < topology_->gpu_count[n] && !room; ++i)
          room = kMilliPerGpu - gpus_->used(first + i) >= g;
        if (!room) continue;
      }
      with_gpus = true;
      const Amount cpu_cap = placer_->cpu_capacity(n), memory_cap = placer_->memory_capacity(n);
      cpu_modelled |= cpu_cap > 0;
      memory_modelled |= memory_cap > 0;
      cpu_most = std::max(cpu_most, placer_->cpu_free(n));
      memory_most = std::max(memory_most, placer_->memory_free(n));
      fits = (cpu_cap == 0 || placer_->cpu_free(n) >= request.cpu_milli) &&
             (memory_cap == 0 || placer_->memory_free(n) >= request.memory_mib);
    }
    if (!fits) {
      why.kind = WaitKind::no_capacity;
      why.free_gpu_milli = free_milli;
      if (with_gpus) {
        const bool cpu_short = cpu_modelled && cpu_most < request.cpu_milli;
        why.resource = cpu_short ? Resource::cpu : Resource::memory;
        why.free = cpu_short ? cpu_most : memory_most;
      }
      if (!with_gpus) {
        why.message = "no capacity: no node has room for the job's " + shown(Resource::gpu, g) + " on one node";
      } else {
        std::string needs, most;
        if (cpu_modelled && request.cpu_milli > 0)
          needs = shown(Resource::cpu, request.cpu_milli), most = shown(Resource::cpu, cpu_most);
        if (memory_modelled && request.memory_mib > 0) {
          needs += (needs.empty() ? "" : " and ") + shown(Resource::memory, request.memory_mib);
          most += (most.empty() ? "" : " and ") + shown(Resource::memory, memory_most);
        }
        why.message = "no capacity: the job needs " + needs + " on one node with room for its GPUs" +
                      (cluster_.nodes.size() == 1 ? ", node `" + cluster_.nodes[0].name + "` has "
                                                  : ", the most such a node has is ") +
                      most + " free";
      }
      return why;
    }
  }
  why.kind = WaitKind::next_pass;
  why.free_gpu_milli = free_milli;
  why.message = "it fits now: the next scheduling pass places it, unless a stronger claim takes the room first";
  return why;
}

}  // namespace allot::runtime

#include "runtime/daemon/fragmentation_status.h"

#include <fmt/format.h>

#include <cmath>
#include <iterator>

#include "runtime/daemon/metrics.h"

namespace allot::daemon {

using api::Json;
using api::JsonArray;
using runtime::Amount;
using runtime::kMilliPerGpu;

LiveWorkload live_workload(const std::map<runtime::JobId, JobRecord>& jobs, std::size_t window) {
  LiveWorkload out;
  std::vector<runtime::TaskType> requests;
  std::size_t seen = 0;
  for (auto it = jobs.rbegin(); it != jobs.rend() && seen < window; ++it, ++seen) {
    const runtime::Resources& r = it->second.request;
    if (r.gpu_milli <= 0) continue;
    const bool whole = r.gpu_milli % kMilliPerGpu == 0;
    runtime::TaskType t;
    t.cpu_milli = r.cpu_milli;
    t.gpus = whole ? static_cast<std::uint32_t>(r.gpu_milli / kMilliPerGpu) : 1;
    t.milli_per_gpu = whole ? kMilliPerGpu : r.gpu_milli;
    t.popularity = 1;
    requests.push_back(std::move(t));
  }
  out.requests = requests.size();
  out.types = runtime::typical_workload(requests);
  if (out.types.empty()) {
    out.fallback = true;
    out.types.push_back(runtime::TaskType{0, 1, kMilliPerGpu, "", 1.0});
  }
  return out;
}

Json fragmentation_json(const runtime::FragmentationNow& f, const LiveWorkload& workload) {
  Json j;
  j.set("capacity_gpu_milli", f.capacity_milli);
  j.set("idle_gpu_milli", f.idle_milli);
  Json next;
  next.set("job", f.next_job == 0 ? Json() : Json(f.next_job));
  next.set("gpu_milli", f.next_request_milli);
  next.set("fragmented_gpu_milli", f.for_next_milli);
  j.set("next_request", std::move(next));
  Json expected;
  expected.set("fragmented_gpu_milli", static_cast<Amount>(std::llround(f.for_workload_milli)));
  expected.set("source", workload.fallback ? "default" : "history");
  expected.set("requests", static_cast<std::uint64_t>(workload.requests));
  JsonArray types;
  for (const runtime::TaskType& t : workload.types) {
    Json type;
    type.set("cpu_milli", t.cpu_milli);
    type.set("gpus", static_cast<std::int64_t>(t.gpus));
    type.set("milli_per_gpu", t.milli_per_gpu);
    type.set("popularity", t.popularity);
    types.push_back(std::move(type));
  }
  expected.set("types", std::move(types));
  j.set("expected_workload", std::move(expected));
  return j;
}

std::string render_fragmentation_metrics(const std::string& node, const runtime::FragmentationNow& f) {
  std::string out = "# HELP allot_node_gpus_idle GPU capacity of the node not handed out, in GPUs.\n";
  out += fmt::format("# TYPE allot_node_gpus_idle gauge\nallot_node_gpus_idle{{node=\"{}\"}} {}\n", node,
                     milli_text(f.idle_milli));
  out +=
      "# HELP allot_node_gpus_fragmented Idle GPU capacity that cannot be used: by the next pending request, or by "
      "the expected workload (the sum of F_n(M)), in GPUs.\n# TYPE allot_node_gpus_fragmented gauge\n";
  out += fmt::format("allot_node_gpus_fragmented{{node=\"{}\",definition=\"next_request\"}} {}\n", node,
                     milli_text(f.for_next_milli));
  out += fmt::format("allot_node_gpus_fragmented{{node=\"{}\",definition=\"expected_workload\"}} {}\n", node,
                     milli_text(static_cast<Amount>(std::llround(f.for_workload_milli))));
  return out;
}

}  // namespace allot::daemon
